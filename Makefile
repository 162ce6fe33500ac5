# Convenience targets; README.md gives the two set-up commands.
PY ?= .venv/bin/python
BENCH_ENV = env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

.PHONY: venv test test-fast lint typecheck docs dist ci bench bench-engine bench-conv bench-train gpu-check train

venv:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev,oracle]'

test:
	$(PY) -m pytest -q

test-fast:  # on every core (pytest-xdist)
	$(PY) -m pytest -q -n auto -p no:cacheprovider

lint:
	$(PY) -m ruff check .

typecheck:
	$(PY) -m mypy

# The API reference and the docs, warnings as errors; the site goes to site/.
docs:
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The wheel and the sdist in dist/, checked as .ci/run checks them.
dist:
	rm -rf dist && $(PY) -m build --outdir dist . && .venv/bin/check-wheel-contents dist/*.whl \
		&& .venv/bin/twine check --strict dist/*

# Everything CI runs; recreates .venv and .venv-floor from scratch.
ci:
	bash .ci/run

train:
	.venv/bin/dezero train

# Benchmarks unset the OpenBLAS overrides (they pick a slower kernel here); tests never do.
bench:
	$(BENCH_ENV) $(PY) benchmarks/run.py

bench-engine:
	$(BENCH_ENV) $(PY) benchmarks/bench_engine.py

bench-conv:
	$(BENCH_ENV) $(PY) benchmarks/bench_conv.py

bench-train:
	$(BENCH_ENV) $(PY) benchmarks/bench_training.py

gpu-check:
	bash benchmarks/gpu_check.sh
