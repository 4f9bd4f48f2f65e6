#!/usr/bin/env bash
# The GPU proof, one command on the GPU node the device tool lends (one NVIDIA H200; Ubuntu 24.04,
# gcc 13, CMake 4, LibTorch 2.x and NCCL in its Python environment, nvcc; Boost 1.83 without
# Program_options; no MPI, GDAL or HDF5; no network):
#   1. unpack launch/gpu/pack.sh's kit into a prefix of its own (/opt/satunet-kit; never over the
#      image's /usr) and take Open MPI, GDAL, HDF5, Boost 1.74 and the rest from there
#      (launch/gpu/kit.sh);
#   2. configure and build satunet against the kit, the image's LibTorch, NCCL and nvcc;
#   3. run the GPU tests (NcclGpu, PredictGpu, TrainGpu) on one rank: one GPU means one NCCL
#      rank (NCCL refuses two ranks on one device);
#   4. measure, side by side: the NCCL all-reduce on device buffers; training samples/s of
#      satunet and of PyTorch eager (the same U-Net, batch, tile and data) in fp32 and bf16;
#      prediction Mpx/s in fp32 and bf16 against the bare forward, and how many mask pixels
#      bf16 changes.
# Everything it prints is also in $OUT/gpu-report.txt (build/gpu-check/ without $OUT).
#   launch/gpu/check.sh          on the GPU node (from the repository root, kit carried)
#   launch/gpu/check.sh --cpu    here, as root: the dry run. In a mount namespace of its own the
#       kit is unpacked into a temporary prefix and this system's copies of the kit's packages
#       are hidden; satunet is configured against the prefix, the sources that need no LibTorch
#       and read the kit's headers are compiled, every kit library the build links is linked and
#       loaded; then the steps above run, GPU steps skipped, tiny sizes, with the programs of
#       this machine's own build (SATUNET_GPU_PROGRAMS, default build) loading the kit's
#       libraries.
# Environment: SATUNET_GPU_BUILD_DIR (default build-gpu), SATUNET_GPU_KIT (default
# build/gpu-kit/satunet-gpu-kit.tar.xz), SATUNET_GPU_KIT_PREFIX (default /opt/satunet-kit, in
# --cpu mode BUILD_DIR/kit-prefix), SATUNET_GPU_JOBS (compile jobs, default all cores).
set -uo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$self")/../.." || exit 1
mode=gpu
if [[ ${1:-} == --cpu ]]; then mode=cpu; fi
# The dry run hides this system's copies in a mount namespace of its own, which ends with it.
if [[ $mode == cpu && ${SATUNET_GPU_CHECK_NAMESPACE:-} != 1 ]]; then
  SATUNET_GPU_CHECK_NAMESPACE=1 exec unshare --mount --propagation private bash "$self" "$@"
fi
# shellcheck source=launch/gpu/kit.sh
source launch/gpu/kit.sh
out=${OUT:-build/gpu-check}
mkdir -p "$out"
report=$out/gpu-report.txt
: >"$report"
exec > >(tee -a "$report") 2>&1
build=${SATUNET_GPU_BUILD_DIR:-build-gpu}
kit=${SATUNET_GPU_KIT:-build/gpu-kit/satunet-gpu-kit.tar.xz}
work=$build/gpu-work
satunet=$build/satunet
jobs=${SATUNET_GPU_JOBS:-$(nproc)}
if [[ $mode == gpu ]]; then
  prefix=${SATUNET_GPU_KIT_PREFIX:-/opt/satunet-kit}
else
  mkdir -p "$build"
  prefix=${SATUNET_GPU_KIT_PREFIX:-$(realpath "$build")/kit-prefix}
  programs=${SATUNET_GPU_PROGRAMS:-build}
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
failures=0
summary=()

