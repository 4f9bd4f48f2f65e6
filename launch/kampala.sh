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
# Each test prints "score EXPERIMENT TEST IOU PRECISION RECALL FOOTPRINT_F1", and a table
# follows. Arguments are added to satunet train's (experiments: launch/kampala.sh
# --augment-colour 0.1).
#   SATUNET_KAMPALA_EXPERIMENTS  those to run (default: in-scene train-to-buildings
#                                buildings-to-train)
#   SATUNET_KAMPALA_DIR          outputs (default: kampala-out)
#   SATUNET_KAMPALA_EPOCHS       epochs (default: the recipe's)
#   SATUNET_BINARY               a built satunet to use as it is (default: build it with
#                                setup.sh)
set -euo pipefail
out=$(realpath -m "${SATUNET_KAMPALA_DIR:-kampala-out}")
cd "$(dirname "$0")/.."
if [[ -n ${SATUNET_BINARY:-} ]]; then
  satunet=$(realpath "$SATUNET_BINARY")
else
  launch/setup.sh >/dev/null
  satunet="$PWD/${SATUNET_BUILD_DIR:-build}/satunet"
fi
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
done

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

# score EXPERIMENT TEST: predicts the scene TEST with the experiment's model and scores it.
score() {
  local dir="$out/$1" test=$2
  "$satunet" predict --config datasets/kampala.ini --checkpoint "$dir/run/checkpoints/last.pt" \
    --image "$out/$test-image.tif" --stitch-to "$dir/$test-prediction.tif" --overwrite -q
  "$satunet" evaluate --pred "$dir/$test-prediction.tif" --truth "$out/$test-mask.tif" \
    --objects building --roads none --json "$dir/$test-scores.json" --overwrite -q \
    >"$dir/$test-scores.txt"
  python3 - "$1" "$test" "$dir/$test-scores.json" <<'PY' | tee -a "$out/scores.txt"
import json, sys
experiment, test, path = sys.argv[1:]
scores = json.load(open(path))
building = scores["classes"]["building"]
print("score %s %s %.4f %.4f %.4f %.4f" % (experiment, test, building["iou"],
      building["precision"], building["recall"], scores["objects"]["f1"]))
PY
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
    *)
      echo "kampala.sh: unknown experiment '$experiment' (in-scene, train-to-buildings," \
        "buildings-to-train)" >&2
      exit 2
      ;;
  esac
done
echo
printf '%-20s %-18s %8s %10s %8s %13s\n' experiment test IoU precision recall "footprint F1"
awk '{ printf "%-20s %-18s %8s %10s %8s %13s\n", $2, $3, $4, $5, $6, $7 }' "$out/scores.txt"
