#!/usr/bin/env bash
# The project's GPU device checks, in one run of under 8 minutes on a lent GPU machine (one H200):
#
#   bash tests/benchmarks/on_device.sh        # JSON into ${OUT:-tests/benchmarks/results}/
#
#   1. train_throughput_gpu: training MFU of the ~1.1B Llama-layout model in bfloat16 (a few steps).
#   2. decode_throughput_gpu: decoding tokens/s of that model against the memory-bandwidth bound, plain greedy
#      and prompt-lookup speculative decoding on the same prompts.
#   3. bf16_logits: bfloat16 logits of that model against float32.
#
# The GPU-only runs write *_gpu.json, never the full CPU+GPU results next to them. Each step has its own timeout
# and the steps share one overall budget; a failed step does not stop the others, and the script exits 1 at the
# end if any failed. Logs go to $OUT/on_device_logs/, a status summary to $OUT/on_device.json.
# CI has no GPU and never runs this; without nvidia-smi it says so and exits 0 having run nothing.
# PYTHON picks the interpreter (default: the active one, else the repository's .venv, else python3).
set -euo pipefail

START=$SECONDS
BUDGET_S=465  # the steps' share of the 8 minutes; the checks before them take seconds

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "no GPU here: nothing to run (nvidia-smi not found; these checks need an NVIDIA GPU)"
  exit 0
fi
if ! nvidia-smi -L; then
  echo "nvidia-smi is here but lists no GPU (see its error above): driver problem, nothing run" >&2
  exit 1
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}" ]] || [[ ! -x "$ROOT/.venv/bin/python" ]]; then
    PYTHON="$(command -v python || command -v python3)"
  else
    PYTHON="$ROOT/.venv/bin/python"
  fi
fi

if ! JAX_VERSION="$("$PYTHON" -c 'import jax; print(jax.__version__)')"; then
  echo "jax does not import with $PYTHON (set PYTHON to the project's interpreter)" >&2
  exit 1
fi
# Without the plugin jax quietly runs on the CPU, and every step would measure the wrong device.
if ! "$PYTHON" -c 'import importlib.util as u, sys
sys.exit(not any(u.find_spec(m) for m in ("jax_cuda12_plugin", "jax_cuda13_plugin")))'; then
  echo "jax $JAX_VERSION is installed without its CUDA plugin, so it cannot use the GPU. Install the plugin" >&2
  echo "matching this jax, then rerun:" >&2
  echo "  $PYTHON -m pip install -U \"jax[cuda12]==$JAX_VERSION\"" >&2
  exit 1
fi
if ! JAX_PLATFORMS=cuda "$PYTHON" -c 'import jax; print("jax", jax.__version__, "sees", jax.devices())'; then
  echo "jax $JAX_VERSION has a CUDA plugin but cannot open the GPU (see the error above: driver or CUDA" >&2
  echo "version mismatch?); nothing run" >&2
  exit 1
fi

OUT="${OUT:-$ROOT/tests/benchmarks/results}"
mkdir -p "$OUT/on_device_logs"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"
export PYTHONUNBUFFERED=1

failed=()
summary=()

# step NAME TIMEOUT_S COMMAND...: runs COMMAND under the smaller of its own timeout and what is left of the
# budget, logs it, and records a failure if it fails, times out, or leaves no fresh $OUT/NAME.json with a
# GPU measurement in it.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET_S - (SECONDS - START) - 10))  # 10: timeout's grace period before SIGKILL
  if ((left < 30)); then
    echo "== $name: not run, only ${left}s left of the budget"
    failed+=("$name (not run: out of time)")
    summary+=("\"$name\": {\"status\": \"not run: out of time\"}")
    return
  fi
  if ((limit > left)); then limit=$left; fi
  echo "== $name (timeout ${limit}s): $*"
  local stamp="$OUT/on_device_logs/.$name.start" t0=$SECONDS rc status
  touch "$stamp"
  set +e
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/on_device_logs/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  if ((rc == 124 || rc == 137)); then
    status="timed out after ${limit}s"
  elif ((rc != 0)); then
    status="failed (exit $rc)"
  elif [[ ! "$OUT/$name.json" -nt "$stamp" ]]; then
    status="wrote no $name.json"
  elif grep -q '"skipped": "no GPU' "$OUT/$name.json"; then
    status="measured nothing: jax saw no GPU"
  else
    status="ok"
  fi
  rm -f "$stamp"
  echo "== $name: $status in $((SECONDS - t0))s"
  [[ $status == ok ]] || failed+=("$name ($status)")
  summary+=("\"$name\": {\"status\": \"$status\", \"seconds\": $((SECONDS - t0)), \"timeout_s\": $limit}")
}

step train_throughput_gpu 210 "$PYTHON" tests/benchmarks/train_throughput.py --gpu_only --warmup 2 --steps 6 \
  --out "$OUT"
step decode_throughput_gpu 150 "$PYTHON" tests/benchmarks/decode_throughput.py --gpu_only --out "$OUT"
step bf16_logits 90 "$PYTHON" tests/benchmarks/bf16_logits.py --out "$OUT"

{
  echo "{\"jax\": \"$JAX_VERSION\", \"total_s\": $((SECONDS - START)), \"steps\": {"
  for i in "${!summary[@]}"; do
    echo "  ${summary[$i]}$([[ $i -lt $((${#summary[@]} - 1)) ]] && echo ,)"
  done
  echo "}}"
} >"$OUT/on_device.json"

echo "== done in $((SECONDS - START))s; results in $OUT"
if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all checks passed"