# The GPU's utilisation (%, one sample each 200 ms) while a command runs, into FILE.
with_gpu_load() {
  local file=$1
  shift
  if [[ $mode != gpu ]]; then
    "$@"
    return
  fi
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 >"$file" &
  local sampler=$!
  "$@"
  local status=$?
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  return "$status"
}
mean_of() {
  if [[ ! -s $1 ]]; then
    echo "-"
    return
  fi
  awk '{s += $1; n++} END {if (n) printf "%.0f", s / n; else print "-"}' "$1"
}
step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}
note() { summary+=("$*"); }
# The last row's value of column `name` in a CSV file.
# shellcheck source=launch/run_csv.sh
source launch/run_csv.sh

# Sizes: enough work for steady timings on an H200; seconds on a 2-core CPU.
if [[ $mode == gpu ]]; then
  train_scene=4096 epochs=8 base=16 depth=4 batch=16 predict_scene=8192 predict_batch=32
  torch_steps=120 precisions=(fp32 bf16) device=cuda compiled=1
else
  train_scene=512 epochs=2 base=4 depth=2 batch=2 predict_scene=512 predict_batch=4
  torch_steps=4 precisions=(fp32) device=cpu compiled=
fi

step "machine ($mode mode)"
date -u
grep -h PRETTY_NAME /etc/os-release 2>/dev/null
echo "cores: $(nproc)"
if [[ $mode == gpu ]]; then
  nvidia-smi -L || fail "nvidia-smi"
  nvcc --version | tail -2
  python3 -c 'import torch; print("python torch", torch.__version__, "CUDA", torch.version.cuda)'
fi

step "kit: $kit"
if [[ ! -f $kit ]]; then
  fail "no kit: run launch/gpu/pack.sh here and carry build/gpu-kit"
  exit 1
fi
kit_unpack "$kit" "$prefix" || { fail "unpacking the kit into $prefix"; exit 1; }
if [[ $mode == cpu ]]; then
  step "this system's copies of the kit hidden"
  kit_hide_system "$prefix" || { fail "hiding this system's copies of the kit"; exit 1; }
else
  kit_environment "$prefix"
fi

step "configure"
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
if [[ $mode == cpu ]]; then
  kit_cmake_args "$prefix"
  cmake_args+=("${kit_cmake[@]}")
  # Paths relative to the checkout: ccache hits from one clone to the next.
  export CCACHE_BASEDIR=$PWD
  # Found afresh each time, from the prefix just unpacked.
  rm -f "$build/CMakeCache.txt"
fi
if [[ $mode == gpu ]]; then
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  nccl_dir=$(python3 -c 'import nvidia.nccl as n; print(list(n.__path__)[0])')
  nccl_library=$(find "$nccl_dir/lib" -name 'libnccl.so*' | sort | head -1)
  kit_cmake_args "$prefix" "$torch_prefix"
  cmake_args+=("${kit_cmake[@]}" -DSATUNET_WITH_NCCL=ON
    -DNCCL_INCLUDE_DIR="$nccl_dir/include" -DNCCL_LIBRARY="$nccl_library"
    -DCUDAToolkit_ROOT=/usr/local/cuda -DSATUNET_USE_CCACHE=OFF)
  export LD_LIBRARY_PATH="$nccl_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cmake -S . -B "$build" "${cmake_args[@]}" >"$out/configure.log" 2>&1 ||
  { tail -40 "$out/configure.log"; fail "configure"; exit 1; }
grep -E "satunet:|Torch|CUDA" "$out/configure.log" | head -8
grep -E "Found (MPI_CXX|GDAL|HDF5|Boost|ZLIB)|boost_program_options" "$out/configure.log"
if grep -E "Found (MPI_CXX|GDAL|HDF5|ZLIB)" "$out/configure.log" | grep -qv "$prefix/"; then
  fail "configure took a library from outside the kit's prefix $prefix"
fi

step "build"
if [[ $mode == gpu ]]; then
  if ! cmake --build "$build" -j "$jobs" --target satunet satunet_tests satunet_bench_infer \
    >"$out/build.log" 2>&1; then
    grep -E "error|Error" "$out/build.log" | head -40
    fail "build"
    exit 1
  fi
  tail -1 "$out/build.log"
