# shellcheck shell=bash
# What the launch tests share: how they skip (exit 77, which ctest shows as skipped), fail and
# mark their steps.

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
step() {
  echo "== $(date +%T) $*"
}
