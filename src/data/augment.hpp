#pragma once
// Augmentations decided by (seed, epoch, tile) alone, so that a run is reproducible whatever
// the rank count, prefetch depth or resume point.
#include <cstdint>

namespace satunet::data {

struct AugmentOptions {
  bool flips = false;      // horizontal and vertical, each with probability 1/2
  bool rotations = false;  // by 0, 90, 180 or 270 degrees (square tiles)
  double brightness = 0;   // add U(-b, b) in normalised units
  double contrast = 0;     // scale by U(1 - c, 1 + c)
  // Colour jitter: each band scaled by U(1 - c, 1 + c) and shifted by U(-c, c) on its own,
  // then the saturation (each pixel's bands about their mean) scaled by U(1 - c, 1 + c).
  double colour = 0;
  // Zoom by a factor from (1 + s)^U(-1, 1) about a random point: out (ground sampling
  // distances the training tiles lack) and in; what comes from outside the tile is ignored
  // (label 255; image 0, the band's mean).
  double scale = 0;
  bool any() const {
    return flips || rotations || brightness > 0 || contrast > 0 || colour > 0 || scale > 0;
  }
  static AugmentOptions standard() { return {true, true, 0.1, 0.1}; }
};

// In place on bands*T*T floats and T*T labels; geometry is applied to both alike.
void augment(float* image, std::uint8_t* labels, int bands, int tile, const AugmentOptions& options,
             std::uint64_t seed, std::int64_t epoch, std::int64_t tile_index);

}  // namespace satunet::data
