#!/bin/bash
# The GPU checks of the speed issue, as one prepared command for a session lent a GPU.
#
# Run from the repository root on the GPU machine:
#     bash benchmarks/gpu_check.sh
# It needs python3 with a CUDA build of torch, sympy, jinja2, numpy, scipy, tqdm and
# pytest (the project's device image has them all) and takes the package from this
# checkout (PYTHONPATH), so nothing is installed. It writes gpu.txt (the device),
# test_cuda.log (tests/test_cuda.py: both derivative paths, the NTK diagonals and NTK
# training against the CPU; compile=True and compile="reduce-overhead" against eager
# training; the refusal of per-term gradients under CUDA graphs, and training with it
# lifted, to see whether the run's copies suffice) and speed-<device>.log / .json
# (benchmarks/speed.py on the GPU) and profile-<variant>-<device>.log (torch.profiler
# and cProfile of the hand-written, default and compile="reduce-overhead" Poisson
# steps, with kernel launches per step) to $OUT, or ./gpu_out. Each stage has a time
# limit, and the logs are written as it goes, so a stage cut short still leaves its output.
# PROFILES names other variants to profile (speed.py --profile's choices; "" for none).
# After the tests, stacked-<device>.log / .json: benchmarks/stacked_calls.py, the stacked
# conditions against one call per condition, on the GPU (2,000 points; STACKED=0 skips).
#
# The stage limits (TEST_LIMIT, 90 s; STACKED_LIMIT, 100 s; SPEED_LIMIT, 270 s;
# PROFILE_LIMIT, 40 s for each profile) add up to 580 s, so that one run fits in one
# device call (10 minutes at most). At 270 s speed.py's last section, scaling, is likely
# cut short (the timings below suggest about 350 s for all of it); a second call with
# `--skip import step ntk adaptive memory` measures it. A 15-minute device lease (a
# machine took 33 s to start here) holds one full run. On an H200 (2026-11-30; the device tool's wall
# times) the tests and the step section of speed.py, before its compile="reduce-overhead"
# variant was added, took 114 s (the tests 33 s of it), the other sections 226 s, and
# the tests, the step section with that variant and the three profiles 183 s. Arguments
# narrow a rerun, e.g. `--skip import ntk adaptive memory scaling` (they replace the
# script's own `--skip import`). speed.py writes its JSON after each measurement, in the
# order step, ntk, adaptive, memory, scaling: a cut leaves the sections before it.
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
timeout "${TEST_LIMIT:-90}" python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 \
    | tee "$out/test_cuda.log" || status=1
if [ "${STACKED:-1}" != 0 ]; then
    timeout "${STACKED_LIMIT:-100}" python3 benchmarks/stacked_calls.py --device "$device" \
        --sizes large --rounds 5 --steps 40 --out "$out/stacked-$device.json" 2>&1 \
        | tee "$out/stacked-$device.log" || status=1
fi
timeout "${SPEED_LIMIT:-270}" python3 benchmarks/speed.py --device "$device" --skip import \
    --out "$out/speed-$device.json" "$@" 2>&1 | tee "$out/speed-$device.log" || status=1
for variant in ${PROFILES-hand auto graphed}; do
    timeout "${PROFILE_LIMIT:-40}" python3 benchmarks/speed.py --device "$device" \
        --profile "$variant" > "$out/profile-$variant-$device.log" 2>&1 || status=1
done
exit $status
