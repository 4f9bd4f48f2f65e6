#!/usr/bin/env bash
# The Kampala buildings recipe end to end on the real drone scenes in tests/data/real
# (OpenAerialMap CC BY 4.0 imagery, OpenStreetMap ODbL labels; attribution in its README):
# the bottom 512 rows of kampala_train are held out as the test block, which training never
# sees; the rest of that scene and kampala_buildings are tiled with datasets/kampala.ini;
# 2 ranks train with its [train] section; the held-out block is predicted and scored
# against its mask. Prints the building IoU and the training time. Arguments are added to
# satunet train's (experiments: launch/kampala.sh --augment-colour 0.1).
#   SATUNET_KAMPALA_DIR     outputs (default: kampala-out)
#   SATUNET_KAMPALA_EPOCHS  epochs (default: the recipe's)
#   SATUNET_BINARY          a built satunet to use as it is (default: build it with setup.sh)
set -euo pipefail
out=$(realpath -m "${SATUNET_KAMPALA_DIR:-kampala-out}")
cd "$(dirname "$0")/.."
if [[ -n ${SATUNET_BINARY:-} ]]; then
  satunet=$(realpath "$SATUNET_BINARY")
else
  launch/setup.sh >/dev/null
  satunet="$PWD/${SATUNET_BUILD_DIR:-build}/satunet"
fi
real=tests/data/real
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

echo "== the held-out test block: rows 1536-2047 of kampala_train"
for part in image mask; do
  gdal_translate -q -srcwin 0 1536 1536 512 "$real/kampala_train/$part.tif" "$out/test-$part.tif"
  gdal_translate -q -srcwin 0 0 1536 1536 "$real/kampala_train/$part.tif" "$out/train-$part.tif"
done
cat >"$out/scenes.csv" <<CSV
image,mask
train-image.tif,train-mask.tif
$PWD/$real/kampala_buildings/image.tif,$PWD/$real/kampala_buildings/mask.tif
CSV

echo "== satunet tile: the rest of kampala_train and kampala_buildings"
"$satunet" tile --config datasets/kampala.ini --scenes "$out/scenes.csv" --out "$out/dataset" \
  --overwrite -q

echo "== satunet train on 2 ranks"
epochs=()
[[ -n ${SATUNET_KAMPALA_EPOCHS:-} ]] && epochs=(--epochs "$SATUNET_KAMPALA_EPOCHS")
started=$(date +%s)
mpirun -n 2 --bind-to none "$satunet" train --config datasets/kampala.ini --data "$out/dataset" \
  --out "$out/run" --overwrite "${epochs[@]}" -q "$@"
trained=$(($(date +%s) - started))

echo "== satunet predict + evaluate on the held-out block"
"$satunet" predict --config datasets/kampala.ini --checkpoint "$out/run/checkpoints/last.pt" \
  --image "$out/test-image.tif" --out "$out/pred" --stitch-to "$out/test-prediction.tif" \
  --overwrite -q
"$satunet" evaluate --pred "$out/test-prediction.tif" --truth "$out/test-mask.tif" \
  --objects none --roads none --json "$out/test-scores.json" --overwrite -q | tee "$out/test-scores.txt"
iou=$(awk '$1 == "building" {print $2}' "$out/test-scores.txt")
echo "building IoU on the held-out block: $iou; training took ${trained} s on 2 ranks"
