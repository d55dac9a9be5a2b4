#!/usr/bin/env bash
# On the GPU machine (no .NET, no network; python3 with PyTorch, CMake, a C++ compiler): unpacks the package made by
# package-gpu-check.sh, builds LibTorchSharp against that PyTorch's libtorch, runs the GPU check and the plain-PyTorch
# ViT-B-32 comparison. JSON lines on standard output; everything also lands in $OUT (or ./gpu-out).
#
#   bash run-on-device.sh PACKAGE.tar.xz
set -uo pipefail
package="${1:?package}"; out="${OUT:-$PWD/gpu-out}"; mkdir -p "$out"
work="$(mktemp -d)"; tar -C "$work" -xJf "$package"
torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
torch_lib="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/{"gpu":"/; s/$/"}/' | tee "$out/gpu.txt"
bash "$work/build-native.sh" --source "$work/src/Native" --torch "$torch_prefix" --out "$work/app" 2>&1 | tee "$out/native-build.log" || exit 1
# TorchSharp loads libLibTorchSharp.so from its folder and libtorch through the loader's path.
export LD_LIBRARY_PATH="$work/app:$torch_lib:${LD_LIBRARY_PATH:-}"
"$work/app/Microsoft.ML.Clip.GpuCheck" --device cuda --bench-steps 20 --bench-batch 256 2>&1 | tee "$out/gpu-check.jsonl"
status=${PIPESTATUS[0]}
python3 "$work/vit_b32_torch.py" --batch 256 --steps 20 2>&1 | tee "$out/pytorch-vit-b32.jsonl"
exit $status
