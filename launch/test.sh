#!/usr/bin/env bash
# Builds (through setup.sh) and runs the whole test suite. Extra arguments go to ctest,
# e.g. launch/test.sh -R Synth
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh
build_dir=${SATUNET_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure --timeout 900 "$@"
