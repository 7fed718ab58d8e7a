#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and this repository checked out: the Pallas recurrence
# kernels (Triton) tested against XLA, timed against XLA, and the main experiment run both
# ways and compared. About 8-9 minutes on an H200; every step prints its time.
#
#   bash experiments/gpu_check.sh     # installs only if JAX does not already see a GPU
#                                     # (GPU_CHECK_INSTALL=1: always, 0: never)
#
# Outputs go to runs/gpu_check-<time>/ (override with GPU_CHECK_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
JAX_VERSION=${JAX_VERSION:-0.10.2} # the version the CPU suite runs with
OUT=${GPU_CHECK_OUT:-runs/gpu_check-$(date +%Y%m%d-%H%M%S)}
# Benchmark epochs per seed count. What is compared is seed-epochs/s, which needs the
# training time to dwarf the per-chunk overheads, not 1000 epochs: XLA's GRU took ~430 s
# for 16,384 seeds x 1000 epochs on an H200, so 16,384 seeds run 40 epochs here (~17 s).
EPOCHS_1024=${EPOCHS_1024:-200}
EPOCHS_16384=${EPOCHS_16384:-40}

declare -a TIMES=()
FAILED=0
step() { # step NAME COMMAND...: run it, print and remember its wall time; a failure is
    # remembered and the later steps still run (a GPU session is too dear to stop at one)
    local name=$1 t0=$SECONDS status=ok
    shift
    echo "=== $name" >&2
    if ! "$@"; then
        status=FAILED
        FAILED=1
    fi
    TIMES+=("$(printf '%5d s  %-6s %s' $((SECONDS - t0)) "$status" "$name")")
    echo "=== $name: $((SECONDS - t0)) s, $status" >&2
}

install() {
    "$PYTHON" -m pip install -q -e ".[dev]"
    "$PYTHON" -m pip install -q -U "jax[cuda12]==${JAX_VERSION}"
}

check_gpu() {
    "$PYTHON" -c 'import jax; print(jax.__version__, jax.devices()); assert jax.default_backend() == "gpu"'
}

mkdir -p "$OUT"
if [[ -z ${GPU_CHECK_INSTALL:-} ]]; then # a machine whose JAX already sees a GPU keeps its packages
    GPU_CHECK_INSTALL=1
    if "$PYTHON" -c 'import jax, rnnjax; assert jax.default_backend() == "gpu"' 2>/dev/null; then
        GPU_CHECK_INSTALL=0
    fi
fi
if [[ $GPU_CHECK_INSTALL != 0 ]]; then
    step "install .[dev] and jax[cuda12]==$JAX_VERSION" install
fi
step "JAX sees the GPU" check_gpu
if ((FAILED)); then
    exit 1
fi

# Correctness with the real Triton kernels (hidden_sequence picks them when lowering for a
# GPU). Float32 matmuls at full precision on both sides: at the default precision Triton's
# dots (and XLA's on recent GPUs) round their inputs to TF32, ~1e-3 relative, differently
# ordered in each path, which the tests' 1e-5 tolerances are not meant for.
step "pytest tests/core/kernels on the GPU" env JAX_DEFAULT_MATMUL_PRECISION=highest \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/core/kernels

# Speed, at the default (TF32) precision: one benchmark folder per kernel and seed count.
for kernel in xla pallas; do
    for seeds in 1024 16384; do
        epochs_var=EPOCHS_$seeds
        step "benchmark $kernel, $seeds seeds x ${!epochs_var} epochs" \
            "$PYTHON" experiments/benchmark.py --models gru,lstm --seeds "$seeds" --epochs "${!epochs_var}" \
            --naive-epochs 3 --kernel "$kernel" --out "$OUT/bench-$kernel-$seeds"
    done
done

# The main experiment both ways, at full float32 precision so that the two paths differ only
# by rounding order; 1000 epochs of SGD grow that to ~1e-6 relative on the CPU.
for kernel in xla pallas; do
    step "gru_vs_lstm --kernel $kernel --seeds 16 (1000 epochs)" env JAX_DEFAULT_MATMUL_PRECISION=highest \
        "$PYTHON" experiments/gru_vs_lstm.py --seeds 16 --kernel "$kernel" --out "$OUT/gru_vs_lstm-$kernel" \
        >"$OUT/gru_vs_lstm-$kernel.log"
    tail -n 4 "$OUT/gru_vs_lstm-$kernel.log" || true
done

compare() {
    "$PYTHON" - "$OUT" <<'EOF'
import csv
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1])
print("benchmark: seed-epochs/s (train only), pallas / xla")
speed = {}
for path in sorted(out.glob("bench-*/benchmark.csv")):
    for row in csv.DictReader(path.open()):
        if row["devices"] != "1":
            continue
        speed[row["kernel"], row["model"], int(row["seeds"])] = float(row["seed_epochs_per_s"]), float(row["compile_s"])
for model, seeds in sorted({(m, s) for k, m, s in speed if k == "xla" and ("pallas", m, s) in speed}):
    (x, cx), (p, cp) = speed["xla", model, seeds], speed["pallas", model, seeds]
    print(f"  {model:5s} {seeds:6d} seeds: xla {x:10.0f}, pallas {p:10.0f}  ({p / x:.2f}x); compile {cx:.1f} s vs {cp:.1f} s")

rtol, worst = 1e-4, 0.0
x_rows = list(csv.DictReader((out / "gru_vs_lstm-xla" / "metrics.csv").open()))
p_rows = list(csv.DictReader((out / "gru_vs_lstm-pallas" / "metrics.csv").open()))
assert [(r["model"], r["seed"]) for r in x_rows] == [(r["model"], r["seed"]) for r in p_rows]
print(f"gru_vs_lstm, 16 seeds: max relative difference pallas vs xla (allowed {rtol:g})")
for col in ("final_loss", "final_val_loss", "best_val_loss", "forecast_rmse", "amplitude_ratio"):
    x = np.array([float(r[col]) for r in x_rows])
    p = np.array([float(r[col]) for r in p_rows])
    rel = float(np.nanmax(np.abs(p - x) / np.maximum(np.abs(x), 1e-30)))
    worst = max(worst, rel)
    print(f"  {col:16s} {rel:.2e}")
same_divergence = [r["diverged_epoch"] for r in x_rows] == [r["diverged_epoch"] for r in p_rows]
print(f"  diverged_epoch   {'equal' if same_divergence else 'DIFFERENT'}")
hx, hp = np.load(out / "gru_vs_lstm-xla" / "history.npz"), np.load(out / "gru_vs_lstm-pallas" / "history.npz")
for key in hx.files:
    rel = float(np.nanmax(np.abs(hp[key] - hx[key]) / np.maximum(np.abs(hx[key]), 1e-30)))
    worst = max(worst, rel)
    print(f"  {key:16s} {rel:.2e}  (every epoch)")
if worst > rtol or not same_divergence:
    sys.exit(f"pallas and xla differ beyond rtol {rtol:g}")
EOF
}
step "compare pallas with xla" compare

echo "=== step times (outputs in $OUT)"
printf '%s\n' "${TIMES[@]}"
exit "$FAILED"
