#!/usr/bin/env bash
# The GPU proof kit, dry: launch/gpu/pack.sh gathers the kit from this build (xz's fastest
# preset) and checks it against the build's dependency log, link lines and ldd;
# launch/gpu/check.sh --cpu then, in a mount namespace of its own, unpacks it into a prefix under
# the build, hides this system's copies of the kit's packages, configures satunet against the
# prefix in a build directory of its own, compiles the sources without LibTorch that read the
# kit's headers, links and loads every kit library the build links, and runs its steps end to
# end (GPU steps skipped) with this build's programs loading the kit's libraries. A file the kit
# lacks fails here. Exit 77 (skipped) where the build has no ninja dependency log to read, or
# where no mount namespace can be made (not root).
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
if ! unshare --mount --propagation private true 2>/dev/null; then
  echo "SKIPPED: no mount namespace here (unshare --mount needs root): the dry run cannot hide" \
    "this system's copies of the kit"
  exit 77
fi
started=$SECONDS

echo "-- launch/gpu/pack.sh"
# xz's fastest preset: what is packed and checked is the same, the size limit is the real pack's.
SATUNET_BUILD_DIR=$build_dir SATUNET_PACK_NO_SETUP=1 SATUNET_PACK_XZ_PRESET=-0 launch/gpu/pack.sh
kit=build/gpu-kit/satunet-gpu-kit.tar.xz
[[ -f $kit ]] || { echo "FAILED: no $kit" >&2; exit 1; }
packed=$SECONDS

echo "-- launch/gpu/check.sh --cpu"
report_dir=$build_dir/gpu-check
SATUNET_GPU_BUILD_DIR=$build_dir/gpu-kit-dry SATUNET_GPU_PROGRAMS=$build_dir OUT=$report_dir \
  launch/gpu/check.sh --cpu
for expected in "kit: unpacked" "kit: hid" "Found Boost: .*kit-prefix.*Boost-1.74" \
  "kit: compiling" "kit: linked and ran" "GPU tests: " "all-reduce: one rank moves nothing" \
  "training fp32" "predict fp32" "every step passed"; do
  if ! grep -q "$expected" "$report_dir/gpu-report.txt"; then
    echo "FAILED: the report has no '$expected'" >&2
    exit 1
  fi
done
echo "gpu kit: packed in $((packed - started)) s, checked end to end in CPU mode against the" \
  "kit's prefix with this system's copies hidden in $((SECONDS - packed)) s"
