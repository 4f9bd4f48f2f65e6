#!/usr/bin/env bash
# Every shell script of the project parses (bash -n) and is shellcheck-clean: the launch
# scripts (launch/, launch/slurm/*.sbatch, launch/pbs/*.pbs), these tests and CI's entry point.
# Exit 77 (skipped) without shellcheck (Debian's shellcheck; launch/setup.sh installs it).
#   usage: shellcheck.sh SATUNET_BINARY SOURCE_DIR   (the binary is not used)
set -euo pipefail

source_dir=$(realpath "${2:?usage: shellcheck.sh SATUNET_BINARY SOURCE_DIR}")
cd "$source_dir"
if ! command -v shellcheck >/dev/null; then
  echo "SKIPPED: no shellcheck (Debian package shellcheck; launch/setup.sh installs it)"
  exit 77
fi

scripts=()
while IFS= read -r -d '' file; do
  scripts+=("$file")
done < <(find launch tests/launch .ci -type f \
  \( -name '*.sh' -o -name '*.sbatch' -o -name '*.pbs' -o -name run \) -print0 | sort -z)
((${#scripts[@]} >= 10)) || { echo "FAILED: only ${#scripts[@]} scripts found" >&2; exit 1; }

failed=0
for script in "${scripts[@]}"; do
  if ! bash -n "$script"; then
    echo "FAILED: bash -n $script" >&2
    failed=$((failed + 1))
  elif ! shellcheck --external-sources --severity=style "$script"; then
    echo "FAILED: shellcheck $script" >&2
    failed=$((failed + 1))
  else
    echo "ok: $script"
  fi
done
echo "$((${#scripts[@]} - failed)) of ${#scripts[@]} scripts pass bash -n and shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
((failed == 0))
