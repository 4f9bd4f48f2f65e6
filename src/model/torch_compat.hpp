#pragma once
// Where LibTorch 1.13 (Debian's, CI) and LibTorch 2.x (clusters, the GPU node) differ, in one
// place. Chosen by TORCH_VERSION_MAJOR/MINOR, or by the types the installed API declares.
//   - autocast: 1.x and 2.0-2.3 set CUDA's with at::autocast::set_enabled and
//     set_autocast_gpu_dtype; 2.4 replaced them by set_autocast_enabled(device, ...) and
//     set_autocast_dtype(device, ...), and later releases removed the old ones.
//   - optimizer state: 1.x keys it by the parameter's TensorImpl address printed as a string,
//     2.x by the address itself (void*).
//   - the fused AdamW kernel (CUDA): 2.x only.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SATUNET_TORCH_DEVICE_AUTOCAST 1
#endif
#if TORCH_VERSION_MAJOR >= 2
#define SATUNET_TORCH_FUSED_ADAMW 1
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

#ifdef SATUNET_TORCH_FUSED_ADAMW
inline constexpr bool kFusedAdamW = true;
#else
inline constexpr bool kFusedAdamW = false;
#endif

// What one fused AdamW step updates: parameters of one device and dtype with their gradients,
// moments and float32 step counters on that device.
struct AdamWLists {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
};

// One AdamW step as LibTorch 2.x's fused CUDA kernel (as torch/optim/adamw.py's _fused_adamw
// calls it), left undone on the device where `nonfinite` (a float scalar) is 1: the kernel
// skips itself and the step counters are taken back.
inline void fused_adamw_unless(AdamWLists& lists, double lr, double beta1, double beta2,
                               double weight_decay, double eps, const torch::Tensor& nonfinite) {
#ifdef SATUNET_TORCH_FUSED_ADAMW
  at::_foreach_add_(lists.steps, 1);
  at::_fused_adamw_(lists.params, lists.grads, lists.exp_avgs, lists.exp_avg_sqs,
                    /*max_exp_avg_sqs=*/at::TensorList(), lists.steps, lr, beta1, beta2,
                    weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false,
                    /*grad_scale=*/{}, /*found_inf=*/nonfinite);
  at::_foreach_sub_(lists.steps, std::vector<torch::Tensor>(lists.steps.size(), nonfinite));
#else
  (void)lists, (void)lr, (void)beta1, (void)beta2, (void)weight_decay, (void)eps, (void)nonfinite;
  TORCH_CHECK(false, "the fused AdamW kernel needs LibTorch 2.x");
#endif
}

}  // namespace satunet::model::compat
