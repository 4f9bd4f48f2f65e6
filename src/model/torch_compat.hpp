#pragma once
// Where LibTorch 1.13 (Debian's, CI) and LibTorch 2.x (clusters, the GPU node) differ, in one
// place. Chosen by TORCH_VERSION_MAJOR/MINOR, or by the types the installed API declares.
//   - autocast: 1.x and 2.0-2.3 set CUDA's with at::autocast::set_enabled and
//     set_autocast_gpu_dtype; 2.4 replaced them by set_autocast_enabled(device, ...) and
//     set_autocast_dtype(device, ...), and later releases removed the old ones.
//   - optimizer state: 1.x keys it by the parameter's TensorImpl address printed as a string,
//     2.x by the address itself (void*).
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SATUNET_TORCH_DEVICE_AUTOCAST 1
#endif

namespace satunet::model::compat {

// bf16 autocast on CUDA for the lifetime of the guard (nothing when `enabled` is false): no
// loss scaling is needed, bf16 has float32's range.
class CudaBf16Autocast {
 public:
  explicit CudaBf16Autocast(bool enabled) : enabled_(enabled) {
    if (!enabled_)
      return;
#ifdef SATUNET_TORCH_DEVICE_AUTOCAST
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    previous_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
    at::autocast::increment_nesting();
  }
  ~CudaBf16Autocast() {
    if (!enabled_)
      return;
    // The cache of casted weights is only valid inside the outermost region.
    if (at::autocast::decrement_nesting() == 0)
      at::autocast::clear_cache();
#ifdef SATUNET_TORCH_DEVICE_AUTOCAST
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
    at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
#else
    at::autocast::set_enabled(previous_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
#endif
  }
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool enabled_;
  bool previous_ = false;
  at::ScalarType previous_dtype_ = at::kHalf;
};

// The key under which `optimizer` keeps the state of `parameter`.
template <typename Optimizer>
auto optimizer_state_key(const Optimizer& optimizer, const torch::Tensor& parameter) {
  using Key = typename std::decay_t<decltype(optimizer.state())>::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // as c10::guts::to_string prints the address
    text << parameter.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(parameter.unsafeGetTensorImpl());
  }
}

}  // namespace satunet::model::compat
