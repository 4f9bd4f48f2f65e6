#pragma once
// Segmentation losses over logits [N, C, H, W] and targets [N, H, W] (int64 class ids, 255 =
// ignore). Each returns the mean over the valid pixels.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace satunet::model {

constexpr int64_t kIgnoreIndex = 255;

// Weighted like PyTorch: sum of w[t] * -log p_t over valid pixels, divided by the sum of w[t].
torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& target,
                      const torch::Tensor& class_weights = {});
// 1 - mean over classes of (2 |P ∩ T| + 1) / (|P| + |T| + 1), with soft P = softmax, on valid
// pixels only.
torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& target);
// Lin et al. 2017: -(1 - p_t)^gamma log p_t, optionally weighted per class.
torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma,
                         const torch::Tensor& class_weights = {});

enum class LossKind { ce, dice, ce_dice, focal };
LossKind parse_loss(const std::string& text);  // "ce", "dice", "ce+dice", "focal"
std::string to_string(LossKind kind);

struct LossOptions {
  LossKind kind = LossKind::ce;
  std::vector<double> class_weights;  // empty: unweighted
  double ce_weight = 1.0;             // for ce+dice
  double dice_weight = 1.0;
  double focal_gamma = 2.0;
};

class SegmentationLoss {
 public:
  explicit SegmentationLoss(LossOptions options);
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& target) const;
  const LossOptions& options() const { return options_; }

 private:
  LossOptions options_;
  torch::Tensor weights_;
};

// Inverse-frequency weights from class pixel counts: total / (classes * count), so balanced
// classes weigh 1 each; a class never seen weighs 0 (`--class-weights auto`).
std::vector<double> inverse_frequency_weights(const std::vector<int64_t>& pixel_counts);

}  // namespace satunet::model
