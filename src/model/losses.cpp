#include "model/losses.hpp"

#include <numeric>

#include "common/error.hpp"

namespace satunet::model {
namespace F = torch::nn::functional;
namespace {

torch::Tensor valid_mask(const torch::Tensor& target) {
  return target != static_cast<int64_t>(kIgnoreLabel);
}

// The target with ignored pixels mapped to class 0, so it can index; they are masked out.
torch::Tensor indexable(const torch::Tensor& target) {
  return torch::where(valid_mask(target), target, torch::zeros_like(target));
}

}  // namespace

torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& target,
                      const torch::Tensor& class_weights) {
  // Cross-entropy is the focal loss with gamma 0: the weighted sum of -log p over valid
  // pixels divided by their weight, which is 0 (not PyTorch's 0 / 0) for an all-nodata batch.
  return focal_loss(logits, target, 0.0, class_weights);
}

torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  const int64_t classes = logits.size(1);
  const torch::Tensor mask = valid_mask(target).unsqueeze(1).to(logits.dtype());  // [N,1,H,W]
  const torch::Tensor probabilities = torch::softmax(logits, 1) * mask;
  const torch::Tensor truth =
      F::one_hot(indexable(target), classes).permute({0, 3, 1, 2}).to(logits.dtype()) * mask;
  const std::vector<int64_t> sum_dims{0, 2, 3};
  const torch::Tensor intersection = (probabilities * truth).sum(sum_dims);
  const torch::Tensor cardinality = probabilities.sum(sum_dims) + truth.sum(sum_dims);
  const torch::Tensor dice = (2 * intersection + 1) / (cardinality + 1);
  return 1 - dice.mean();
}

torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma,
                         const torch::Tensor& class_weights) {
  const torch::Tensor valid = valid_mask(target);
  const torch::Tensor index = indexable(target);
  const torch::Tensor log_p =
      torch::log_softmax(logits, 1).gather(1, index.unsqueeze(1)).squeeze(1);
  const torch::Tensor p = log_p.exp();
  torch::Tensor weight = valid.to(logits.dtype());
  if (class_weights.defined())
    weight = weight * class_weights.to(logits.dtype()).index({index});
  const torch::Tensor loss = -torch::pow(1 - p, gamma) * log_p * weight;
  return loss.sum() / weight.sum().clamp_min(1e-12);
}

SegmentationLoss::SegmentationLoss(LossOptions options) : options_(std::move(options)) {
  if (!options_.class_weights.empty())
    weights_ = torch::tensor(options_.class_weights, torch::kFloat32);
}

torch::Tensor SegmentationLoss::operator()(const torch::Tensor& logits,
                                           const torch::Tensor& target) const {
  // Copied to the logits' device once: a copy every step would make the host wait for the GPU.
  if (weights_.defined() && weights_.device() != logits.device())
    weights_ = weights_.to(logits.device());
  const torch::Tensor& weights = weights_;
  switch (options_.kind) {
    case LossKind::ce:
      return ce_loss(logits, target, weights);
    case LossKind::dice:
      return dice_loss(logits, target);
    case LossKind::ce_dice:
      return options_.ce_weight * ce_loss(logits, target, weights) +
             options_.dice_weight * dice_loss(logits, target);
    case LossKind::focal:
      return focal_loss(logits, target, options_.focal_gamma, weights);
  }
  return {};
}

std::vector<double> inverse_frequency_weights(const std::vector<int64_t>& pixel_counts) {
  const double total =
      static_cast<double>(std::accumulate(pixel_counts.begin(), pixel_counts.end(), int64_t{0}));
  std::vector<double> weights;
  for (int64_t count : pixel_counts)
    weights.push_back(count > 0 ? total / (static_cast<double>(pixel_counts.size()) * count) : 0.0);
  return weights;
}

}  // namespace satunet::model
