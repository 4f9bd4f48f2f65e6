#include "model/runtime.hpp"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <malloc.h>

#include <cstdint>

namespace satunet::model {

int cuda_devices() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

std::string libtorch_description() {
  std::string text = TORCH_VERSION;
  const auto& cuda = at::detail::getCUDAHooks();
  if (!cuda.hasCUDA())
    return text + " (CPU)";
  const long runtime = cuda.versionCUDART();  // 13000 for 13.0
  text += " (CUDA " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
  if (cuda.hasCuDNN())
    text += ", cuDNN " + std::to_string(cuda.versionCuDNN());
  const int gpus = cuda_devices();
  return text + ", " + std::to_string(gpus) + (gpus == 1 ? " GPU)" : " GPUs)");
}

void choose_algorithms(bool deterministic) {
  at::Context& context = at::globalContext();
  context.setDeterministicAlgorithms(deterministic, /*warn_only=*/true);
  context.setDeterministicCuDNN(deterministic);
  context.setBenchmarkCuDNN(!deterministic);
}

void keep_freed_memory() {
  // The largest threshold glibc's mallopt accepts (half its 64 MB heap); fixing it also stops
  // glibc from adapting it. Larger buffers are rare and costly to compute anyway.
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 32 * 1024 * 1024;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, INT32_MAX);
#endif
}

}  // namespace satunet::model
