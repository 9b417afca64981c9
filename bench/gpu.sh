#!/usr/bin/env bash
# Runs the Kiln CUDA bench on a machine with an NVIDIA GPU and driver (no Node needed):
#   bench/gpu.sh <bundle-dir> [--only <substring>]
# The bundle comes from `node bench/gpu/prepare.mjs <bundle-dir>` on a machine with the Kiln
# sources; it carries its own node binary, the kiln_cuda addon, run.mjs and the cases.
# Exit status: 0 when every case matches the interpreter's expected outputs.
set -euo pipefail
dir="${1:?usage: bench/gpu.sh <bundle-dir> [--only <substring>]}"
shift
dir="$(cd "$dir" && pwd)"
for f in node run.mjs kiln_cuda.node cases/index.json; do
  [[ -e "$dir/$f" ]] || { echo "gpu.sh: $dir/$f is missing; prepare the bundle with bench/gpu/prepare.mjs" >&2; exit 2; }
done
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader || true
fi
# The PyTorch peer (cuBLAS f16 GEMM, eager CNN training step), where PyTorch is installed.
if [[ -e "$dir/torch_peer.py" ]] && python3 -c 'import torch' >/dev/null 2>&1; then
  python3 "$dir/torch_peer.py" > "$dir/torch.json" || echo "gpu.sh: the PyTorch peer failed; ratios vs PyTorch are omitted" >&2
else
  echo "gpu.sh: PyTorch not installed (python3 -c 'import torch' fails); ratios vs PyTorch are omitted" >&2
fi
export KILN_CUDA_ADDON="$dir/kiln_cuda.node"
exec "$dir/node" "$dir/run.mjs" "$dir" "$@"
