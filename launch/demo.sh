#!/usr/bin/env bash
# The main job end to end on a generated scene. Today: synth -> info.
#   SATUNET_DEMO_DIR  where outputs go (default: demo-out)
#   SATUNET_DEMO_SIZE scene size in pixels (default: 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh
build_dir=${SATUNET_BUILD_DIR:-build}
satunet="$build_dir/satunet"
out=${SATUNET_DEMO_DIR:-demo-out}
size=${SATUNET_DEMO_SIZE:-2048}

echo "== satunet synth: a ${size} x ${size} scene with roads, buildings, trees and shadows"
"$satunet" synth --config datasets/synthetic.ini --out "$out/scene" --size "$size"

echo "== satunet info"
"$satunet" info "$out/scene/scene.tif"
"$satunet" info "$out/scene/truth.tif"

echo
echo "outputs:"
echo "  scene:  $out/scene/scene.tif (GeoTIFF, EPSG:32633)"
echo "  truth:  $out/scene/truth.tif (0 background, 1 building, 2 road, 255 nodata)"
echo "  labels: $out/scene/buildings.geojson, $out/scene/roads.geojson (EPSG:4326)"
