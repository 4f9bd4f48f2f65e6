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

// What the overlap losses compare: the valid pixels [N, 1, H, W] and, on them, the soft
// prediction (softmax) and the one-hot truth [N, C, H, W] (0 elsewhere).
struct SoftOverlap {
  torch::Tensor valid, predicted, truth;
};

SoftOverlap soft_overlap(const torch::Tensor& logits, const torch::Tensor& target) {
  const torch::Tensor valid = valid_mask(target).unsqueeze(1).to(logits.dtype());
  return {valid, torch::softmax(logits, 1) * valid,
          F::one_hot(indexable(target), logits.size(1)).permute({0, 3, 1, 2}).to(logits.dtype()) *
              valid};
}

}  // namespace

torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& target,
                      const torch::Tensor& class_weights) {
  // Cross-entropy is the focal loss with gamma 0: the weighted sum of -log p over valid
  // pixels divided by their weight, which is 0 (not PyTorch's 0 / 0) for an all-nodata batch.
  return focal_loss(logits, target, 0.0, class_weights);
}

torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  const auto [mask, probabilities, truth] = soft_overlap(logits, target);
  const std::vector<int64_t> sum_dims{0, 2, 3};
  const torch::Tensor intersection = (probabilities * truth).sum(sum_dims);
  const torch::Tensor cardinality = probabilities.sum(sum_dims) + truth.sum(sum_dims);
  const torch::Tensor dice = (2 * intersection + 1) / (cardinality + 1);
  return 1 - dice.mean();
}

namespace {

torch::Tensor soft_erode(const torch::Tensor& x) {
  // The minimum over a plus-shaped neighbourhood, as clDice erodes.
  const torch::Tensor across =
      -F::max_pool2d(-x, F::MaxPool2dFuncOptions({3, 1}).stride(1).padding({1, 0}));
  const torch::Tensor down =
      -F::max_pool2d(-x, F::MaxPool2dFuncOptions({1, 3}).stride(1).padding({0, 1}));
  return torch::min(across, down);
}

torch::Tensor soft_dilate(const torch::Tensor& x) {
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
}

torch::Tensor soft_open(const torch::Tensor& x) {
  return soft_dilate(soft_erode(x));
}

}  // namespace

torch::Tensor soft_skeleton(const torch::Tensor& masks, int iterations) {
  torch::Tensor image = masks;
  torch::Tensor skeleton = torch::relu(image - soft_open(image));
  for (int i = 0; i < iterations; ++i) {
    image = soft_erode(image);
    const torch::Tensor delta = torch::relu(image - soft_open(image));
    skeleton = skeleton + torch::relu(delta - skeleton * delta);
  }
  return skeleton;
}

torch::Tensor cldice_loss(const torch::Tensor& logits, const torch::Tensor& target,
                          int iterations) {
  const SoftOverlap all = soft_overlap(logits, target);
  const torch::Tensor& mask = all.valid;
  const auto foreground = torch::indexing::Slice(1, logits.size(1));
  const torch::Tensor predicted = all.predicted.index({torch::indexing::Slice(), foreground});
  const torch::Tensor truth = all.truth.index({torch::indexing::Slice(), foreground});
  const std::vector<int64_t> sum_dims{0, 2, 3};
  const torch::Tensor predicted_skeleton = soft_skeleton(predicted, iterations) * mask;
  const torch::Tensor true_skeleton = soft_skeleton(truth, iterations) * mask;
  const torch::Tensor precision =
      ((predicted_skeleton * truth).sum(sum_dims) + 1) / (predicted_skeleton.sum(sum_dims) + 1);
  const torch::Tensor sensitivity =
      ((true_skeleton * predicted).sum(sum_dims) + 1) / (true_skeleton.sum(sum_dims) + 1);
  return 1 - (2 * precision * sensitivity / (precision + sensitivity)).mean();
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
  torch::Tensor loss = base_loss(logits, target);
  if (options_.cldice_weight > 0)
    loss = loss + options_.cldice_weight * cldice_loss(logits, target, options_.cldice_iterations);
  return loss;
}

torch::Tensor SegmentationLoss::base_loss(const torch::Tensor& logits,
                                          const torch::Tensor& target) const {
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
