# Sourced by the launcher (./patchbay) and the container's entrypoint: defines use_installed_torch, which sets
# gpu_opts (JVM options) and exports DJL's variables.
# Points DJL at the libtorch of the PyTorch that $PATCHBAY_TORCH imports: its library path, version and CUDA flavour,
# a DJL cache of its own (DJL's tokenizer cache mixes CPU and GPU otherwise), torch's own CUDA runtime for JNA under
# the name DJL asks for, and DJL's JNI for that version, which must have been built (tools/gpu/build-jni.sh).
use_installed_torch() {
  local info torch_lib version cuda site
  if ! info=$("$PATCHBAY_TORCH" -c 'import os, torch
print(os.path.join(os.path.dirname(torch.__file__), "lib"), torch.__version__.split("+")[0],
      (torch.version.cuda or "cpu").replace(".", ""), os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null); then
    echo "patchbay: PATCHBAY_TORCH=$PATCHBAY_TORCH cannot import torch; install PyTorch for it or unset PATCHBAY_TORCH" >&2
    exit 2
  fi
  read -r torch_lib version cuda site <<< "$info"
  local flavor="cpu"
  [ "$cuda" != cpu ] && flavor="cu$cuda"
  export PYTORCH_LIBRARY_PATH="$torch_lib" PYTORCH_VERSION="$version" PYTORCH_FLAVOR="$flavor"
  export DJL_CACHE_DIR="${DJL_CACHE_DIR:-$HOME/.djl.ai-$flavor}"
  local jni="$DJL_CACHE_DIR/pytorch/$version-$flavor-linux-x86_64/0.35.1-libdjl_torch.so"
  if [ "$version" != 2.7.1 ] && [ ! -f "$jni" ]; then
    echo "patchbay: no DJL JNI for PyTorch $version ($flavor): DJL 0.35.1 ships one for 2.7.1 only. Build it with" >&2
    echo "  tools/gpu/build-jni.sh <a djl checkout at tag v0.35.1> <a JDK's include directory> $jni" >&2
    exit 2
  fi
  local cudart
  cudart=$(find "$site/nvidia" -name 'libcudart.so*' 2>/dev/null | head -1)
  if [ -n "$cudart" ]; then
    mkdir -p "$DJL_CACHE_DIR/cudart"
    ln -sf "$cudart" "$DJL_CACHE_DIR/cudart/libcudart.so"
    gpu_opts="-Djna.library.path=$DJL_CACHE_DIR/cudart"
  fi
}
