#!/bin/bash
# The GPU checks of the speed issue, as one prepared command for a session lent a GPU.
#
# Run from the repository root on the GPU machine:
#     bash benchmarks/gpu_check.sh
# It needs python3 with a CUDA build of torch, sympy, jinja2, numpy, scipy, tqdm and
# pytest (the project's device image has them all) and takes the package from this
# checkout (PYTHONPATH), so nothing is installed. It writes gpu.txt (the device),
# test_cuda.log (tests/test_cuda.py: both derivative paths, the NTK diagonals, NTK
# training and compile=True against the CPU) and speed-<device>.log / .json
# (benchmarks/speed.py on the GPU) to $OUT, or ./gpu_out. Each stage has a time limit,
# and the logs are written as it goes, so a stage cut short still leaves its output.
#
# DEVICE=cpu runs the same plumbing on a CPU (the CUDA tests then skip); arguments are
# passed on to speed.py, e.g. `DEVICE=cpu bash benchmarks/gpu_check.sh --quick`.
set -u -o pipefail
out=${OUT:-gpu_out}
device=${DEVICE:-cuda}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
status=0
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    python3 -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
} > "$out/gpu.txt"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 \
    | tee "$out/test_cuda.log" || status=1
timeout 420 python3 benchmarks/speed.py --device "$device" --skip import \
    --out "$out/speed-$device.json" "$@" 2>&1 | tee "$out/speed-$device.log" || status=1
exit $status
