#!/usr/bin/env bash
# Builds TorchSharp 0.107's native library (libLibTorchSharp.so) against a libtorch given by path, e.g. the one
# inside a PyTorch installation (CUDA or CPU), for machines where no TorchSharp backend package is served.
#
#   build/gpu/build-native.sh --source DIR --torch DIR --out DIR [--jobs N]
#
#   --source  TorchSharp's src/Native folder at tag v0.107.0 (never committed here: extract it with
#             `git -C <TorchSharp clone> archive v0.107.0 src/Native | tar -x -C <scratch>`)
#   --torch   a folder holding TorchConfig.cmake, or a CMake prefix that does
#             (python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' prints one)
#   --out     where libLibTorchSharp.so is written
#
# TorchSharp's CMake turns warnings into errors (add_definitions(-Werror)); a libtorch other than the one the sources
# were written for warns about deprecations, so this build compiles a scratch copy of the sources with that line
# removed (errors stay errors). With KEEP_GOING=1 it compiles every file and lists all errors. Prints one JSON line.
set -euo pipefail
source_dir="" torch_dir="" out_dir="" jobs="$(nproc)"
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir="$2"; shift 2 ;;
    --torch) torch_dir="$2"; shift 2 ;;
    --out) out_dir="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -f "$source_dir/LibTorchSharp/THSTorch.cpp" ] || { echo "--source must be TorchSharp's src/Native folder" >&2; exit 2; }
config="$(find -L "$torch_dir" -name TorchConfig.cmake -print -quit 2>/dev/null || true)"
[ -n "$config" ] || { echo "no TorchConfig.cmake under --torch $torch_dir" >&2; exit 2; }
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -r "$source_dir" "$work/src"
sed -i 's/add_definitions(-Werror)/# -Werror removed by build\/gpu\/build-native.sh/' "$work/src/CMakeLists.txt"
source_dir="$work/src"
# TorchSharp's own build writes a version stamp beside the sources; an empty one is what it writes without git.
echo 'static char sccsid[] __attribute__((used)) = "@(#)ClipMlNet build/gpu";' > "$work/version.c"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
start=$(date +%s)
cmake -S "$source_dir" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DLIBTORCH_PATH="$(dirname "$config")" -DTorch_DIR="$(dirname "$config")" \
  -DVERSION_FILE_PATH="$work/version.c" \
  -DCMAKE_INSTALL_PREFIX="$out_dir" > "$work/configure.log" 2>&1 || { tail -40 "$work/configure.log" >&2; exit 1; }
keep=(); [ "${KEEP_GOING:-0}" = 1 ] && keep=(-- -k 0)
if ! cmake --build "$work/build" -j "$jobs" "${keep[@]}" > "$work/build.log" 2>&1; then
  grep -E "error:" "$work/build.log" | sed 's/^.*LibTorchSharp\///' | sort -u | head -60 >&2
  echo "{\"native_build\":\"failed\",\"seconds\":$(( $(date +%s) - start )),\"errors\":$(grep -c 'error:' "$work/build.log")}"
  exit 1
fi
cp "$work/build/LibTorchSharp/libLibTorchSharp.so" "$out_dir/"
seconds=$(( $(date +%s) - start ))
torch_version="$(grep -ho 'PACKAGE_VERSION "[^"]*"' "$(dirname "$config")"/TorchConfigVersion.cmake 2>/dev/null | head -1 | cut -d'"' -f2 || true)"
echo "{\"native_build\":\"ok\",\"seconds\":$seconds,\"torch_config\":\"$config\",\"torch_version\":\"${torch_version:-unknown}\",\"library\":\"$out_dir/libLibTorchSharp.so\",\"bytes\":$(stat -c %s "$out_dir/libLibTorchSharp.so")}"
