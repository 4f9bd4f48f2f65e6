#!/usr/bin/env bash
# Installs what satunet needs from Debian's packages (only what is missing), then configures
# and builds Release into build/. Idempotent: a second run on a built tree takes seconds.
#   launch/setup.sh           what the build and the tests need (launch/test.sh runs this)
#   launch/setup.sh --bench   also what launch/bench.sh needs (it runs this): GNU time for wall
#                             time and peak memory, and the Python user's stack its side-by-side
#                             references run on (python3-torch, -rasterio, -fiona, -shapely, -h5py)
#   SATUNET_BUILD_DIR   build directory (default: build)
#   SATUNET_CMAKE_ARGS  extra CMake arguments, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch-cuda
#   SATUNET_JOBS        parallel compile jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests also use slurm, chromium, clang (fuzzing), python3-torchvision (torchvision's own
# ResNets are the encoders' goldens), python3-onnx and python3-opencv (satunet export's ONNX
# files checked and run as their users would) and hdf5-filter-plugin (the HDF Group's LZ4 filter
# reads satunet's LZ4 shards back, as other programs will).
packages=(build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenmpi-dev openmpi-bin libgdal-dev gdal-bin libhdf5-dev
  libboost-program-options-dev libgtest-dev nlohmann-json3-dev libdeflate-dev liblz4-dev shellcheck
  slurmctld slurmd slurm-client munge iproute2 libcairo2-dev chromium clang libclang-rt-14-dev
  python3-torchvision python3-onnx python3-opencv hdf5-filter-plugin)
case ${1:-} in
  "") ;;
  --bench) packages+=(time python3-torch python3-rasterio python3-fiona python3-shapely python3-h5py) ;;
  *)
    echo "usage: launch/setup.sh [--bench]" >&2
    exit 2
    ;;
esac

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build_dir=${SATUNET_BUILD_DIR:-build}
jobs=${SATUNET_JOBS:-$(nproc)}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SATUNET_CMAKE_ARGS:-}
fi
cmake --build "$build_dir" -j "$jobs"
