#include "predict/pixel_tensor.hpp"

#include <vector>

namespace satunet::predict {
namespace {

torch::ScalarType scalar_type(PixelType type) {
  switch (type) {
    case PixelType::uint8:
      return torch::kUInt8;
    case PixelType::int16:
    case PixelType::uint16:
      return torch::kInt16;
    case PixelType::float32:
      return torch::kFloat32;
    default:
      throw unsupported_pixels(type);
  }
}

torch::Tensor per_band(const std::vector<float>& values, const torch::Device& device) {
  return torch::tensor(values, torch::kFloat32)
      .view({1, static_cast<int64_t>(values.size()), 1, 1})
      .to(device);
}

}  // namespace

torch::Tensor pixel_tensor(const PixelBatch& batch) {
  // const_cast: from_blob takes a writable pointer; nothing writes through this view.
  return torch::from_blob(const_cast<void*>(batch.pixels),
                          {batch.batch, batch.bands, batch.tile, batch.tile},
                          torch::TensorOptions().dtype(scalar_type(batch.type)));
}

PixelNormaliser::PixelNormaliser(const data::BandNormaliser& bands, const torch::Device& device) {
  std::vector<float> means, scales;
  for (int b = 0; b < bands.bands(); ++b) {
    means.push_back(bands.mean(b));
    scales.push_back(bands.scale(b));
  }
  mean_ = per_band(means, device);
  scale_ = per_band(scales, device);
}

torch::Tensor PixelNormaliser::operator()(const torch::Tensor& pixels, PixelType type) const {
  torch::Tensor values;
  if (type == PixelType::uint16)
    values = pixels.to(torch::kInt32).bitwise_and_(0xFFFF).to(torch::kFloat32);
  else if (type == PixelType::float32)
    values = torch::nan_to_num(pixels, 0.0, 0.0, 0.0);
  else
    values = pixels.to(torch::kFloat32);
  // Two operations, each rounded, as BandNormaliser::apply rounds them (no fused multiply-add).
  return values.sub_(mean_).mul_(scale_);
}

torch::Tensor resampled(const torch::Tensor& windows, int side) {
  if (windows.size(-1) == side)
    return windows;
  namespace F = torch::nn::functional;
  const bool shrinking = side < windows.size(-1);
  auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{side, side});
  if (shrinking)
    options.mode(torch::kArea);
  else
    options.mode(torch::kBilinear).align_corners(false);
  return F::interpolate(windows, options);
}

}  // namespace satunet::predict
