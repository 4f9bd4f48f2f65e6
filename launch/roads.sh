#!/usr/bin/env bash
# The roads recipe (datasets/roads.ini) end to end: tiles, trains on 2 ranks and scores road
# pixels (IoU, precision, recall) and the road network (APLS, SpaceNet 3's path-length
# similarity) on ground the training never saw, each test predicted as the model draws roads
# and with the recipe's road cleanup (--clean-roads: centre lines pruned, fragments dropped,
# breaks closed, roads drawn again). Experiments:
#   synthetic  train: a generated 2048² scene (seed 101; 4 bands, uint16, UTM 18N, roads in
#              EPSG:4326 with their widths); test: two more (seeds 102 and 104).
#   vegas      the real SpaceNet 3 Las Vegas sample in tests/data/real (CC BY-SA 4.0), 0.3 m,
#              roads buffered to 6 m: train on its left half, test on the right; then the
#              other way round.
# Each test prints "score EXPERIMENT TEST ROADS IOU PRECISION RECALL APLS" (ROADS: as-drawn or
# cleaned), and a table follows. Arguments are added to satunet train's.
#   SATUNET_ROADS_EXPERIMENTS  those to run (default: synthetic vegas)
#   SATUNET_ROADS_DIR          outputs (default: roads-out)
#   SATUNET_ROADS_EPOCHS       epochs (default: the recipe's 25; vegas 40, its halves are small)
#   SATUNET_BINARY             a built satunet to use as it is (default: build it with setup.sh)
set -euo pipefail
out=$(realpath -m "${SATUNET_ROADS_DIR:-roads-out}")
cd "$(dirname "$0")/.."
# shellcheck source=launch/recipe_lib.sh
source launch/recipe_lib.sh
satunet=$(recipe_satunet)
read -r -a experiments <<<"${SATUNET_ROADS_EXPERIMENTS:-synthetic vegas}"
vegas=$PWD/tests/data/real/spacenet3_vegas_roads
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# train EXPERIMENT EPOCHS SCENE LABELS [TILE OPTIONS...]: tiles the scene and trains in
# $out/EXPERIMENT.
train() {
  local dir="$out/$1" epochs=${SATUNET_ROADS_EPOCHS:-$2} scene=$3 labels=$4
  shift 4
  echo "== $(basename "$dir"): satunet tile + train on 2 ranks ($(basename "$scene"), $epochs epochs)"
  "$satunet" tile --config datasets/roads.ini --image "$scene" --labels "road=$labels" \
    --out "$dir/dataset" --overwrite -q "$@"
  local started
  started=$(date +%s)
  mpirun -n 2 --bind-to none "$satunet" train --config datasets/roads.ini --data "$dir/dataset" \
    --out "$dir/run" --epochs "$epochs" --overwrite -q "${train_arguments[@]}"
  echo "training took $(($(date +%s) - started)) s on 2 ranks"
}

# score EXPERIMENT NAME SCENE LABELS [EVALUATE OPTIONS...]: predicts SCENE with the
# experiment's model, as drawn and cleaned, and scores both against LABELS.
score() {
  local experiment=$1 dir="$out/$1" name=$2 scene=$3 labels=$4 roads
  shift 4
  for roads in as-drawn cleaned; do
    local cleanup=()
    [[ $roads == as-drawn ]] && cleanup=(--clean-roads "")
    "$satunet" predict --config datasets/roads.ini --checkpoint "$dir/run/checkpoints/last.pt" \
      --image "$scene" --stitch-to "$dir/$name-$roads.tif" --overwrite -q "${cleanup[@]}" >/dev/null
    "$satunet" evaluate --pred "$dir/$name-$roads.tif" --truth-labels "road=$labels" \
      --classes background,road --json "$dir/$name-$roads.json" --overwrite -q "$@"
    python3 - "$experiment" "$name" "$roads" "$dir/$name-$roads.json" <<'PY' | tee -a "$out/scores.txt"
import json, sys
experiment, test, roads, path = sys.argv[1:]
scores = json.load(open(path))
road = scores["classes"]["road"]
print("score %s %s %s %.4f %.4f %.4f %.4f" % (experiment, test, roads, road["iou"],
      road["precision"], road["recall"], scores["roads"]["apls"]))
PY
  done
}

# synth SEED: a generated scene unlike the demo's (4 bands, uint16, UTM 18N) in $out/seedSEED.
synth() {
  [[ -f $out/seed$1/scene.tif ]] ||
    "$satunet" synth --out "$out/seed$1" --seed "$1" --bands 4 --dtype uint16 --epsg 32618 \
      --overwrite -q >/dev/null
}

train_arguments=("$@")
: >"$out/scores.txt"
for experiment in "${experiments[@]}"; do
  case $experiment in
    synthetic)
      for seed in 101 102 104; do synth $seed; done
      train synthetic 25 "$out/seed101/scene.tif" "$out/seed101/roads.geojson"
      for seed in 102 104; do
        score synthetic "seed$seed" "$out/seed$seed/scene.tif" "$out/seed$seed/roads.geojson" \
          --width-field width_m
      done
      ;;
    vegas)
      gdal_translate -q -srcwin 0 0 650 1300 "$vegas/image.tif" "$out/vegas-left.tif"
      gdal_translate -q -srcwin 650 0 650 1300 "$vegas/image.tif" "$out/vegas-right.tif"
      for half in left right; do
        other=$([[ $half == left ]] && echo right || echo left)
        # half a chip gives few 256 px tiles: they overlap by half
        train "vegas-$half" 40 "$out/vegas-$half.tif" "$vegas/roads.geojson" --overlap 128 \
          --split-block 2
        score "vegas-$half" "$other" "$out/vegas-$other.tif" "$vegas/roads.geojson" \
          --line-width road=6
      done
      ;;
    *)
      echo "roads.sh: unknown experiment '$experiment' (synthetic, vegas)" >&2
      exit 2
      ;;
  esac
done
[[ -s $out/scores.txt ]] || exit 0
echo
printf '%-12s %-8s %-9s %8s %10s %8s %8s\n' experiment test roads IoU precision recall APLS
awk '{ printf "%-12s %-8s %-9s %8s %10s %8s %8s\n", $2, $3, $4, $5, $6, $7, $8 }' "$out/scores.txt"
