#!/usr/bin/env bash
# The container's command: the served jar, on the CPU libtorch bundled in it, or, where PATCHBAY_TORCH names a
# Python with a CUDA build of PyTorch (the GPU image), on that libtorch (the same setup as ./patchbay).
set -euo pipefail
gpu_opts=""
if [ -n "${PATCHBAY_TORCH:-}" ]; then
  # shellcheck source=../../tools/gpu/torch-env.sh
  source /opt/patchbay/torch-env.sh
  use_installed_torch
fi
# shellcheck disable=SC2086
# deploy/jvm.options: the heap goes back to the system when idle; PATCHBAY_JAVA_OPTS, after it, may override.
exec java @/opt/patchbay/jvm.options ${PATCHBAY_JAVA_OPTS:-} $gpu_opts -Dai.djl.offline=true \
  -jar /opt/patchbay/patchbay.jar "$@"
