#!/usr/bin/env bash
# The GPU proof kit, dry: launch/gpu/pack.sh gathers the kit (at most 50 MiB) from this build,
# and launch/gpu/check.sh --cpu runs end to end against this build with the GPU steps skipped
# (it says which). Exit 77 (skipped) where the build has no ninja dependency log to read.
#   usage: gpu_kit.sh SATUNET_BINARY SOURCE_DIR
set -euo pipefail

binary=$(realpath "${1:?usage: gpu_kit.sh SATUNET_BINARY SOURCE_DIR}")
source_dir=$(realpath "${2:?usage: gpu_kit.sh SATUNET_BINARY SOURCE_DIR}")
build_dir=$(dirname "$binary")
cd "$source_dir"
if [[ ! -f $build_dir/.ninja_deps ]]; then
  echo "SKIPPED: $build_dir was not built with ninja: no dependency log to take the headers from"
  exit 77
fi

echo "-- launch/gpu/pack.sh"
SATUNET_BUILD_DIR=$build_dir launch/gpu/pack.sh
kit=build/gpu-kit/satunet-gpu-kit.tar.xz
[[ -f $kit ]] || { echo "FAILED: no $kit" >&2; exit 1; }

echo "-- launch/gpu/check.sh --cpu"
report_dir=$build_dir/gpu-check
SATUNET_GPU_BUILD_DIR=$build_dir OUT=$report_dir launch/gpu/check.sh --cpu
for expected in "kit lists" "GPU tests: " "all-reduce: one rank moves nothing" "training fp32" \
  "predict fp32" "every step passed"; do
  if ! grep -q "$expected" "$report_dir/gpu-report.txt"; then
    echo "FAILED: the report has no '$expected'" >&2
    exit 1
  fi
done
echo "gpu kit: packed and checked end to end in CPU mode"
