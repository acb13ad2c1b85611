#!/usr/bin/env bash
# Compiles DJL's PyTorch JNI library (libdjl_torch.so) against the PyTorch installed for python3, for a machine
# whose PyTorch has no JNI in DJL's pytorch-jni jar (DJL 0.35.1 ships one for PyTorch 2.7.1 only).
#
#   tools/gpu/build-jni.sh DJL_SOURCES JNI_INCLUDE OUTPUT
#
# DJL_SOURCES: a checkout of github.com/deepjavalibrary/djl at tag v0.35.1 (only engines/pytorch/pytorch-native,
#   api/src/main/native and the generated header include/ai_djl_pytorch_jni_PyTorchLibrary.h are read; make the
#   header with: javac -h include -d classes engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java).
#   Nothing of DJL's is committed here.
# JNI_INCLUDE: a JDK's include directory (jni.h, linux/jni_md.h).
# OUTPUT: where the library goes; DJL looks for <DJL_CACHE_DIR>/pytorch/<version>-<flavor>-linux-x86_64/0.35.1-libdjl_torch.so.
set -euo pipefail
djl=$1 jni=$2 output=$3
read -r torch abi < <(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI))')
src="$djl/engines/pytorch/pytorch-native/src/main/native"
build=$(mktemp -d)
flags=(-O2 -std=c++17 -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$djl/include" -I"$jni" -I"$jni/linux"
       -I"$djl/api/src/main/native" -I"$torch/include" -I"$torch/include/torch/csrc/api/include")
# One compiler per source file: the torch headers make each take tens of seconds.
ls "$src"/*.cc | xargs -P "$(nproc)" -I{} sh -c 'g++ "$@" -c {} -o '"$build"'/$(basename {} .cc).o' _ "${flags[@]}"
mkdir -p "$(dirname "$output")"
# --no-as-needed: the CUDA kernels register themselves when libtorch_cuda loads; nothing here names a symbol of it.
g++ -shared -o "$output" "$build"/*.o -L"$torch/lib" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 \
  $( [ -f "$torch/lib/libtorch_cuda.so" ] && echo "-ltorch_cuda -lc10_cuda" ) -Wl,--as-needed -Wl,-rpath,"$torch/lib"
echo "built $output against $torch"
