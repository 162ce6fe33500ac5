#!/usr/bin/env bash
# One command on a CUDA machine with CuPy and PyTorch installed: the GPU tests, then the GPU
# benchmark. Everything goes to one results file (default: benchmarks/results/gpu_check.txt,
# or $OUT/gpu_check.txt when OUT is set).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
out_dir=${OUT:-benchmarks/results}
mkdir -p "$out_dir"
report="$out_dir/gpu_check.txt"
{
    echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    echo "== versions"; $PY -c "import numpy, cupy; print('numpy', numpy.__version__, 'cupy', cupy.__version__)"
    echo "== GPU tests (pytest -m gpu)"
    $PY -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tail -n 40
    echo "pytest exit: ${PIPESTATUS[0]}"
    echo "== GPU benchmark"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY benchmarks/bench_gpu.py --out "$out_dir/gpu.json"
} 2>&1 | tee "$report"
echo "results in $report"
