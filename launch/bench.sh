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
# Environment: SATUNET_BENCH_DIR (default build/bench), SATUNET_BENCH_SIZE (default 16384).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh >/dev/null
if ! command -v /usr/bin/time >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
build_dir=${SATUNET_BUILD_DIR:-build}
satunet="$PWD/$build_dir/satunet"
work=${SATUNET_BENCH_DIR:-$build_dir/bench}
size=${SATUNET_BENCH_SIZE:-16384}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$work"

# Peak resident set size in MB of a command (GNU time), its wall time in seconds.
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
peak_mb() { awk '{printf "%.0f", $1 / 1024}' "$1"; }
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
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m)"

  # Warm the page cache so both readers start from the same place.
  cat "$big/scene.tif" >/dev/null
  read -r _ read_s read_mbs < <(GDAL_NUM_THREADS=1 "$build_dir/tests/bench/satunet_bench_read" "$big/scene.tif")
  read -r _ read_threads_s read_threads_mbs < <(GDAL_NUM_THREADS=ALL_CPUS "$build_dir/tests/bench/satunet_bench_read" "$big/scene.tif")

  # shellcheck disable=SC2046
  measure "$work/tile1.time" "$satunet" tile $(tile_args "$big" "$work/ds1")
  # shellcheck disable=SC2046
  measure "$work/tile1c1.time" "$satunet" tile $(tile_args "$big" "$work/ds1c1") --compress 1
  # shellcheck disable=SC2046
  measure "$work/tile1lz4.time" "$satunet" tile $(tile_args "$big" "$work/ds1lz4") --compress lz4
  # shellcheck disable=SC2046
  measure "$work/tile2.time" mpirun -n 2 --bind-to none "$satunet" tile $(tile_args "$big" "$work/ds2")
  # Per-rank peak memory: each rank under its own GNU time.
  # shellcheck disable=SC2016,SC2046
  mpirun -n 2 --bind-to none bash -c '/usr/bin/time -f "%M %e" -o "$0.rank$OMPI_COMM_WORLD_RANK.time" "$@"' \
    "$work/tile2" "$satunet" tile $(tile_args "$big" "$work/ds2b") >/dev/null
  # shellcheck disable=SC2046
  measure "$work/tile_small.time" "$satunet" tile $(tile_args "$small" "$work/ds_small")

  # The bytes the uncompressed dataset holds, written plainly: the floor of any tiler here.
  local dataset_mb write_s
  dataset_mb=$(du -sm "$work/ds1/shards" | cut -f1)
  write_s=$( { /usr/bin/time -f "%e" dd if=/dev/zero of="$work/write.test" bs=1M count="$dataset_mb" conv=fsync status=none; } 2>&1 )
  rm -f "$work/write.test"
  local t1 t1c1 t1lz4 t2
  t1=$(wall_s "$work/tile1.time")
  t1c1=$(wall_s "$work/tile1c1.time")
  t1lz4=$(wall_s "$work/tile1lz4.time")
  t2=$(wall_s "$work/tile2.time")
  awk -v cores="$(nproc)" -v src="$source_mb" -v r="$read_s" -v rmbs="$read_mbs" -v t1="$t1" -v t1c1="$t1c1" -v t1lz4="$t1lz4" -v t2="$t2" -v rt="$read_threads_s" -v rtmbs="$read_threads_mbs" \
    -v wmb="$dataset_mb" -v ws="$write_s" \
    -v m1="$(peak_mb "$work/tile1.time")" -v ms="$(peak_mb "$work/tile_small.time")" 'BEGIN {
      printf "plain GDAL read, 1 thread:          %7.2f s  %8.1f MB/s\n", r, rmbs
      printf "plain GDAL read, %d decode threads:  %7.2f s  %8.1f MB/s\n", cores, rt, rtmbs
      printf "satunet tile, 1 rank (uncompressed): %6.2f s  %8.1f MB/s   ratio %.2f to the 1-thread read (goal >= 0.7), %.2f to the threaded one\n", t1, src / t1, (src / t1) / rmbs, (src / t1) / rtmbs
      printf "plain write of the %d MB the dataset holds (dd): %.2f s; threaded read + this write: %.2f s, tile reaches %.2f of it\n", wmb, ws, rt + ws, (rt + ws) / t1
      printf "satunet tile, 1 rank, --compress 1:  %6.2f s  %8.1f MB/s   ratio %.2f to the 1-thread read (goal >= 0.5)\n", t1c1, src / t1c1, (src / t1c1) / rmbs
      printf "satunet tile, 1 rank, --compress lz4: %5.2f s  %8.1f MB/s   ratio %.2f to the 1-thread read\n", t1lz4, src / t1lz4, (src / t1lz4) / rmbs
      printf "satunet tile, 2 ranks:  %7.2f s  %8.1f MB/s   speed-up %.2fx\n", t2, src / t2, t1 / t2
      printf "peak RSS, 1 rank:       %7d MB (scene of 4x the pixels) vs %d MB: growth %.2fx (goal < 500 MB, flat)\n", m1, ms, m1 / ms
    }'
  for f in "$work"/tile2.rank*.time; do
    echo "peak RSS, 2 ranks, $(basename "$f" .time | sed 's/tile2.//'): $(peak_mb "$f") MB"
  done
}

