#pragma once
// Windows of pixels (pixels.hpp) as a checkpoint takes them: a tensor over the pipeline's
// buffer, normalised where the model is (on a GPU, after the copy of the pixels, a quarter of
// the bytes of normalised floats for 8-bit scenes).
#include <torch/torch.h>

#include "data/normalise.hpp"
#include "predict/pixels.hpp"

namespace satunet::predict {

// A view of the batch's buffer, nothing copied. uint16 pixels are viewed as int16 (LibTorch
// 1.13 has no unsigned 16-bit type); PixelNormaliser reads them back as unsigned.
torch::Tensor pixel_tensor(const PixelBatch& batch);

// data::BandNormaliser on tensors: float [B, C, T, T], (float(value) - mean) * scale per band,
// non-finite values taken as 0: the same numbers to the bit as the host normalises training's
// tiles with.
class PixelNormaliser {
 public:
  PixelNormaliser(const data::BandNormaliser& bands, const torch::Device& device);
  torch::Tensor operator()(const torch::Tensor& pixels, PixelType type) const;

 private:
  torch::Tensor mean_, scale_;  // [1, C, 1, 1] float, on the device
};

// Windows [B, C, H, W] resampled to side x side (pixel_size.hpp): grown bilinearly between
// pixel centres (the window's corners stay where they are, so georeferencing is kept), shrunk
// by averaging the pixels each new one covers (GDAL's "average"). Not the smoother antialiased
// bilinear: its blur cost a model trained on sharp pixels most of its road IoU where
// averaging cost little.
torch::Tensor resampled(const torch::Tensor& windows, int side);

}  // namespace satunet::predict
