#!/usr/bin/env bash
# The Kampala buildings recipe end to end on the two real drone scenes in tests/data/real
# (OpenAerialMap CC BY 4.0 imagery, OpenStreetMap ODbL labels; attribution in its README):
# tiles with datasets/kampala.ini, trains on 2 ranks with its [train] section, predicts with
# its [predict] section and scores building pixels (IoU, precision, recall) and footprints
# (F1 of buildings matched one to one at IoU >= 0.5, SpaceNet's rule) on ground the training
# never saw. Experiments:
#   in-scene            train: kampala_train's top 1536 rows + kampala_buildings;
#                       test: kampala_train's bottom 512 rows (the block). Same streets, roofs
#                       and light as the training tiles: memory of the scene, kept for
#                       continuity with earlier figures.
#   train-to-buildings  train: kampala_train's top 1536 rows; test: kampala_buildings (another
#                       neighbourhood: cross-area) and the block.
#   buildings-to-train  train: kampala_buildings; test: the whole of kampala_train
#                       (cross-area).
#   banepa              (after the others) every trained model on banepa_buildings, a Nepali
#                       town at about 13 cm (another country: no training tile is like it):
#                       as it is (banepa-native), predicted at Kampala's 7.44 cm
#                       (banepa-at-7.5cm, --pixel-size 0.0744, for checkpoints that do not
#                       record their pixel size), at the checkpoint's own (banepa, the default
#                       --pixel-size auto), and warped to 7.5 cm with gdalwarp (banepa_7.5cm,
#                       scored on the warped mask).
#   postprocessing      (after train-to-buildings) its model's footprint F1 on the block for
#                       each polygon --min-area x --simplify of a grid, and the best (ties: the
#                       smallest): how the recipe's [predict] values were chosen, on ground the
#                       cross-area test is not. Prints "postprocess MIN_AREA SIMPLIFY F1".
# Each test prints "score EXPERIMENT TEST IOU PRECISION RECALL FOOTPRINT_F1", and a table
# follows; footprints are the polygons predict writes with the recipe's --min-area and
# --simplify. Arguments are added to satunet train's (experiments: launch/kampala.sh
# --augment-colour 0.1).
#   SATUNET_KAMPALA_EXPERIMENTS  those to run (default: in-scene train-to-buildings
#                                buildings-to-train)
#   SATUNET_KAMPALA_DIR          outputs (default: kampala-out)
#   SATUNET_KAMPALA_EPOCHS       epochs (default: the recipe's)
#   SATUNET_KAMPALA_MIN_AREAS    postprocessing's --min-area values (default: 0 2 4 8 16 32)
#   SATUNET_KAMPALA_SIMPLIFY     postprocessing's --simplify values (default: 0 0.25 0.5)
#   SATUNET_BINARY               a built satunet to use as it is (default: build it with
#                                setup.sh)
set -euo pipefail
out=$(realpath -m "${SATUNET_KAMPALA_DIR:-kampala-out}")
cd "$(dirname "$0")/.."
# shellcheck source=launch/recipe_lib.sh
source launch/recipe_lib.sh
satunet=$(recipe_satunet)
read -r -a experiments <<<"${SATUNET_KAMPALA_EXPERIMENTS:-in-scene train-to-buildings buildings-to-train}"
real=$PWD/tests/data/real
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
epochs=()
[[ -n ${SATUNET_KAMPALA_EPOCHS:-} ]] && epochs=(--epochs "$SATUNET_KAMPALA_EPOCHS")

# The scenes, as images and masks: the block and the top of kampala_train cut out of it.
for part in image mask; do
  gdal_translate -q -srcwin 0 1536 1536 512 "$real/kampala_train/$part.tif" "$out/block-$part.tif"
  gdal_translate -q -srcwin 0 0 1536 1536 "$real/kampala_train/$part.tif" "$out/top-$part.tif"
  ln -sf "$real/kampala_train/$part.tif" "$out/kampala_train-$part.tif"
  ln -sf "$real/kampala_buildings/$part.tif" "$out/kampala_buildings-$part.tif"
  ln -sf "$real/banepa_buildings/$part.tif" "$out/banepa-$part.tif"
done

# warp_banepa: Banepa warped to the Kampala scenes' pixel (UTM 45N, Banepa's zone).
warp_banepa() {
  local kampala_pixel_m=0.075
  gdalwarp -q -overwrite -t_srs EPSG:32645 -tr $kampala_pixel_m $kampala_pixel_m -r bilinear \
    "$real/banepa_buildings/image.tif" "$out/banepa_7.5cm-image.tif"
  gdalwarp -q -overwrite -t_srs EPSG:32645 -tr $kampala_pixel_m $kampala_pixel_m -r near \
    "$real/banepa_buildings/mask.tif" "$out/banepa_7.5cm-mask.tif"
}

# train EXPERIMENT SCENE...: tiles the scenes and trains on them in $out/EXPERIMENT.
train() {
  local dir="$out/$1" scene
  shift
  mkdir -p "$dir"
  echo "image,mask" >"$dir/scenes.csv"
  for scene in "$@"; do
    echo "$out/$scene-image.tif,$out/$scene-mask.tif" >>"$dir/scenes.csv"
  done
  echo "== $(basename "$dir"): satunet tile + train on 2 ranks ($*)"
  "$satunet" tile --config datasets/kampala.ini --scenes "$dir/scenes.csv" --out "$dir/dataset" \
    --overwrite -q
  local started
  started=$(date +%s)
  mpirun -n 2 --bind-to none "$satunet" train --config datasets/kampala.ini --data "$dir/dataset" \
    --out "$dir/run" --overwrite "${epochs[@]}" -q "${train_arguments[@]}"
  echo "training took $(($(date +%s) - started)) s on 2 ranks"
}

