#!/usr/bin/env bash
# One command on a CUDA machine with CuPy and PyTorch installed: the GPU benchmark, then the
# GPU tests. Everything goes to one results file (default: benchmarks/results/gpu_check.txt,
# or $OUT/gpu_check.txt when OUT is set); the full pytest log lands beside it.
#
#   PY=python3 PYTEST_ARGS="-n 8" bash benchmarks/gpu_check.sh
#
# PY picks the interpreter (default: python, else python3); PYTEST_ARGS is passed to pytest
# (e.g. "-n 8" with pytest-xdist: CuPy compiles each kernel once, in parallel that is faster);
# TEST_TIMEOUT caps the test run in seconds (default 900). The repo is put on PYTHONPATH, so
# an uninstalled checkout works too.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$(command -v python || command -v python3)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out_dir=${OUT:-benchmarks/results}
mkdir -p "$out_dir"
report="$out_dir/gpu_check.txt"
# The report names the folder as given ($OUT, or the repository-relative default), never the
# absolute path of the machine that made it: it is committed.
shown_dir=${OUT:+\$OUT}
shown_dir=${shown_dir:-$out_dir}
{
    echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    echo "== versions"
    $PY -c "import sys, numpy, cupy; print('python', sys.version.split()[0], 'numpy', \
numpy.__version__, 'cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
    # paths relative to the repository: the report is committed
    $PY -c "import os, dezero; from dezero import cuda; print('dezero', dezero.__version__, \
'from', os.path.relpath(dezero.__file__), 'gpu_enable', cuda.gpu_enable)"
    echo "== GPU benchmark"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY benchmarks/bench_gpu.py --out "$out_dir/gpu.json"
    echo "== GPU tests (pytest -m gpu ${PYTEST_ARGS:-})"
    start=$SECONDS
    # shellcheck disable=SC2086
    timeout "${TEST_TIMEOUT:-900}" $PY -m pytest -q -m gpu -p no:cacheprovider ${PYTEST_ARGS:-} \
        >"$out_dir/gpu_pytest.log" 2>&1
    status=$?
    grep -E "^(FAILED|ERROR)" "$out_dir/gpu_pytest.log" | head -n 60
    tail -n 3 "$out_dir/gpu_pytest.log"
    echo "pytest exit: $status after $((SECONDS - start)) s (full log: $out_dir/gpu_pytest.log)"
} 2>&1 | sed "s|$out_dir|$shown_dir|g" | tee "$report"
echo "results in $report"