else
  # LibTorch's sources take the GPU node's minutes; here what proves the kit: its headers
  # compiled, its libraries linked and loaded. The steps below run this machine's own programs.
  if ! { kit_compile_cover "$build" "$programs" "$prefix" "$jobs" &&
    kit_link_check "$build" "$prefix"; } >"$out/build.log" 2>&1; then
    grep -E "kit:|error|Error" "$out/build.log" | head -40
    fail "build"
    exit 1
  fi
  grep "^kit:" "$out/build.log"
  build=$programs
  satunet=$build/satunet
  loaded=$(ldd "$build/satunet-torch")
  echo "programs from $build: satunet-torch loads $(grep -c "=> $prefix/" <<<"$loaded") of its" \
    "$(grep -c '=> /' <<<"$loaded") libraries from the kit"
fi
"$satunet" --version

step "GPU tests: NcclGpu, PredictGpu, TrainGpu on one rank"
# In CPU mode they report themselves skipped; the placement and NCCL checks run either way.
"$build/tests/satunet_tests" --gtest_filter='NcclGpu.*:PredictGpu.*:TrainGpu.*:Nccl.*:Placement.*' \
  --gtest_color=no 2>&1 | grep -E '^\[ *(RUN|OK|FAILED|SKIPPED|PASSED) *\]|Failure|Expected|Which is|skip' |
  tee "$out/tests.log"
# Two ranks sharing the one GPU, gradients reduced through host memory (--backend mpi).
mpirun -n 2 "$build/tests/satunet_tests" --gtest_filter='MpiTrainGpu.*' --gtest_color=no 2>&1 |
  grep -E '^\[ *(RUN|OK|FAILED|SKIPPED|PASSED) *\]|Failure|Expected|Which is|skip' |
  awk '!seen[$0]++' | tee -a "$out/tests.log"
if grep -q '^\[  FAILED  \]' "$out/tests.log"; then fail "GPU tests"; fi
# One line per test ends in its time: "[  SKIPPED ] Suite.Name (0 ms)".
count() { grep -cE "^\[ *$1 *\] [A-Za-z]+\.[A-Za-z]+ \(" "$out/tests.log"; }
note "GPU tests: $(count OK) passed, $(count SKIPPED) skipped, $(count FAILED) failed" \
  "$(grep -E '^\[  SKIPPED \] [A-Za-z]+\.[A-Za-z]+ \(' "$out/tests.log" | awk '{print $4}' |
    paste -sd ' ' | sed 's/^./(skipped: &/; s/$/)/; s/^)$//')"

step "all-reduce"
if [[ $mode == gpu ]]; then
  "$satunet" bench allreduce --backend nccl --max-bytes 256M --iterations 20 | tee "$out/allreduce.txt" ||
    fail "bench allreduce --backend nccl"
else
  "$satunet" bench allreduce --backend mpi --max-bytes 1M --iterations 3 | tee "$out/allreduce.txt" ||
    fail "bench allreduce"
fi
if grep -q "one rank moves nothing" "$out/allreduce.txt"; then
  note "all-reduce: one rank moves nothing, no bandwidth measured (correctness checked)"
else
  note "all-reduce, largest size: $(grep -v '^#' "$out/allreduce.txt" | tail -1 | awk '{print $1 " bytes, " $3 " us, algbw " $4 " GB/s, busbw " $5 " GB/s"}')"
fi

step "training: satunet and PyTorch eager, U-Net base $base depth $depth, 256 px, batch $batch"
rm -rf "$work"
mkdir -p "$work"
if ! "$satunet" synth --out "$work/train-scene" --size "$train_scene" --seed 2 --overwrite -q >/dev/null ||
  ! "$satunet" tile --out "$work/dataset" --image "$work/train-scene/scene.tif" \
    --labels "building=$work/train-scene/buildings.geojson" \
    --labels "road=$work/train-scene/roads.geojson" --width-field width_m --tile 256 \
    --overlap 0 --val-fraction 0.1 --split-block 2 --threads "$(nproc)" -q >/dev/null; then
  fail "making the training dataset"
