#!/usr/bin/env bash
# Benchmarks, each comparing things side by side in one run and printing ratios.
#   launch/bench.sh tile      satunet tile vs a plain GDAL read; 1 -> 2 ranks; peak memory
#   launch/bench.sh model     U-Net forward and forward+backward Mpx/s per config and threads
#   launch/bench.sh train     samples/s on 1 and 2 ranks (1 thread each), data and comm waits
#   launch/bench.sh infer     predict + stitch vs the bare forward on in-memory windows; 1 -> 2
#                             ranks; peak memory for a scene and one of 4x the pixels
#                             (SATUNET_BENCH_INFER_SIZE, default 4096)
#   launch/bench.sh predict   the prediction pipeline alone: `satunet bench predict` (a model that
#                             costs nothing) on launch/gpu/check.sh's 8192² scene (DEFLATE) and on
#                             an uncompressed copy, blended straight into the mask (--stitch-to)
#                             and as LZ4 shards + stitch; best of 2 (SATUNET_BENCH_PREDICT_SIZE)
#   launch/bench.sh python    side by side with the Python user's script (rasterio + PyTorch,
#                             Debian's python3-torch: the same LibTorch kernels): predict +
#                             stitch of a 2048² 4-band uint16 scene with a trained U-Net base 16
#                             depth 4, 1 thread, median of 3; satunet with the reference's 256 px
#                             windows and with 1024 px windows; masks compared; then tile of a
#                             4096² 4-band uint16 scene against a rasterio + h5py tiler (deflate
#                             1 and LZ4 on both sides); then
#                             training against PyTorch DDP (gloo) + an h5py DataLoader at 1
#                             and 2 ranks. `launch/bench.sh python predict|tile|train`: one part
#   launch/bench.sh evaluate  satunet evaluate (pixels, building objects, road APLS, error map)
#                             on scenes of 2048 to SATUNET_BENCH_SIZE px a side: time per Mpx
#                             and peak memory against the scene's size
# Every measurement is a JSON line in BENCH_DIR/results.jsonl, one file per run (the programs'
# own through their --jsonl option, src/common/bench_record.hpp; the wall time and peak memory
# of whole processes, evaluate's scores and the machine through launch/bench/records.py). At the
# end launch/bench/compare.py prints the figures against launch/bench/goals.json, where every
# goal is stated once, and the run exits 1 when a goal it measured is missed.
# Environment: SATUNET_BENCH_DIR (default build/bench), SATUNET_BENCH_SIZE (default 16384),
# SATUNET_BUILD_DIR (default build), SATUNET_BENCH_NO_SETUP=1 to take the build and the packages
# as they are instead of running launch/setup.sh --bench first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${SATUNET_BENCH_NO_SETUP:-0} != 1 ]]; then launch/setup.sh --bench >/dev/null; fi
build_dir=${SATUNET_BUILD_DIR:-build}
satunet=$(realpath -m "$build_dir/satunet")
work=${SATUNET_BENCH_DIR:-$build_dir/bench}
size=${SATUNET_BENCH_SIZE:-16384}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$work"
results="$work/results.jsonl"

# The records of this run (launch/bench/records.py): `records add|time|evaluate|append ...`.
records() { python3 launch/bench/records.py "$1" "$results" "${@:2}"; }

# A command's peak resident set size (KiB) and wall time (s), as GNU time's "%M %e", into LOG.
measure() {
  local log=$1
  shift
  /usr/bin/time -f "%M %e" -o "$log" "$@" >/dev/null
}
# The faster of two runs of a command (a noisy 2-core VM: the best run is the machine's speed).
measure_best() {
  local log=$1
  shift
  measure "$log.first" "$@"
  measure "$log.second" "$@"
  if awk '{exit !($2 <= t)}' t="$(wall_s "$log.second")" "$log.first"; then
    mv "$log.first" "$log"
  else
    mv "$log.second" "$log"
  fi
  rm -f "$log.first" "$log.second"
}
# timed BENCH RUN [KEY=VALUE...] -- COMMAND...: COMMAND under GNU time, its wall time and peak
# memory recorded as run RUN of BENCH with the fields given.
timed() {
  local bench=$1 run=$2 fields=()
  shift 2
  while [[ $1 != -- ]]; do
    fields+=("$1")
    shift
  done
  shift
  measure "$work/$bench-$run.time" "$@"
  records time "$work/$bench-$run.time" "$bench" "$run" "${fields[@]}"
}
# shellcheck source=launch/run_csv.sh
source launch/run_csv.sh
wall_s() { awk '{print $2}' "$1"; }

