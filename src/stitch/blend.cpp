#include "stitch/blend.hpp"

#include <algorithm>
#include <cmath>

namespace satunet::stitch {

std::vector<float> blend_weights(shards::Blend blend, int tile) {
  std::vector<double> axis(static_cast<std::size_t>(tile), 1.0);
  const double centre = tile / 2.0;
  for (int i = 0; i < tile; ++i) {
    const double position = i + 0.5;
    if (blend == shards::Blend::gaussian) {
      const double sigma = tile / 8.0;
      const double distance = (position - centre) / sigma;
      axis[static_cast<std::size_t>(i)] = std::exp(-0.5 * distance * distance);
    } else if (blend == shards::Blend::cosine) {
      const double s = std::sin(M_PI * position / tile);
      axis[static_cast<std::size_t>(i)] = s * s;
    }
  }
  std::vector<float> weights(static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile));
  // The Gaussian's corners underflow towards 0 in float: keep them at a small positive floor,
  // as nnU-Net does, so a pixel seen by one window's corner alone still gets its prediction.
  const double floor = 1e-4;
  for (int y = 0; y < tile; ++y)
    for (int x = 0; x < tile; ++x)
      weights[static_cast<std::size_t>(y) * static_cast<std::size_t>(tile) +
              static_cast<std::size_t>(x)] =
          static_cast<float>(std::max(
              floor, axis[static_cast<std::size_t>(y)] * axis[static_cast<std::size_t>(x)]));
  return weights;
}

}  // namespace satunet::stitch
