#!/usr/bin/env bash
# Builds (through setup.sh) and runs the whole test suite. Extra arguments go to ctest,
# e.g. launch/test.sh -R Synth
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh
build_dir=${SATUNET_BUILD_DIR:-build}
cd "$build_dir"
# Side by side on every core: suites that time things or kill processes take two (ALONE in
# tests/CMakeLists.txt), MPI suites one per rank.
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