scene() {  # scene SIZE -> directory with scene.tif and labels (made once)
  local dir="$work/scene-$1"
  if [[ ! -f "$dir/scene.tif" ]]; then
    "$satunet" synth --out "$dir" --size "$1" --bands 4 --dtype uint8 --seed 1 -q >/dev/null
  fi
  echo "$dir"
}

scene_rgb() {  # scene_rgb SIZE -> directory with a 3-band scene.tif (made once)
  local dir="$work/rgb-$1"
  if [[ ! -f "$dir/scene.tif" ]]; then
    "$satunet" synth --out "$dir" --size "$1" --bands 3 --dtype uint8 --seed 1 -q >/dev/null
  fi
  echo "$dir"
}

tile_args() {  # tile_args SCENE_DIR OUT
  echo --out "$2" --overwrite --image "$1/scene.tif" --labels "building=$1/buildings.geojson" \
    --labels "road=$1/roads.geojson" --width-field width_m --tile 256 --overlap 32 -q
}

bench_tile() {
  local big small
  big=$(scene "$size")
  small=$(scene $((size / 2)))
  rm -f "$work"/*.time
  local source_mb
  source_mb=$(awk -v s="$size" 'BEGIN {printf "%.1f", s * s * 4 / 1e6}')
  echo "tile benchmark: ${size} x ${size} x 4 bands uint8 (${source_mb} MB of pixels), tile 256, overlap 32"
  records add tile source "$source_mb" MB size="$size" bands=4 dtype=uint8
  local config=(size="$size" tile=256 overlap=32)

  # Warm the page cache so both readers start from the same place.
  cat "$big/scene.tif" >/dev/null
  GDAL_NUM_THREADS=1 "$build_dir/tests/bench/satunet_bench_read" --jsonl "$results" "$big/scene.tif" >/dev/null
  GDAL_NUM_THREADS=ALL_CPUS "$build_dir/tests/bench/satunet_bench_read" --jsonl "$results" "$big/scene.tif" >/dev/null

  # shellcheck disable=SC2046
  timed tile tile1 "${config[@]}" ranks=1 compress=none -- "$satunet" tile $(tile_args "$big" "$work/ds1")
  # shellcheck disable=SC2046
  timed tile tile1-deflate1 "${config[@]}" ranks=1 compress=1 -- "$satunet" tile $(tile_args "$big" "$work/ds1c1") --compress 1
  # shellcheck disable=SC2046
  timed tile tile1-lz4 "${config[@]}" ranks=1 compress=lz4 -- "$satunet" tile $(tile_args "$big" "$work/ds1lz4") --compress lz4
  # shellcheck disable=SC2046
  timed tile tile2 "${config[@]}" ranks=2 compress=none -- mpirun -n 2 --bind-to none "$satunet" tile $(tile_args "$big" "$work/ds2")
  # Per-rank peak memory: each rank under its own GNU time.
  # shellcheck disable=SC2016,SC2046
  mpirun -n 2 --bind-to none bash -c '/usr/bin/time -f "%M %e" -o "$0.rank$OMPI_COMM_WORLD_RANK.time" "$@"' \
    "$work/tile2" "$satunet" tile $(tile_args "$big" "$work/ds2b") >/dev/null
  local rank
  for rank in 0 1; do
    records time "$work/tile2.rank$rank.time" tile "tile2-rank$rank" "${config[@]}" ranks=2 rank="$rank"
  done
  # shellcheck disable=SC2046
  timed tile tile-quarter size=$((size / 2)) tile=256 overlap=32 ranks=1 compress=none -- \
    "$satunet" tile $(tile_args "$small" "$work/ds_small")

  # The bytes the uncompressed dataset holds, written plainly: the floor of any tiler here.
  local dataset_mb
  dataset_mb=$(du -sm "$work/ds1/shards" | cut -f1)
  records add tile dataset "$dataset_mb" MB "${config[@]}"
  timed tile write -- dd if=/dev/zero of="$work/write.test" bs=1M count="$dataset_mb" conv=fsync status=none
  rm -f "$work/write.test"
}

bench_model() {
  "$build_dir/tests/bench/satunet_bench_model" --jsonl "$results" "${SATUNET_BENCH_TILE:-256}" \
    "${SATUNET_BENCH_BATCH:-4}" 3
}

bench_train() {
  local scene_dir="$work/train-scene" data="$work/train-data"
  if [[ ! -f "$data/manifest.json" ]]; then
    "$satunet" synth --out "$scene_dir" --size 2048 --seed 1 --overwrite -q >/dev/null
    "$satunet" tile --out "$data" --overwrite --image "$scene_dir/scene.tif" \
      --labels "building=$scene_dir/buildings.geojson" --labels "road=$scene_dir/roads.geojson" \
      --width-field width_m --tile 64 --overlap 0 --val-fraction 0 -q >/dev/null
  fi
  local args=(--data "$data" --base 8 --depth 3 --batch 8 --max-steps 120 --threads 1
    --schedule constant --val-every 1000 -q)
  "$satunet" train "${args[@]}" --overwrite --out "$work/train1" >/dev/null
  mpirun -n 2 --bind-to none "$satunet" train "${args[@]}" --overwrite --out "$work/train2" >/dev/null
  echo "U-Net base 8, depth 3, 64 px tiles, batch 8 per rank, 1 thread per rank, 120 steps"
  # The last rows of metrics.csv, by column name.
  local config=(base=8 depth=3 tile=64 batch=8 threads=1 steps=120) ranks metrics
  for ranks in 1 2; do
    metrics="$work/train$ranks/metrics.csv"
    records add train samples_per_s "$(csv_last "$metrics" samples_per_s)" samples/s ranks="$ranks" "${config[@]}"
    records add train data_wait "$(csv_last "$metrics" data_wait_pct)" % ranks="$ranks" "${config[@]}"
    records add train comm_wait "$(csv_last "$metrics" comm_wait_pct)" % ranks="$ranks" "${config[@]}"
  done
  mpirun -n 2 --bind-to none "$build_dir/tests/bench/satunet_bench_train" --jsonl "$results" "$data" 60
}

bench_infer() {
  local size=${SATUNET_BENCH_INFER_SIZE:-4096}
  local tile=256 overlap=64 batch=4
  local infer="$build_dir/tests/bench/satunet_bench_infer" checkpoint="$work/infer.pt"
  local small big
  small=$(scene_rgb "$size")
  big=$(scene_rgb $((size * 2)))
  "$infer" checkpoint "$checkpoint" 16 4 "$tile"
  echo "infer benchmark: U-Net base 16, depth 4, ${tile} px windows overlapping by ${overlap}, batch ${batch}; best of 2 runs"
  local predict=(predict --checkpoint "$checkpoint" --tile "$tile" --overlap "$overlap"
    --batch "$batch" --overwrite -q)
  local config=(size="$size" tile="$tile" overlap="$overlap" batch="$batch")
  # Each timed twice: the bare forward's two runs are both recorded (goals.json takes the
  # faster), of the processes the faster run is kept.
  local run
  for run in 1 2; do
    "$infer" --jsonl "$results" forward "$checkpoint" "$small/scene.tif" "$tile" "$overlap" "$batch" \
      "$(nproc)" >/dev/null
  done
  measure_best "$work/predict1.time" "$satunet" "${predict[@]}" --image "$small/scene.tif" \
    --out "$work/pred1" --threads "$(nproc)"
  records time "$work/predict1.time" infer predict1 "${config[@]}" ranks=1 threads="$(nproc)"
  measure_best "$work/stitch1.time" "$satunet" stitch --overwrite --pred "$work/pred1" --out "$work/mask1.tif" -q
  records time "$work/stitch1.time" infer stitch1 "${config[@]}"
  measure_best "$work/predict2.time" mpirun -n 2 --bind-to none "$satunet" "${predict[@]}" \
    --image "$small/scene.tif" --out "$work/pred2" --threads 1
  records time "$work/predict2.time" infer predict2 "${config[@]}" ranks=2 threads=1
  timed infer predict-big "${config[@]}" size=$((size * 2)) ranks=1 threads="$(nproc)" -- \
    "$satunet" "${predict[@]}" --image "$big/scene.tif" --out "$work/pred_big" --threads "$(nproc)"
  timed infer stitch-big "${config[@]}" size=$((size * 2)) -- \
    "$satunet" stitch --overwrite --pred "$work/pred_big" --out "$work/mask_big.tif" -q
}

# The most scene pixels per second the pipeline around the model (reading, normalising,
# batching, blending or writing shards) sustains here: what a GPU's forward pass could be fed.
bench_predict() {
  local size=${SATUNET_BENCH_PREDICT_SIZE:-8192} batch=32
  local dir="$work/predict-$size"
  if [[ ! -f $dir/scene.tif ]]; then  # launch/gpu/check.sh's scene
    "$satunet" synth --out "$dir" --size "$size" --seed 3 -q >/dev/null
  fi
  if [[ ! -f $dir/scene-uncompressed.tif ]]; then
    gdal_translate -q -co TILED=YES "$dir/scene.tif" "$dir/scene-uncompressed.tif"
  fi
  echo "predict pipeline benchmark: ${size} x ${size} RGB uint8, windows of 256 overlapping by 64, batch ${batch}, identity model; best of 2"
  local bench=(bench predict --tile 256 --overlap 64 --batch "$batch" --overwrite -q)
  # twice SCENE PATH COMMAND...: two runs of `satunet bench predict`, both runs' records kept
  # (goals.json takes the faster), tagged with the scene and the path.
  twice() {
    local scene=$1 path=$2 run
    shift 2
    for run in 1 2; do
      rm -f "$work/predict-run.jsonl"
      "$@" --jsonl "$work/predict-run.jsonl" >/dev/null
      records append "$work/predict-run.jsonl" scene="$scene" path="$path" run="$run"
    done
    rm -f "$work/predict-run.jsonl"
  }
  local name scene
  for name in scene scene-uncompressed; do
    scene="$dir/$name.tif"
    cat "$scene" >/dev/null  # from the page cache, as the second run reads it anyway
    twice "$name" direct "$satunet" "${bench[@]}" --image "$scene" --stitch-to "$work/predict-mask.tif"
    twice "$name" direct-zstd "$satunet" "${bench[@]}" --image "$scene" \
      --stitch-to "$work/predict-mask-zstd.tif" --map-compress zstd
    twice "$name" shards "$satunet" "${bench[@]}" --image "$scene" --out "$work/predict-shards" --compress lz4
    measure_best "$work/predict-stitch.time" "$satunet" stitch --pred "$work/predict-shards" \
      --out "$work/predict-stitched.tif" --overwrite -q
    records time "$work/predict-stitch.time" predict stitch scene="$name" size="$size"
  done
  cmp -s "$work/predict-mask.tif" "$work/predict-stitched.tif" ||
    echo "the two paths gave different masks" >&2
}

bench_python() {
  local python=/usr/bin/python3
  if [[ ! $1 =~ ^(predict|tile|train|all)$ ]]; then
    echo "usage: launch/bench.sh python [predict|tile|train]" >&2
    exit 2
  fi
  if ! "$python" -c 'import torch, rasterio, fiona, shapely, h5py' 2>/dev/null; then
    echo "bench: $python lacks torch, rasterio, fiona, shapely or h5py (launch/setup.sh --bench" \
      "installs them)" >&2
    exit 1
  fi
  local dir="$work/python"
  mkdir -p "$dir"
  echo "reference: $("$python" -c 'import torch; print("python3-torch", torch.__version__)')"
  case $1 in
    predict | all) python_predict "$dir" "$python" ;;&
    tile | all) python_tile "$dir" "$python" ;;&
    train | all) python_train "$dir" "$python" ;;
  esac
}

# predict + stitch side by side with launch/bench/predict_reference.py (rasterio + torch).
python_predict() {
  local dir=$1 python=$2 scene train
  scene="$dir/scene-2048"
  train="$dir/train-1024"
  [[ -f $scene/scene.tif ]] || "$satunet" synth --out "$scene" --size 2048 --bands 4 \
    --dtype uint16 --seed 7 -q >/dev/null
  [[ -f $train/scene.tif ]] || "$satunet" synth --out "$train" --size 1024 --bands 4 \
    --dtype uint16 --seed 8 -q >/dev/null
  local checkpoint="$dir/run/checkpoints/last.pt"
  if [[ ! -f $checkpoint ]]; then
    "$satunet" tile --out "$dir/dataset" --image "$train/scene.tif" --overwrite \
      --labels "building=$train/buildings.geojson" --labels "road=$train/roads.geojson" \
      --width-field width_m --tile 64 --overlap 0 --val-fraction 0.1 -q >/dev/null
    mpirun -n 2 --bind-to none "$satunet" train --data "$dir/dataset" --out "$dir/run" \
      --overwrite --base 16 --depth 4 --batch 8 --max-steps 150 --threads 1 -q >/dev/null
  fi
  echo "predict + stitch side by side: a 2048 x 2048 4-band uint16 scene, U-Net base 16 depth 4"
  echo "(trained 150 steps on another scene), 1 thread each, whole processes, median of 3 runs"
  local run window
  for run in 1 2 3; do
    timed python-predict python repeat="$run" window=256 -- "$python" launch/bench/predict_reference.py \
      --checkpoint "$checkpoint" --image "$scene/scene.tif" --out "$dir/python.tif" \
      --window 256 --overlap 64 --batch 4 --threads 1
    for window in 256 1024; do
      local batch=$((window == 256 ? 4 : 1))
      timed python-predict "predict-$window" repeat="$run" window="$window" -- "$satunet" predict \
        --checkpoint "$checkpoint" --image "$scene/scene.tif" --out "$dir/pred-$window" \
        --tile "$window" --overlap 64 --batch "$batch" --threads 1 --overwrite -q
      timed python-predict "stitch-$window" repeat="$run" window="$window" -- "$satunet" stitch \
        --pred "$dir/pred-$window" --out "$dir/satunet-$window.tif" --overwrite -q
    done
  done
  # The masks' agreement and each against the truth: mean foreground IoU from evaluate's JSON.
  # compare_masks NAME PRED TRUTH [evaluate options...]
  compare_masks() {
    "$satunet" evaluate --pred "$2" --truth "$3" "${@:4}" --objects none --roads none \
      --json "$dir/$1.json" --overwrite -q >/dev/null
    records evaluate "$dir/$1.json" python-predict compare="$1"
  }
  local classes=background,building,road
  compare_masks satunet-256-vs-python "$dir/satunet-256.tif" "$dir/python.tif" --classes "$classes"
  compare_masks satunet-1024-vs-python "$dir/satunet-1024.tif" "$dir/python.tif" --classes "$classes"
  compare_masks python-vs-truth "$dir/python.tif" "$scene/truth.tif" --classes "$classes"
  compare_masks satunet-256-vs-truth "$dir/satunet-256.tif" "$scene/truth.tif"
  compare_masks satunet-1024-vs-truth "$dir/satunet-1024.tif" "$scene/truth.tif"
}

# training side by side with launch/bench/train_reference.py (PyTorch DDP over gloo, an h5py
# DataLoader) on the same shards, 1 and 2 ranks, 1 thread each, whole processes under mpirun.
python_train() {
  local dir=$1 python=$2 runs=${SATUNET_BENCH_RUNS:-3}
  local scene="$dir/train-2048" data64="$dir/train-64" data256="$dir/train-256"
  [[ -f $scene/scene.tif ]] || "$satunet" synth --out "$scene" --size 2048 --seed 1 -q >/dev/null
  local tile
  for tile in 64 256; do
    [[ -f $dir/train-$tile/manifest.json ]] || "$satunet" tile --out "$dir/train-$tile" \
      --overwrite --image "$scene/scene.tif" --labels "building=$scene/buildings.geojson" \
      --labels "road=$scene/roads.geojson" --width-field width_m --tile "$tile" --overlap 0 \
      --val-fraction 0 -q >/dev/null
  done
  echo
  echo "training side by side: a 2048² RGB scene's shards, AdamW, cross-entropy, constant lr,"
  echo "1 thread per rank, whole processes under mpirun, median of $runs runs"
  echo "Python: PyTorch DistributedDataParallel (gloo) + h5py Dataset + DataLoader (1 worker)"
  local config
  for config in "64 8 16 300 $data64" "256 16 4 25 $data256"; do
    local base batch steps data ranks run
    read -r tile base batch steps data <<<"$config"
    local fields=(tile="$tile" base="$base" depth=4 batch="$batch" steps="$steps")
    for ranks in 1 2; do
      for ((run = 1; run <= runs; run++)); do
        timed python-train python "${fields[@]}" ranks="$ranks" repeat="$run" -- \
          mpirun -n "$ranks" --bind-to none "$python" \
          launch/bench/train_reference.py --data "$data" --base "$base" --depth 4 \
          --batch "$batch" --steps "$steps" --port $((29500 + RANDOM % 1000))
        timed python-train satunet "${fields[@]}" ranks="$ranks" repeat="$run" -- \
          mpirun -n "$ranks" --bind-to none "$satunet" train \
          --data "$data" --out "$dir/train-run" --overwrite --base "$base" --depth 4 \
          --batch "$batch" --max-steps "$steps" --threads 1 --schedule constant -q
      done
    done
  done
  # What this machine allows 2 ranks at best: two independent 1-rank runs at once, no
  # communication at all (they share the caches and the memory bandwidth all the same).
  local pair=(train --data "$data64" --base 8 --depth 4 --batch 16 --max-steps 300 --threads 1
    --schedule constant --overwrite -q)
  local fields=(tile=64 base=8 depth=4 batch=16 steps=300 ranks=1)
  measure "$dir/pair-a.time" "$satunet" "${pair[@]}" --out "$dir/pair-a" &
  measure "$dir/pair-b.time" "$satunet" "${pair[@]}" --out "$dir/pair-b"
  wait
  records time "$dir/pair-a.time" python-train pair-a "${fields[@]}"
  records time "$dir/pair-b.time" python-train pair-b "${fields[@]}"
}

# tile side by side: a 4096² 4-band uint16 scene and its vector labels, tile 256, overlap 32,
# against launch/bench/tile_reference.py (rasterio, fiona, shapely, h5py), both with deflate 1
# and both with LZ4 (HDF5 filter 32004: satunet's own, the reference's through Debian's
# hdf5-filter-plugin, which setup.sh installs).
python_tile() {
  local dir=$1 python=$2 scene="$1/scene-4096"
  [[ -f $scene/scene.tif ]] || "$satunet" synth --out "$scene" --size 4096 --bands 4 \
    --dtype uint16 --seed 9 -q >/dev/null
  echo
  echo "tile side by side: a 4096 x 4096 4-band uint16 scene + building and road GeoJSON, tile 256,"
  echo "overlap 32, 1 rank, whole processes, median of 3 runs"
  cat "$scene/scene.tif" >/dev/null
  local run codec
  for run in 1 2 3; do
    for codec in 1 lz4; do
      timed python-tile python codec="$codec" repeat="$run" -- "$python" launch/bench/tile_reference.py \
        --image "$scene/scene.tif" --labels "1=$scene/buildings.geojson" \
        --labels "2=$scene/roads.geojson" --out "$dir/tiles-python-$codec" --compress "$codec"
      timed python-tile satunet codec="$codec" repeat="$run" -- "$satunet" tile \
        --out "$dir/tiles-satunet-$codec" --overwrite --image "$scene/scene.tif" \
        --labels "building=$scene/buildings.geojson" --labels "road=$scene/roads.geojson" \
        --width-field width_m --tile 256 --overlap 32 --compress "$codec" -q
    done
  done
}

bench_evaluate() {
  echo "evaluate benchmark: a synthetic scene's class map against its vector labels (buildings as"
  echo "objects, roads as a graph with APLS), error map written; 1 rank"
  local side
  for side in 2048 4096 8192 "$size"; do
    ((side <= size)) || continue
    local dir
    dir=$(scene "$side")
    timed evaluate evaluate side="$side" -- "$satunet" evaluate --pred "$dir/truth.tif" \
      --truth-labels "building=$dir/buildings.geojson" --truth-labels "road=$dir/roads.geojson" \
      --width-field width_m --errors "$work/errors-$side.tif" --json "$work/evaluate-$side.json" \
      --overwrite -q
    # The test set's figures (its scores, not the scenes'), read from the JSON.
    records evaluate "$work/evaluate-$side.json" evaluate side="$side"
    [[ $side == "$size" ]] && break
  done
}

case "${1:-}" in
  tile | evaluate | python | infer | predict | model | train) ;;
  *)
    echo "usage: launch/bench.sh tile|model|train|infer|predict|evaluate|python" >&2
    exit 2
    ;;
esac
: >"$results"
records machine
case $1 in
  tile) bench_tile ;;
  evaluate) bench_evaluate ;;
  python) bench_python "${2:-all}" ;;
  infer) bench_infer ;;
  predict) bench_predict ;;
  model) bench_model ;;
  train) bench_train ;;
esac
# The figures against their goals (launch/bench/goals.json); its exit status is the run's.
echo
python3 launch/bench/compare.py "$results"