bench_model() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m)"
  "$build_dir/tests/bench/satunet_bench_model" "${SATUNET_BENCH_TILE:-256}" "${SATUNET_BENCH_BATCH:-4}" 3
}

bench_train() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m)"
  local scene_dir="$work/train-scene" data="$work/train-data"
  if [[ ! -f "$data/manifest.json" ]]; then
    "$satunet" synth --out "$scene_dir" --size 2048 --seed 1 -q >/dev/null
    "$satunet" tile --out "$data" --overwrite --image "$scene_dir/scene.tif" \
      --labels "building=$scene_dir/buildings.geojson" --labels "road=$scene_dir/roads.geojson" \
      --width-field width_m --tile 64 --overlap 0 --val-fraction 0 -q >/dev/null
  fi
  local args=(--data "$data" --base 8 --depth 3 --batch 8 --max-steps 120 --threads 1
    --schedule constant --val-every 1000 -q)
  "$satunet" train "${args[@]}" --overwrite --out "$work/train1" >/dev/null
  mpirun -n 2 --bind-to none "$satunet" train "${args[@]}" --overwrite --out "$work/train2" >/dev/null
  # The last rows of metrics.csv, by column name.
  local one="$work/train1/metrics.csv" two="$work/train2/metrics.csv"
  awk -v a_rate="$(csv_last "$one" samples_per_s)" -v a_data="$(csv_last "$one" data_wait_pct)" \
    -v b_rate="$(csv_last "$two" samples_per_s)" -v b_data="$(csv_last "$two" data_wait_pct)" \
    -v b_comm="$(csv_last "$two" comm_wait_pct)" 'BEGIN {
    printf "U-Net base 8, depth 3, 64 px tiles, batch 8 per rank, 1 thread per rank, 120 steps\n"
    printf "1 rank:  %8.1f samples/s, %5.2f%% waiting for data\n", a_rate, a_data
    printf "2 ranks: %8.1f samples/s, %5.2f%% waiting for data, %5.2f%% waiting for communication\n", b_rate, b_data, b_comm
    printf "scaling 1 -> 2 ranks: %.2fx (goal >= 1.85)\n", b_rate / a_rate
  }'
  mpirun -n 2 --bind-to none "$build_dir/tests/bench/satunet_bench_train" "$data" 60
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
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m)"
  local predict=(predict --checkpoint "$checkpoint" --tile "$tile" --overlap "$overlap"
    --batch "$batch" --overwrite -q)
  # Each timed twice, the faster run kept.
  local forward_runs
  forward_runs=$(for _ in 1 2; do
    "$infer" forward "$checkpoint" "$small/scene.tif" "$tile" "$overlap" "$batch" "$(nproc)"
  done | sort -k2,2n | head -n 1)
  read -r windows forward_s forward_mpxs <<<"$forward_runs"
  measure_best "$work/predict1.time" "$satunet" "${predict[@]}" --image "$small/scene.tif" \
    --out "$work/pred1" --threads "$(nproc)"
  measure_best "$work/stitch1.time" "$satunet" stitch --overwrite --pred "$work/pred1" --out "$work/mask1.tif" -q
  measure_best "$work/predict2.time" mpirun -n 2 --bind-to none "$satunet" "${predict[@]}" \
    --image "$small/scene.tif" --out "$work/pred2" --threads 1
  measure "$work/predict_big.time" "$satunet" "${predict[@]}" --image "$big/scene.tif" \
    --out "$work/pred_big" --threads "$(nproc)"
  measure "$work/stitch_big.time" "$satunet" stitch --overwrite --pred "$work/pred_big" --out "$work/mask_big.tif" -q
  awk -v size="$size" -v windows="$windows" -v fs="$forward_s" -v fm="$forward_mpxs" \
    -v p1="$(wall_s "$work/predict1.time")" -v s1="$(wall_s "$work/stitch1.time")" \
    -v p2="$(wall_s "$work/predict2.time")" \
    -v mp="$(peak_mb "$work/predict1.time")" -v mpb="$(peak_mb "$work/predict_big.time")" \
    -v ms="$(peak_mb "$work/stitch1.time")" -v msb="$(peak_mb "$work/stitch_big.time")" 'BEGIN {
      mpx = size * size / 1e6
      printf "scene %d x %d (%.1f Mpx), %d windows\n", size, size, mpx, windows
      printf "bare forward + softmax, windows in memory:  %7.2f s  %6.2f Mpx/s\n", fs, fm
      printf "satunet predict, 1 rank:                    %7.2f s  %6.2f Mpx/s\n", p1, mpx / p1
      printf "satunet stitch:                             %7.2f s  %6.2f Mpx/s\n", s1, mpx / s1
      printf "predict + stitch:                           %7.2f s  %6.2f Mpx/s   ratio %.2f to the bare forward (goal >= 0.85)\n", p1 + s1, mpx / (p1 + s1), fs / (p1 + s1)
      printf "satunet predict, 2 ranks x 1 thread:        %7.2f s  %6.2f Mpx/s   speed-up %.2fx over 1 rank x %d threads\n", p2, mpx / p2, p1 / p2, 2
      printf "peak RSS predict: %d MB, with 4x the pixels %d MB: growth %.2fx (goal <= 1.25)\n", mp, mpb, mpb / mp
      printf "peak RSS stitch:  %d MB, with 4x the pixels %d MB: growth %.2fx (goal <= 1.25)\n", ms, msb, msb / ms
    }'
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
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m)"
  local bench=(bench predict --tile 256 --overlap 64 --batch "$batch" --overwrite -q)
  seconds_of() {  # the "predicted N windows (M Mpx) in S s" line -> S
    sed -n 's/^predicted [0-9]* windows ([0-9.]* Mpx) in \([0-9.e+-]*\) s.*/\1/p'
  }
  best_of_2() {  # best_of_2 COMMAND... -> the smaller of two runs' seconds
    local first second
    first=$("$@" | seconds_of)
    second=$("$@" | seconds_of)
    awk -v a="$first" -v b="$second" 'BEGIN {print (a < b ? a : b)}'
  }
  local name scene direct shards stitch
  for name in scene scene-uncompressed; do
    scene="$dir/$name.tif"
    cat "$scene" >/dev/null  # from the page cache, as the second run reads it anyway
    direct=$(best_of_2 "$satunet" "${bench[@]}" --image "$scene" --stitch-to "$work/predict-mask.tif")
    shards=$(best_of_2 "$satunet" "${bench[@]}" --image "$scene" --out "$work/predict-shards" --compress lz4)
    measure_best "$work/predict-stitch.time" "$satunet" stitch --pred "$work/predict-shards" \
      --out "$work/predict-stitched.tif" --overwrite -q
    stitch=$(wall_s "$work/predict-stitch.time")
    awk -v name="$name" -v mpx="$(awk -v s="$size" 'BEGIN {print s * s / 1e6}')" -v d="$direct" \
      -v p="$shards" -v t="$stitch" 'BEGIN {
        printf "%-20s blended straight into the mask: %6.2f s %7.1f Mpx/s (goal >= 150)\n", name, d, mpx / d
        printf "%-20s LZ4 shards %.2f s + stitch %.2f s:  %6.2f s %7.1f Mpx/s\n", name, p, t, p + t, mpx / (p + t)
      }'
  done
  cmp -s "$work/predict-mask.tif" "$work/predict-stitched.tif" ||
    echo "the two paths gave different masks" >&2
}