fi
declare -A satunet_rate torch_rate compiled_rate
for precision in "${precisions[@]}"; do
  if with_gpu_load "$work/gpu-load-train-$precision.txt" \
    "$satunet" train --data "$work/dataset" --out "$work/run-$precision" --base "$base" \
    --depth "$depth" --batch "$batch" --epochs "$epochs" --precision "$precision" \
    --threads "$(nproc)" -q >"$work/train-$precision.log" 2>&1; then
    satunet_rate[$precision]=$(csv_last "$work/run-$precision/metrics.csv" samples_per_s)
    echo "satunet $precision: ${satunet_rate[$precision]} samples/s (last of $epochs epochs)," \
      "GPU busy $(mean_of "$work/gpu-load-train-$precision.txt") % of the run"
  else
    cat "$work/train-$precision.log"
    fail "satunet train --precision $precision"
  fi
done
satunet_parameters=$("$satunet" info "$work/run-fp32/checkpoints/last.pt" --json 2>/dev/null |
  awk -F': ' '/"parameters"/ {gsub(/,/, "", $2); print $2}')
if python3 -c 'import torch, h5py' 2>/dev/null; then
  python3 launch/gpu/torch_reference.py --dataset "$work/dataset" --base "$base" --depth "$depth" \
    --batch "$batch" --steps "$torch_steps" --device "$device" ${compiled:+--compiled} \
    --precisions "$(
      IFS=,
      echo "${precisions[*]}"
    )" | tee "$work/torch.jsonl" || fail "the PyTorch reference"
  while read -r line; do
    precision=$(sed -n 's/.*"precision": "\([a-z0-9]*\)".*/\1/p' <<<"$line")
    rate=$(sed -n 's/.*"samples_per_s": \([0-9.]*\).*/\1/p' <<<"$line")
    if [[ $line == *'"mode": "compiled"'* ]]; then
      compiled_rate[$precision]=$rate
    else
      torch_rate[$precision]=$rate
    fi
    torch_parameters=$(sed -n 's/.*"parameters": \([0-9]*\).*/\1/p' <<<"$line")
  done <"$work/torch.jsonl"
  if [[ ${torch_parameters:-} != "$satunet_parameters" ]]; then
    fail "parameter counts differ: satunet $satunet_parameters, PyTorch ${torch_parameters:-?}"
  fi
else
  echo "PyTorch reference: not run (python3 here has no torch and h5py)"
fi
for precision in "${precisions[@]}"; do
  ours=${satunet_rate[$precision]:-}
  theirs=${torch_rate[$precision]:-}
  ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {if (a > 0 && b > 0) printf "%.2f", a / b; else print "-"}')
  note "training $precision ($satunet_parameters parameters): satunet ${ours:--} samples/s," \
    "PyTorch ${theirs:--} samples/s, ratio $ratio (goal >= 1.3); GPU busy" \
    "$(mean_of "$work/gpu-load-train-$precision.txt") % while satunet trained"
  if [[ -n ${compiled_rate[$precision]:-} ]]; then
    note "training $precision: PyTorch torch.compile ${compiled_rate[$precision]} samples/s," \
      "ratio $(awk -v a="$ours" -v b="${compiled_rate[$precision]}" \
        'BEGIN {if (a > 0 && b > 0) printf "%.2f", a / b; else print "-"}') (goal >= 1.0)"
  fi
done

step "prediction: $predict_scene x $predict_scene px, windows of 256, batch $predict_batch"
"$satunet" synth --out "$work/predict-scene" --size "$predict_scene" --seed 3 --overwrite -q >/dev/null ||
  fail "the prediction scene"
