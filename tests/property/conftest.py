"""Hypothesis settings for the property tests: derandomized, bounded, no example database.

The same examples run on every machine and in CI (``derandomize``), few enough to take seconds.
``HYPOTHESIS_PROFILE=dezero-deep`` draws many more (random) examples when hunting by hand.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dezero-ci", max_examples=40, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dezero-deep", max_examples=2000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dezero-ci"))
