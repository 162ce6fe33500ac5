# Convenience targets; README.md gives the two set-up commands.
PY ?= .venv/bin/python
BENCH_ENV = env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

.PHONY: venv test lint bench bench-engine bench-conv bench-train gpu-check train

venv:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[test,oracle,bench,viz,data,safetensors]'

test:
	$(PY) -m pytest -q

lint:
	$(PY) -m ruff check .

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
