#pragma once
// Segmentation losses over logits [N, C, H, W] and targets [N, H, W] (int64 class ids, 255 =
// ignore). Each returns the mean over the valid pixels.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/labels.hpp"
#include "model/model_options.hpp"

namespace satunet::model {

// Weighted like PyTorch: sum of w[t] * -log p_t over valid pixels, divided by the sum of w[t].
torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& target,
                      const torch::Tensor& class_weights = {});
// 1 - mean over classes of (2 |P ∩ T| + 1) / (|P| + |T| + 1), with soft P = softmax, on valid
// pixels only.
torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& target);
// Lin et al. 2017: -(1 - p_t)^gamma log p_t, optionally weighted per class.
torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma,
                         const torch::Tensor& class_weights = {});

class SegmentationLoss {
 public:
  explicit SegmentationLoss(LossOptions options);
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& target) const;
  const LossOptions& options() const { return options_; }

 private:
  LossOptions options_;
  mutable torch::Tensor weights_;  // on the device of the last logits
};

// Inverse-frequency weights from class pixel counts: total / (classes * count), so balanced
// classes weigh 1 each; a class never seen weighs 0 (`--class-weights auto`).
std::vector<double> inverse_frequency_weights(const std::vector<int64_t>& pixel_counts);

}  // namespace satunet::model
