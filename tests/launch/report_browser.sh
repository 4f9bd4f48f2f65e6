#!/usr/bin/env bash
# A run's report page, rendered by a real browser: Debian's headless Chromium loads it from a
# file with the network off, dumps the DOM it built and takes a screenshot. The page must
# render whole (its five charts, every tile image) with no console error or failed load.
# Exit 77 (skipped) without chromium (Debian package chromium; launch/setup.sh installs it).
#   usage: report_browser.sh SATUNET_BINARY SOURCE_DIR
set -euo pipefail

binary=$(realpath "${1:?usage: report_browser.sh SATUNET_BINARY SOURCE_DIR}")
browser=$(command -v chromium || true)
if [[ -z $browser ]]; then
  echo "SKIPPED: no chromium (Debian package chromium; launch/setup.sh installs it)"
  exit 77
fi
work=$(dirname "$binary")/report-browser
rm -rf "$work"
mkdir -p "$work"

"$binary" synth --out "$work/scene" --size 256 --seed 2 -q >/dev/null
"$binary" tile --out "$work/dataset" --image "$work/scene/scene.tif" \
  --labels "building=$work/scene/buildings.geojson" --labels "road=$work/scene/roads.geojson" \
  --width-field width_m --tile 64 --overlap 0 --val-fraction 0.25 --split-block 1 -q >/dev/null
"$binary" train --data "$work/dataset" --out "$work/run" --base 4 --depth 2 --batch 4 \
  --epochs 2 --threads 1 -q >/dev/null
page=$work/run/report.html
[[ -f $page ]] || { echo "FAILED: train wrote no $page" >&2; exit 1; }

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$work/profile" --enable-logging=stderr --v=0 --hide-scrollbars)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" >"$work/dom.html" 2>"$work/log"
timeout 120 "$browser" "${flags[@]}" --window-size=1600,2400 \
  --screenshot="$work/screenshot.png" "file://$page" >/dev/null 2>>"$work/log"

failed=0
check() {  # check WHAT COUNT EXPECTED
  if [[ $2 != "$3" ]]; then
    echo "FAILED: $1: $2, expected $3" >&2
    failed=1
  else
    echo "ok: $1: $2"
  fi
}
check "charts in the rendered DOM" "$(grep -o '<svg ' "$work/dom.html" | wc -l)" 5
images_in_page=$(grep -o '<img ' "$page" | wc -l)
check "tile images in the rendered DOM" "$(grep -o '<img ' "$work/dom.html" | wc -l)" "$images_in_page"
check "console messages and failed loads" \
  "$(grep -ciE 'CONSOLE|Uncaught|net::ERR|Failed to load' "$work/log" || true)" 0
screenshot_bytes=$(stat -c %s "$work/screenshot.png" 2>/dev/null || echo 0)
if ((screenshot_bytes < 50000)); then
  echo "FAILED: the screenshot is $screenshot_bytes bytes: nothing rendered" >&2
  failed=1
else
  echo "ok: screenshot $work/screenshot.png ($screenshot_bytes bytes)"
fi
exit "$failed"
