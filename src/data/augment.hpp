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
  bool any() const { return flips || rotations || brightness > 0 || contrast > 0; }
  static AugmentOptions standard() { return {true, true, 0.1, 0.1}; }
};

// In place on bands*T*T floats and T*T labels; geometry is applied to both alike.
void augment(float* image, std::uint8_t* labels, int bands, int tile, const AugmentOptions& options,
             std::uint64_t seed, std::int64_t epoch, std::int64_t tile_index);

}  // namespace satunet::data