median_s() {  # median_s LOG... -> the median wall time of the logs
  for log in "$@"; do wall_s "$log"; done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
max_mb() {  # max_mb LOG... -> the largest peak RSS of the logs
  for log in "$@"; do peak_mb "$log"; echo; done | sort -n | tail -n 1
}

bench_python() {
  local python=/usr/bin/python3
  if ! "$python" -c 'import torch, rasterio, fiona, shapely, h5py' 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-rasterio \
      python3-fiona python3-shapely python3-h5py >/dev/null
  fi
  local dir="$work/python"
  mkdir -p "$dir"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m); $("$python" -c 'import torch; print("python3-torch", torch.__version__)')"
  case $1 in
    predict | all) python_predict "$dir" "$python" ;;&
    tile | all) python_tile "$dir" "$python" ;;&
    train | all) python_train "$dir" "$python" ;;
    predict | tile) ;;
    *)
      echo "usage: launch/bench.sh python [predict|tile|train]" >&2
      exit 2
      ;;
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
  local run
  for run in 1 2 3; do
    measure "$dir/python-$run.time" "$python" launch/bench/predict_reference.py \
      --checkpoint "$checkpoint" --image "$scene/scene.tif" --out "$dir/python.tif" \
      --window 256 --overlap 64 --batch 4 --threads 1
    for window in 256 1024; do
      local batch=$((window == 256 ? 4 : 1))
      measure "$dir/predict-$window-$run.time" "$satunet" predict --checkpoint "$checkpoint" \
        --image "$scene/scene.tif" --out "$dir/pred-$window" --tile "$window" --overlap 64 \
        --batch "$batch" --threads 1 --overwrite -q
      measure "$dir/stitch-$window-$run.time" "$satunet" stitch --pred "$dir/pred-$window" \
        --out "$dir/satunet-$window.tif" --overwrite -q
    done
  done
  local agree_256 agree_1024
  agree_256=$("$satunet" evaluate --pred "$dir/satunet-256.tif" --truth "$dir/python.tif" \
    --classes background,building,road --objects none --roads none -q | awk '/mean foreground IoU/ {print $NF}')
  agree_1024=$("$satunet" evaluate --pred "$dir/satunet-1024.tif" --truth "$dir/python.tif" \
    --classes background,building,road --objects none --roads none -q | awk '/mean foreground IoU/ {print $NF}')
  local truth_256 truth_1024 truth_python
  truth_python=$("$satunet" evaluate --pred "$dir/python.tif" --truth "$scene/truth.tif" \
    --classes background,building,road --objects none --roads none -q | awk '/mean foreground IoU/ {print $NF}')
  truth_256=$("$satunet" evaluate --pred "$dir/satunet-256.tif" --truth "$scene/truth.tif" \
    --objects none --roads none -q | awk '/mean foreground IoU/ {print $NF}')
  truth_1024=$("$satunet" evaluate --pred "$dir/satunet-1024.tif" --truth "$scene/truth.tif" \
    --objects none --roads none -q | awk '/mean foreground IoU/ {print $NF}')
  awk -v py="$(median_s "$dir"/python-{1,2,3}.time)" -v pym="$(max_mb "$dir"/python-{1,2,3}.time)" \
    -v p256="$(median_s "$dir"/predict-256-{1,2,3}.time)" -v s256="$(median_s "$dir"/stitch-256-{1,2,3}.time)" \
    -v p1024="$(median_s "$dir"/predict-1024-{1,2,3}.time)" -v s1024="$(median_s "$dir"/stitch-1024-{1,2,3}.time)" \
    -v m256="$(max_mb "$dir"/predict-256-{1,2,3}.time)" -v m1024="$(max_mb "$dir"/predict-1024-{1,2,3}.time)" \
    -v a256="$agree_256" -v a1024="$agree_1024" -v tpy="$truth_python" -v t256="$truth_256" -v t1024="$truth_1024" 'BEGIN {
      printf "%-46s %8s %8s %9s %12s %12s\n", "", "wall", "peak MB", "speed", "IoU vs ref", "IoU vs truth"
      printf "%-46s %7.2fs %8d %8.2fx %12s %12.4f\n", "Python: rasterio + torch, 256 px windows", py, pym, 1, "-", tpy
      printf "%-46s %7.2fs %8d %8.2fx %12.4f %12.4f\n", "satunet predict + stitch, 256 px windows", p256 + s256, m256, py / (p256 + s256), a256, t256
      printf "%-46s %7.2fs %8d %8.2fx %12.4f %12.4f\n", "satunet predict + stitch, 1024 px windows", p1024 + s1024, m1024, py / (p1024 + s1024), a1024, t1024
      printf "goal: >= 1.5x the Python reference with the masks agreeing at mean IoU >= 0.99\n"
    }'
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
  printf "%-36s %6s %10s %10s %8s %10s %10s %8s\n" "" "ranks" "Python" "satunet" "speed" \
    "Python MB" "satunet MB" ""
  local config
  for config in "64 8 16 300 $data64" "256 16 4 25 $data256"; do
    local base batch steps data ranks run
    read -r tile base batch steps data <<<"$config"
    local one_py="" one_sat=""
    for ranks in 1 2; do
      local logs_py=() logs_sat=()
      for ((run = 1; run <= runs; run++)); do
        local log="$dir/train-$tile-$ranks-$run"
        measure "$log.python.time" mpirun -n "$ranks" --bind-to none "$python" \
          launch/bench/train_reference.py --data "$data" --base "$base" --depth 4 \
          --batch "$batch" --steps "$steps" --port $((29500 + RANDOM % 1000))
        measure "$log.satunet.time" mpirun -n "$ranks" --bind-to none "$satunet" train \
          --data "$data" --out "$dir/train-run" --overwrite --base "$base" --depth 4 \
          --batch "$batch" --max-steps "$steps" --threads 1 --schedule constant -q
        logs_py+=("$log.python.time")
        logs_sat+=("$log.satunet.time")
      done
      local py sat
      py=$(median_s "${logs_py[@]}")
      sat=$(median_s "${logs_sat[@]}")
      one_py=${one_py:-$py}
      one_sat=${one_sat:-$sat}
      awk -v label="base $base depth 4, $tile px, batch $batch, $steps steps" -v ranks="$ranks" \
        -v py="$py" -v sat="$sat" -v pym="$(max_mb "${logs_py[@]}")" \
        -v satm="$(max_mb "${logs_sat[@]}")" -v py1="$one_py" -v sat1="$one_sat" 'BEGIN {
          scaling = ranks > 1 ? sprintf("scaling %.2fx vs DDP %.2fx", 2 * sat1 / sat, 2 * py1 / py) : ""
          printf "%-36s %6d %9.2fs %9.2fs %7.2fx %10d %10d   %s\n", label, ranks, py, sat, py / sat, pym, satm, scaling
        }'
    done
  done
  # What this machine allows 2 ranks at best: two independent 1-rank runs at once, no
  # communication at all (they share the caches and the memory bandwidth all the same).
  local pair=(train --data "$data64" --base 8 --depth 4 --batch 16 --max-steps 300 --threads 1
    --schedule constant --overwrite -q)
  measure "$dir/pair-a.time" "$satunet" "${pair[@]}" --out "$dir/pair-a" &
  measure "$dir/pair-b.time" "$satunet" "${pair[@]}" --out "$dir/pair-b"
  wait
  awk -v one="$(median_s "$dir"/train-64-1-*.satunet.time)" -v a="$(wall_s "$dir/pair-a.time")" \
    -v b="$(wall_s "$dir/pair-b.time")" 'BEGIN {
      printf "the machine'"'"'s own ceiling (64 px): two independent 1-rank runs at once take %.2fs, %.2fs: %.2fx\n", a, b, 2 * one / (a > b ? a : b)
    }'
  echo "goals: >= 1.1x DDP at 1 rank, >= 1.2x at 2, scaling >= 1.9x (64 px); >= 1.05x / 1.1x (256 px)"
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
      measure "$dir/tile-python-$codec-$run.time" "$python" launch/bench/tile_reference.py \
        --image "$scene/scene.tif" --labels "1=$scene/buildings.geojson" \
        --labels "2=$scene/roads.geojson" --out "$dir/tiles-python-$codec" --compress "$codec"
      measure "$dir/tile-satunet-$codec-$run.time" "$satunet" tile \
        --out "$dir/tiles-satunet-$codec" --overwrite --image "$scene/scene.tif" \
        --labels "building=$scene/buildings.geojson" --labels "road=$scene/roads.geojson" \
        --width-field width_m --tile 256 --overlap 32 --compress "$codec" -q
    done
  done
  local -A py sat pym satm
  for codec in 1 lz4; do
    py[$codec]=$(median_s "$dir"/tile-python-"$codec"-{1,2,3}.time)
    pym[$codec]=$(max_mb "$dir"/tile-python-"$codec"-{1,2,3}.time)
    sat[$codec]=$(median_s "$dir"/tile-satunet-"$codec"-{1,2,3}.time)
    satm[$codec]=$(max_mb "$dir"/tile-satunet-"$codec"-{1,2,3}.time)
  done
  awk -v py1="${py[1]}" -v pym1="${pym[1]}" -v sat1="${sat[1]}" -v satm1="${satm[1]}" \
    -v pyl="${py[lz4]}" -v pyml="${pym[lz4]}" -v satl="${sat[lz4]}" -v satml="${satm[lz4]}" 'BEGIN {
      printf "%-48s %7.2fs %6d MB %7.2fx\n", "Python (rasterio, fiona, shapely, h5py), gzip 1", py1, pym1, 1
      printf "%-48s %7.2fs %6d MB %7.2fx   (goal >= 5x)\n", "satunet tile --compress 1", sat1, satm1, py1 / sat1
      printf "%-48s %7.2fs %6d MB %7.2fx\n", "satunet tile --compress lz4", satl, satml, py1 / satl
      printf "%-48s %7.2fs %6d MB %7.2fx\n", "Python, LZ4 (h5py through the plugin)", pyl, pyml, py1 / pyl
      printf "like for like: deflate 1 %.2fx, LZ4 %.2fx\n", py1 / sat1, pyl / satl
    }'
}

