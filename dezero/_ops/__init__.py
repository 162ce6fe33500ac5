"""Implementations of the differentiable functions, grouped by family.

``dezero.functions`` is the public facade; import from there.
"""
