#!/usr/bin/env bash
# The main job end to end on generated scenes: synth -> tile (2 ranks) -> train (2 ranks) ->
# predict a second, unseen scene (2 ranks) -> stitch -> evaluate -> quick-look PNG; the run's
# report page (curves, configuration, data, validation tiles).
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
"$satunet" synth --config datasets/synthetic.ini --out "$out/scene" --size "$size" --overwrite

echo "== satunet info"
"$satunet" info "$out/scene/scene.tif"

echo "== satunet tile on 2 ranks: 256 px tiles, 32 px overlap, buildings and roads from GeoJSON"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun -n 2 "$satunet" tile --out "$out/dataset" --overwrite \
  --image "$out/scene/scene.tif" \
  --labels "building=$out/scene/buildings.geojson" --labels "road=$out/scene/roads.geojson" \
  --width-field width_m --classes background,building,road \
  --tile 64 --overlap 0 --val-fraction 0.15 --split-block 4

echo "== satunet train on 2 ranks: a small U-Net (base 8, depth 3), 10 epochs"
mpirun -n 2 "$satunet" train --data "$out/dataset" --out "$out/run" --overwrite \
  --base 8 --depth 3 --batch 8 --epochs 10 --lr 0.005 --schedule cosine --augment \
  --seed 1 --val-every 5

echo "== satunet info on the checkpoint"
"$satunet" info "$out/run/checkpoints/best.pt"

echo "== satunet synth: a second scene (seed 2) that the model has never seen"
"$satunet" synth --config datasets/synthetic.ini --out "$out/unseen" --size "$size" --seed 2 \
  --overwrite

echo "== satunet predict on 2 ranks: overlapping windows over the whole unseen scene"
mpirun -n 2 "$satunet" predict --checkpoint "$out/run/checkpoints/best.pt" \
  --image "$out/unseen/scene.tif" --out "$out/pred" --overwrite --batch 16

echo "== satunet stitch: Gaussian blend -> class map (roads cleaned into a road map), probabilities, building polygons"
"$satunet" stitch --pred "$out/pred" --out "$out/mask.tif" --overwrite --probabilities "$out/probabilities.tif" \
  --polygons "$out/buildings.geojson" --polygon-classes building --simplify 0.5 --min-area 4 \
  --clean-roads road --road-lines "$out/road_lines.gpkg"

echo "== satunet evaluate: the mask against the unseen scene's truth (pixels, buildings as objects, roads as a graph)"
"$satunet" evaluate --pred "$out/mask.tif" --truth "$out/unseen/truth.tif" --json "$out/scores.json" \
  --errors "$out/errors.tif" --road-graph "$out/road_graph.gpkg" --overwrite

echo "== satunet quicklook"
"$satunet" quicklook --image "$out/unseen/scene.tif" --mask "$out/mask.tif" --out "$out/quicklook.png" \
  --overwrite

echo
echo "outputs:"
echo "  scene:  $out/scene/scene.tif (GeoTIFF, EPSG:32633)"
echo "  truth:  $out/scene/truth.tif (0 background, 1 building, 2 road, 255 nodata)"
echo "  labels: $out/scene/buildings.geojson, $out/scene/roads.geojson (EPSG:4326)"
echo "  dataset: $out/dataset (manifest.json + shards/*.h5; satunet info $out/dataset)"
echo "  run:     $out/run (checkpoints/best.pt and last.pt, metrics.csv, config.json)"
echo "  report:  $out/run/report.html (open it in a browser; curves as PNG in $out/run/report/)"
echo "  prediction: $out/pred (satunet info $out/pred) for the unseen scene $out/unseen/scene.tif"
echo "  mask:    $out/mask.tif (class map on the unseen scene's grid; 255 = nodata)"
echo "  probabilities: $out/probabilities.tif; polygons: $out/buildings.geojson; road centre lines: $out/road_lines.gpkg"
echo "  scores:  $out/scores.json; quick-look: $out/quicklook.png"
echo "  errors:  $out/errors.tif (TP/FP/FN per class, with a legend in QGIS); road graphs: $out/road_graph.gpkg"