# evaluate MASK POLYGONS TEST JSON: building pixels of MASK and footprints POLYGONS against
# TEST's truth.
evaluate() {
  "$satunet" evaluate --pred "$1" --pred-objects "$2" --truth "$out/$3-mask.tif" \
    --objects building --roads none --json "$4" --overwrite -q
}

# score EXPERIMENT TEST [NAME PREDICT_ARGUMENT...]: predicts the scene TEST with the
# experiment's model (and the arguments) and scores it, as NAME (default: TEST).
score() {
  local dir="$out/$1" test=$2 name=${3:-$2}
  "$satunet" predict --config datasets/kampala.ini --checkpoint "$dir/run/checkpoints/last.pt" \
    --image "$out/$test-image.tif" --stitch-to "$dir/$name-prediction.tif" \
    --polygons "$dir/$name-buildings.gpkg" --overwrite -q "${@:4}"
  evaluate "$dir/$name-prediction.tif" "$dir/$name-buildings.gpkg" "$test" \
    "$dir/$name-scores.json" >"$dir/$name-scores.txt"
  python3 - "$1" "$name" "$dir/$name-scores.json" <<'PY' | tee -a "$out/scores.txt"
import json, sys
experiment, test, path = sys.argv[1:]
scores = json.load(open(path))
building = scores["classes"]["building"]
print("score %s %s %.4f %.4f %.4f %.4f" % (experiment, test, building["iou"],
      building["precision"], building["recall"], scores["objects"]["f1"]))
PY
}

# choose_postprocessing EXPERIMENT TEST: footprint F1 on TEST for each --min-area (m²) x
# --simplify (m) of the grid, from one prediction kept as probabilities and stitched again.
choose_postprocessing() {
  local dir="$out/$1" test=$2 min_area simplify
  local work="$dir/postprocessing-$test"
  if [[ ! -f $dir/run/checkpoints/last.pt ]]; then
    echo "kampala.sh: postprocessing needs the $1 model: run $1 first" >&2
    exit 2
  fi
  mkdir -p "$work"
  echo "== postprocessing: $1's footprints on $test"
  "$satunet" predict --config datasets/kampala.ini --checkpoint "$dir/run/checkpoints/last.pt" \
    --image "$out/$test-image.tif" --out "$work/prediction" --keep-probabilities \
    --stitch-to "$work/mask.tif" --overwrite -q
  for min_area in ${SATUNET_KAMPALA_MIN_AREAS:-0 2 4 8 16 32}; do
    for simplify in ${SATUNET_KAMPALA_SIMPLIFY:-0 0.25 0.5}; do
      "$satunet" stitch --pred "$work/prediction" --out "$work/mask.tif" \
        --polygons "$work/buildings.gpkg" --min-area "$min_area" --simplify "$simplify" \
        --overwrite -q >/dev/null
      evaluate "$work/mask.tif" "$work/buildings.gpkg" "$test" "$work/scores.json" >/dev/null
      python3 -c 'import json, sys; print("postprocess", sys.argv[2], sys.argv[3],
        "%.4f" % json.load(open(sys.argv[1]))["objects"]["f1"])' \
        "$work/scores.json" "$min_area" "$simplify"
    done
  done | tee "$work/grid.txt"
  sort -k4,4gr -k2,2g -k3,3g "$work/grid.txt" | head -1 |
    awk '{ print "best: --min-area " $2 " --simplify " $3 " (footprint F1 " $4 ")" }'
}

train_arguments=("$@")
: >"$out/scores.txt"
for experiment in "${experiments[@]}"; do
  case $experiment in
    in-scene)
      train in-scene top kampala_buildings
      score in-scene block
      ;;
    train-to-buildings)
      train train-to-buildings top
      score train-to-buildings kampala_buildings
      score train-to-buildings block
      ;;
    buildings-to-train)
      train buildings-to-train kampala_buildings
      score buildings-to-train kampala_train
      ;;
    banepa)
      warp_banepa
      for trained in in-scene train-to-buildings buildings-to-train; do
        if [[ -f $out/$trained/run/checkpoints/last.pt ]]; then
          score "$trained" banepa banepa-native --pixel-size native
          score "$trained" banepa banepa-at-7.5cm --pixel-size 0.0744
          score "$trained" banepa
          score "$trained" banepa_7.5cm
        fi
      done
      ;;
    postprocessing)
      choose_postprocessing train-to-buildings block
      ;;
    *)
      echo "kampala.sh: unknown experiment '$experiment' (in-scene, train-to-buildings," \
        "buildings-to-train, banepa, postprocessing)" >&2
      exit 2
      ;;
  esac
done
[[ -s $out/scores.txt ]] || exit 0
echo
printf '%-20s %-18s %8s %10s %8s %13s\n' experiment test IoU precision recall "footprint F1"
awk '{ printf "%-20s %-18s %8s %10s %8s %13s\n", $2, $3, $4, $5, $6, $7 }' "$out/scores.txt"
