#!/usr/bin/env bash
# Every CUDA check and benchmark in one command, for the first machine with a GPU:
#   bash benchmarks/gpu.sh            (from anywhere; about 3-5 minutes on one GPU)
# Runs, each under its own time limit, skipping gracefully where a tool is missing:
#   parity      pytest: the renderer (and camera profile) on CPU and CUDA agree (tests named *cuda*)
#   render      benchmarks/render.py: images/s on CPU (1 thread, batch 8) and CUDA (batch 64)
#   features    benchmarks/features.py: the Beam VGG-16 features stage vs a bare Keras loop (TF's devices)
#   fit         benchmarks/fit.py --device cuda: slider fit of two 512 px pairs
#   evaluate    benchmarks/evaluate.py --small: the evaluate job, and its plain functions on CPU and CUDA
# and prints one table: check, status (ok / FAILED rc / TIMEOUT / skipped), seconds, headline figure.
# Full logs go to $GPU_LOGS (default: a new temporary folder, printed at the end).
# Without a CUDA device (or without torch) it says so and exits 0.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "benchmarks/gpu.sh: no CUDA device visible to torch (torch.cuda.is_available() is False); nothing to measure."
    exit 0
fi
LOGS=${GPU_LOGS:-$(mktemp -d -t photoedit-gpu-XXXXXX)}
mkdir -p "$LOGS"
GPU_NAME=$("$PY" -c "import torch; print(torch.cuda.get_device_name())" 2>/dev/null)
ROWS=()

# run NAME LIMIT_S PATTERN CMD...: run CMD under `timeout`, log it, keep the last output line matching PATTERN.
run() {
    local name=$1 limit=$2 pattern=$3
    shift 3
    local log="$LOGS/$name.log" start end rc status figure
    start=$(date +%s)
    timeout "$limit" "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    case $rc in
        0) status=ok ;;
        124|137) status=TIMEOUT ;;
        *) status="FAILED $rc" ;;
    esac
    figure=$(grep -E "$pattern" "$log" | tail -n 1 | tr -s ' ' | cut -c1-110)
    ROWS+=("$(printf '%-9s | %-9s | %5s | %s' "$name" "$status" "$((end - start))" "${figure:-(see $log)}")")
    echo "[$name] $status after $((end - start)) s"
}

skip() {
    ROWS+=("$(printf '%-9s | %-9s | %5s | %s' "$1" skipped - "$2")")
    echo "[$1] skipped: $2"
}

echo "photoedit CUDA checks on $GPU_NAME; logs in $LOGS"
run parity 50 "passed|failed|error" "$PY" -m pytest -q -p no:cacheprovider -k cuda \
    tests/rendering/test_renderer.py tests/rendering/test_camera_profile.py
run render 50 "photoedit cuda" "$PY" benchmarks/render.py --n 256 --repeats 3 --rt-runs 1
if "$PY" -c "import tensorflow" 2>/dev/null; then
    "$PY" -c "import tensorflow as tf; print('TF GPUs:', tf.config.list_physical_devices('GPU'))" >"$LOGS/tf_devices.log" 2>&1
    run features 50 "beam|bare|ratio" "$PY" benchmarks/features.py --images 64 --batch-size 16
else
    skip features "tensorflow not importable"
fi
run fit 60 "^cuda:" "$PY" benchmarks/fit.py --device cuda --pairs 2 --size 512
run evaluate 80 "cuda|CUDA" "$PY" benchmarks/evaluate.py --small

echo
echo "photoedit CUDA checks, $GPU_NAME ($(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-9s | %-9s | %5s | %s\n' check status s "headline (last matching line of the log)"
printf '%s\n' "----------+-----------+-------+------------------------------------------------------------"
printf '%s\n' "${ROWS[@]}"
[ -s "$LOGS/tf_devices.log" ] && echo "features ran with $(tail -n 1 "$LOGS/tf_devices.log")"
echo "logs: $LOGS"
exit 0
