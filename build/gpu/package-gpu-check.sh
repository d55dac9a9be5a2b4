#!/usr/bin/env bash
# Here (a machine with the .NET SDK): publishes the GPU check self-contained for linux-x64 and packs it with the
# TorchSharp native sources and the scripts into one archive small enough to carry to the device (limit 64 MiB).
#
#   build/gpu/package-gpu-check.sh OUT_DIR [TORCHSHARP_REPO]
#
# TORCHSHARP_REPO: a git clone (bare is fine) of dotnet/TorchSharp holding tag/commit v0.107.0 (default: the
# mirror at /work/.mirror/dotnet+TorchSharp/repo); its src/Native is archived, never committed here.
# The archive holds no libtorch: on the device, run-on-device.sh builds LibTorchSharp against the local PyTorch.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?output folder}"; repo="${2:-/work/.mirror/dotnet+TorchSharp/repo}"
mkdir -p "$out"; out="$(cd "$out" && pwd)"
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
# Self-contained, trimmed of nothing (TorchSharp uses reflection); the CPU libtorch of TorchSharp-cpu is dropped:
# the device supplies its own libtorch.
dotnet publish test/Microsoft.ML.Clip.GpuCheck -c Release -r linux-x64 --self-contained true -p:PublishTrimmed=false \
  -o "$stage/app" > "$stage/publish.log" 2>&1 || { tail -20 "$stage/publish.log" >&2; exit 1; }
rm -f "$stage"/app/libtorch*.so* "$stage"/app/libc10*.so* "$stage"/app/libgomp*.so* "$stage"/app/libLibTorchSharp.so \
  "$stage"/app/libjitbackend_test.so "$stage"/app/libaoti_custom_ops.so "$stage"/app/libnnapi_backend.so "$stage"/app/libbackend_with_compiler.so "$stage"/app/libtorchbind_test.so
rm -rf "$stage/app/runtimes/linux-x64/native" "$stage/app/cpu"
git -C "$repo" archive HEAD src/Native | tar -x -C "$stage"
cp build/gpu/build-native.sh build/gpu/run-on-device.sh build/gpu/vit_b32_torch.py "$stage/"
tar -C "$stage" -cJf "$out/gpu-check.tar.xz" app src build-native.sh run-on-device.sh vit_b32_torch.py
echo "{\"package\":\"$out/gpu-check.tar.xz\",\"bytes\":$(stat -c %s "$out/gpu-check.tar.xz")}"