bench_evaluate() {
  echo "evaluate benchmark: a synthetic scene's class map against its vector labels (buildings as"
  echo "objects, roads as a graph with APLS), error map written; 1 rank"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -m)"
  printf "%8s %9s %9s %9s %11s %12s %10s %8s\n" "size" "Mpx" "seconds" "Mpx/s" "peak MB" "memory/2048" "buildings" "APLS"
  local side first_mb=""
  for side in 2048 4096 8192 "$size"; do
    ((side <= size)) || continue
    local dir
    dir=$(scene "$side")
    measure "$work/evaluate-$side.time" "$satunet" evaluate --pred "$dir/truth.tif" \
      --truth-labels "building=$dir/buildings.geojson" --truth-labels "road=$dir/roads.geojson" \
      --width-field width_m --errors "$work/errors-$side.tif" --json "$work/evaluate-$side.json" \
      --overwrite -q
    local mb
    mb=$(peak_mb "$work/evaluate-$side.time")
    first_mb=${first_mb:-$mb}
    # The test set's figures come first in the JSON (its keys are sorted; "scenes" is last).
    awk -v side="$side" -v seconds="$(wall_s "$work/evaluate-$side.time")" -v mb="$mb" \
      -v first="$first_mb" -F'[:,]' '
      /"true_positives"/ && tp == "" { tp = $2 }
      /"false_negatives"/ && fn == "" { fn = $2 }
      /"apls"/ && apls == "" { apls = $2 }
      END {
        mpx = side * side / 1e6
        printf "%8d %9.1f %9.2f %9.2f %11d %11.2fx %10d %8.4f\n", side, mpx, seconds, mpx / seconds, mb, mb / first, tp + fn, apls
      }' "$work/evaluate-$side.json"
    [[ $side == "$size" ]] && break
  done
}

case "${1:-}" in
  tile) bench_tile ;;
  evaluate) bench_evaluate ;;
  python) bench_python "${2:-all}" ;;
  infer) bench_infer ;;
  predict) bench_predict ;;
  model) bench_model ;;
  train) bench_train ;;
  *)
    echo "usage: launch/bench.sh tile|model|train|infer|predict|evaluate|python" >&2
    exit 2
    ;;
esac
