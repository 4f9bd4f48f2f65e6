#!/usr/bin/env bash
# The Kampala recipe, CI-sized: launch/kampala.sh on this build with a few epochs; the building
# IoU on the held-out test block must reach the bar this budget reaches (measured: README, "A
# recipe on real imagery").
#   usage: kampala_recipe.sh SATUNET_BINARY SOURCE_DIR
set -euo pipefail
binary=$(realpath "${1:?usage: kampala_recipe.sh SATUNET_BINARY SOURCE_DIR}")
source_dir=$(realpath "${2:?usage: kampala_recipe.sh SATUNET_BINARY SOURCE_DIR}")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/satunet-kampala.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
epochs=12
bar=0.62
SATUNET_BINARY=$binary SATUNET_KAMPALA_DIR=$tmp/out SATUNET_KAMPALA_EPOCHS=$epochs \
  "$source_dir/launch/kampala.sh" | tee "$tmp/log"
iou=$(sed -n 's/^building IoU on the held-out block: \([0-9.]*\);.*/\1/p' "$tmp/log")
if [[ -z $iou ]]; then
  echo "FAILED: launch/kampala.sh printed no IoU" >&2
  exit 1
fi
if ! awk -v iou="$iou" -v bar="$bar" 'BEGIN { exit !(iou >= bar) }'; then
  echo "FAILED: building IoU $iou after $epochs epochs, below the bar $bar" >&2
  exit 1
fi
echo "ok: building IoU $iou after $epochs epochs (bar $bar)"
