#pragma once
// Ground sample distances, in metres: what a model was trained on (its scenes' range, kept in
// its checkpoint) and what prediction compares a scene's pixels with.

namespace satunet {

struct PixelSizeRange {
  double min_m = 0;
  double max_m = 0;
};

}  // namespace satunet
