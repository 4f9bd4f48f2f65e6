#pragma once
// The weights overlapping windows are blended with.
#include <vector>

#include "shards/prediction.hpp"

namespace satunet::stitch {

// tile x tile weights, row-major, all positive (so that every pixel of a window counts, and
// scene borders covered by one window alone are not lost): a Gaussian of sigma tile / 8 (as
// nnU-Net), a Hann (squared cosine) window sampled at pixel centres, or ones.
std::vector<float> blend_weights(shards::Blend blend, int tile);

}  // namespace satunet::stitch
