#!/usr/bin/env bash
# Prepares gpu-carry/ (ignored by git) for tools/gpu/check.sh on a machine without Java or network: a jlink
# runtime and the research jar without its CPU natives (xz-compressed to fit a 64 MiB transfer), the bundled model,
# DJL's v0.35.1 native sources with the generated JNI header, and this JDK's JNI headers.
#
#   tools/gpu/make-carry.sh DJL_CHECKOUT     (a clone of github.com/deepjavalibrary/djl; tag v0.35.1 is used)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
djl=$1
carry="$root/gpu-carry"
rm -rf "$carry" && mkdir -p "$carry"
work=$(mktemp -d)
# jdk.jfr: the check records where the host's time goes on the GPU (Flight Recorder and its jfr tool).
jlink --add-modules java.base,java.logging,java.management,jdk.management,java.naming,jdk.unsupported,jdk.jfr \
  --strip-debug --no-header-files --no-man-pages --compress=0 --output "$work/rt0"
cp "$root/research/target/patchbay-research.jar" "$work/full.jar"
# The GPU brings its own libtorch; other platforms' natives are dead weight.
zip -q -d "$work/full.jar" 'pytorch/*' 'jnilib/*' 'native/lib/linux-aarch64/*' 'native/lib/win-x86_64/*' \
  'native/lib/osx-*' 'META-INF/native/*tcnative*' 'com/sun/jna/[a-ks-z]*/*' 'com/sun/jna/linux-[a-wy]*/*' \
  'com/sun/jna/linux-x86/*' > /dev/null || true
(mkdir "$work/x" && cd "$work/x" && unzip -q ../full.jar && zip -q -0 -r "$work/stored.jar" .)
tar -C "$work" -cf - rt0 stored.jar | xz -T0 -6 > "$carry/bundle.tar.xz"
cp -r "$root/models/patchbay-tiny" "$carry/model"
mkdir -p "$carry/djl"
git -C "$djl" archive v0.35.1 engines/pytorch/pytorch-native/src/main/native api/src/main/native \
  engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java | tar -x -C "$carry/djl"
javac -h "$carry/djl/include" -d "$work/classes" \
  "$carry/djl/engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java"
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
cp -r "$java_home/include" "$carry/jni-include"
du -sh "$carry"
