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

// Soft skeletons by iterated min/max pooling (clDice's soft-skeleton) of `masks` [N, K, H, W]
// in [0, 1], `iterations` erosions deep.
torch::Tensor soft_skeleton(const torch::Tensor& masks, int iterations);
// 1 - clDice of every class but the first (background), with soft P = softmax, on valid
// pixels: the harmonic mean of topology precision (the predicted skeleton inside the truth)
// and topology sensitivity (the true skeleton inside the prediction).
torch::Tensor cldice_loss(const torch::Tensor& logits, const torch::Tensor& target, int iterations);

class SegmentationLoss {
 public:
  explicit SegmentationLoss(LossOptions options);
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& target) const;
  const LossOptions& options() const { return options_; }

 private:
  torch::Tensor base_loss(const torch::Tensor& logits, const torch::Tensor& target) const;
  LossOptions options_;
  mutable torch::Tensor weights_;  // on the device of the last logits
};

// Inverse-frequency weights from class pixel counts: total / (classes * count), so balanced
// classes weigh 1 each; a class never seen weighs 0 (`--class-weights auto`).
std::vector<double> inverse_frequency_weights(const std::vector<int64_t>& pixel_counts);

}  // namespace satunet::model
