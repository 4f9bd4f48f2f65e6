#!/usr/bin/env bash
# Fuzzes every parser of outside bytes: builds the libFuzzer targets with Clang and
# AddressSanitizer (in build-fuzz/), makes a seed corpus from the real samples in
# tests/data/real (with the main build's satunet), and runs each target for SECONDS, two at a
# time. A crash, a hang (-timeout), an allocation beyond -malloc_limit_mb or a rejection that is
# not a satunet::Error is a finding: its input is kept in build-fuzz/findings/TARGET/ and the
# script exits 1. Fixed findings live on in tests/fuzz/regressions/TARGET/, which every run
# tries first. Exit 77 (a skip for ctest) without Clang.
#   launch/fuzz.sh [SECONDS [TARGET...]]     (default: 30 s each, every target)
#   SATUNET_BUILD_DIR   the main build, whose satunet makes the seeds (default: build)
#   SATUNET_FUZZ_DIR    the fuzzing build (default: build-fuzz)
# The corpus each run grows is kept in build-fuzz/corpus/TARGET/ and reused by the next, so
# longer or repeated runs go deeper: launch/fuzz.sh 3600 shard
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(manifest prediction_index scene_list config shard checkpoint)
fi
build_dir=${SATUNET_BUILD_DIR:-build}
fuzz_dir=${SATUNET_FUZZ_DIR:-build-fuzz}
satunet="$build_dir/satunet"
[[ -x $satunet ]] || {
  echo "fuzz: $satunet is not built (launch/setup.sh builds it)" >&2
  exit 1
}
command -v clang++ >/dev/null || {
  echo "fuzz: clang++ is missing (apt-get install clang libclang-rt-14-dev)" >&2
  exit 77
}

if [[ ! -f "$fuzz_dir/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$fuzz_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSATUNET_FUZZ=ON -DSATUNET_BUILD_TESTS=OFF >"$fuzz_dir.configure.log" 2>&1 || {
    cat "$fuzz_dir.configure.log" >&2
    exit 1
  }
fi
cmake --build "$fuzz_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

# ---- seeds: real samples through the real stages ----
seeds="$fuzz_dir/seeds"
seeds_version=2 # raised when the seeds change (2: LZ4 shards)
if [[ $(cat "$seeds/.complete" 2>/dev/null) != "$seeds_version" ]]; then
  rm -rf "$seeds"
  work="$fuzz_dir/seed-work"
  rm -rf "$work"
  mkdir -p "$work" "$seeds"/{manifest,prediction_index,scene_list,config,shard,checkpoint}
  real=tests/data/real
  # A 64 px corner of the Kampala sample and its mask: small files make fast inputs.
  gdal_translate -q -srcwin 0 0 64 64 "$real/kampala_train/image.tif" "$work/image.tif"
  gdal_translate -q -srcwin 0 0 64 64 "$real/kampala_train/mask.tif" "$work/mask.tif"
  "$satunet" tile --out "$work/dataset" --image "$work/image.tif" --mask "$work/mask.tif" \
    --classes background,building --tile 32 --overlap 0 --val-fraction 0 --shard-tiles 2 -q \
    >/dev/null
  "$satunet" tile --out "$work/atlanta" --image "$real/spacenet4_atlanta_buildings/image.tif" \
    --labels "building=$real/spacenet4_atlanta_buildings/buildings.geojson" \
    --classes background,building --tile 256 --val-fraction 0.2 --compress 1 -q >/dev/null
  "$satunet" tile --out "$work/lz4" --image "$work/image.tif" --mask "$work/mask.tif" \
    --classes background,building --tile 32 --overlap 0 --val-fraction 0 --shard-tiles 2 \
    --compress lz4 -q >/dev/null
  "$satunet" train --data "$work/dataset" --out "$work/run" --base 4 --depth 2 --batch 2 \
    --max-steps 2 --threads 1 -q >/dev/null
  "$satunet" predict --checkpoint "$work/run/checkpoints/last.pt" --image "$work/image.tif" \
    --out "$work/pred" --tile 32 --threads 1 -q >/dev/null
  cp "$work/dataset/manifest.json" "$seeds/manifest/kampala.json"
  cp "$work/atlanta/manifest.json" "$seeds/manifest/atlanta.json"
  cp "$work/pred/prediction.json" "$seeds/prediction_index/kampala.json"
  cp "$work"/dataset/shards/*.h5 "$seeds/shard/"
  for shard in "$work"/lz4/shards/*.h5; do cp "$shard" "$seeds/shard/lz4-$(basename "$shard")"; done
  cp "$work"/pred/shards/*.h5 "$seeds/shard/"
  cp "$work/run/checkpoints/last.pt" "$seeds/checkpoint/kampala.pt"
  # named by folder too: configs/roads.ini and datasets/roads.ini are different files
  for config in configs/*.ini datasets/*.ini; do
    cp "$config" "$seeds/config/${config%%/*}-${config##*/}"
  done
  printf 'image,mask\n%s,%s\n' "$work/image.tif" "$work/mask.tif" >"$seeds/scene_list/masks.csv"
  printf 'image,labels\n%s,building=%s;road=%s\n' "$real/spacenet4_atlanta_buildings/image.tif" \
    "$real/spacenet4_atlanta_buildings/buildings.geojson" \
    "$real/spacenet3_vegas_roads/roads.geojson" >"$seeds/scene_list/labels.csv"
  echo "$seeds_version" >"$seeds/.complete"
fi
# Every earlier finding, fixed, stays in the corpus: the first pass over it would find it again.
for target in "${targets[@]}"; do
  if [[ -d tests/fuzz/regressions/$target ]]; then
    cp tests/fuzz/regressions/"$target"/* "$seeds/$target/"
  fi
done

# ---- runs ----
fuzz_one() {
  local target=$1
  local corpus="$fuzz_dir/corpus/$target" findings="$fuzz_dir/findings/$target"
  mkdir -p "$corpus" "$findings"
  # Leaks are not findings: GDAL, HDF5 and LibTorch keep process-wide caches on purpose.
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 TMPDIR="$fuzz_dir" \
    "$fuzz_dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=4096 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$seeds/$target" >"$fuzz_dir/$target.log" 2>&1
}
echo "fuzz: ${targets[*]}, ${seconds} s each, seeds from tests/data/real"
failed=()
running=()
for target in "${targets[@]}"; do
  fuzz_one "$target" &
  running+=("$!:$target")
  if ((${#running[@]} == 2)); then
    pid=${running[0]%%:*}
    wait "$pid" || failed+=("${running[0]#*:}")
    running=("${running[@]:1}")
  fi
done
for entry in "${running[@]}"; do
  wait "${entry%%:*}" || failed+=("${entry#*:}")
done
for target in "${targets[@]}"; do
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$fuzz_dir/$target.log")
  inputs=$(find "$fuzz_dir/corpus/$target" -type f | wc -l)
  echo "  $target: ${runs:-?} inputs tried, corpus of $inputs"
done
if ((${#failed[@]})); then
  for target in "${failed[@]}"; do
    echo "fuzz: FINDING in $target (input in $fuzz_dir/findings/$target/):" >&2
    grep -E "ERROR|finding|SUMMARY|==[0-9]+==" "$fuzz_dir/$target.log" | head -n 5 >&2 || true
  done
  exit 1
fi
echo "fuzz: no finding"