checkpoint=$work/run-fp32/checkpoints/last.pt
for precision in "${precisions[@]}"; do
  if with_gpu_load "$work/gpu-load-predict-$precision.txt" \
    "$satunet" predict --checkpoint "$checkpoint" --image "$work/predict-scene/scene.tif" \
    --out "$work/pred-$precision" --device "$device" --precision "$precision" \
    --batch "$predict_batch" --threads "$(nproc)" --overwrite --stitch-to "$work/mask-$precision.tif" \
    -q >"$work/predict-$precision.log" 2>&1; then
    read -r windows megapixels seconds < <(sed -n \
      's/^predicted \([0-9]*\) windows (\([0-9.]*\) Mpx) in \([0-9.]*\) s.*/\1 \2 \3/p' \
      "$work/predict-$precision.log")
    predict_rate=$(awk -v m="$megapixels" -v s="$seconds" 'BEGIN {printf "%.1f", m / s}')
    rm -f "$work/forward-$precision.jsonl"
    "$build/tests/bench/satunet_bench_infer" --jsonl "$work/forward-$precision.jsonl" forward \
      "$checkpoint" "$work/predict-scene/scene.tif" 256 64 "$predict_batch" "$(nproc)" "$device" \
      "$precision" >/dev/null
    # Its record (launch/bench/records.py reads the JSON lines).
    forward_rate=$(python3 launch/bench/records.py get "$work/forward-$precision.jsonl" infer \
      forward.rate | awk '{printf "%.1f", $1}')
    note "predict $precision: $predict_rate Mpx/s ($windows windows in $seconds s); bare" \
      "forward $forward_rate Mpx/s; ratio $(awk -v a="$predict_rate" -v b="$forward_rate" \
        'BEGIN {printf "%.2f", a / b}') (goal >= 0.6); GPU busy $(mean_of \
        "$work/gpu-load-predict-$precision.txt") %"
  else
    cat "$work/predict-$precision.log"
    fail "satunet predict --precision $precision"
  fi
done
# The pipeline around the model alone (a model that costs nothing): what it could feed a GPU,
# with the class map compressed as by default and as --map-compress zstd writes it.
for codec in deflate zstd; do
  rm -f "$work/bench-predict.jsonl"
  if "$satunet" bench predict --image "$work/predict-scene/scene.tif" --tile 256 \
    --batch "$predict_batch" --stitch-to "$work/mask-identity.tif" --map-compress "$codec" \
    --overwrite -q --jsonl "$work/bench-predict.jsonl" >"$work/bench-predict.log" 2>&1; then
    note "predict pipeline with an identity model, $codec class map: $(python3 \
      launch/bench/records.py get "$work/bench-predict.jsonl" predict pipeline.rate |
      awk '{printf "%.1f Mpx/s", $1}') on $(nproc) cores"
  else
    cat "$work/bench-predict.log"
    fail "satunet bench predict --map-compress $codec"
  fi
done
if [[ $mode == gpu ]]; then
  "$satunet" evaluate --pred "$work/mask-bf16.tif" --truth "$work/mask-fp32.tif" \
    --json "$work/agreement.json" -q >/dev/null || fail "comparing the bf16 and fp32 masks"
  agreement=$(sed -n 's/.*"pixel_accuracy": *\([0-9.e-]*\).*/\1/p' "$work/agreement.json" | head -1)
  note "bf16 mask equals the fp32 mask on $(awk -v a="$agreement" 'BEGIN {printf "%.3f", 100 * a}') % of pixels (goal >= 99.9 %)"
  if awk -v a="$agreement" 'BEGIN {exit !(a < 0.999)}'; then fail "bf16 and fp32 masks differ"; fi
fi

step "summary ($mode mode, $(date -u +%Y-%m-%d))"
for line in "${summary[@]}"; do echo "  $line"; done
if ((failures)); then
  echo "$failures step(s) failed"
  exit 1
fi
echo "every step passed"
