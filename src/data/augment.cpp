#include "data/augment.hpp"

#include <algorithm>
#include <vector>

#include "common/hash.hpp"

namespace satunet::data {
namespace {

enum Draw : std::uint64_t { kFlipX = 1, kFlipY, kRotate, kBrightness, kContrast };

// Moves every plane's pixel (x, y) to where `target` sends it.
template <typename T, typename Target>
void remap(T* data, int planes, int tile, std::vector<T>& scratch, Target target) {
  const std::size_t plane = static_cast<std::size_t>(tile) * tile;
  scratch.resize(plane);
  for (int p = 0; p < planes; ++p) {
    T* values = data + p * plane;
    for (int y = 0; y < tile; ++y)
      for (int x = 0; x < tile; ++x) {
        const auto [tx, ty] = target(x, y);
        scratch[static_cast<std::size_t>(ty) * tile + tx] =
            values[static_cast<std::size_t>(y) * tile + x];
      }
    std::copy(scratch.begin(), scratch.end(), values);
  }
}

template <typename Target>
void move_pixels(float* image, std::uint8_t* labels, int bands, int tile, Target target) {
  std::vector<float> float_scratch;
  std::vector<std::uint8_t> label_scratch;
  remap(image, bands, tile, float_scratch, target);
  remap(labels, 1, tile, label_scratch, target);
}

}  // namespace

void augment(float* image, std::uint8_t* labels, int bands, int tile, const AugmentOptions& options,
             std::uint64_t seed, std::int64_t epoch, std::int64_t tile_index) {
  auto draw = [&](Draw what) {
    return unit(hash(seed, static_cast<std::uint64_t>(epoch),
                     static_cast<std::uint64_t>(tile_index), what));
  };
  const int last = tile - 1;
  if (options.flips && draw(kFlipX) < 0.5)
    move_pixels(image, labels, bands, tile, [&](int x, int y) { return std::pair{last - x, y}; });
  if (options.flips && draw(kFlipY) < 0.5)
    move_pixels(image, labels, bands, tile, [&](int x, int y) { return std::pair{x, last - y}; });
  if (options.rotations) {
    const int quarter_turns = static_cast<int>(draw(kRotate) * 4);
    for (int turn = 0; turn < quarter_turns; ++turn)
      move_pixels(image, labels, bands, tile, [&](int x, int y) { return std::pair{last - y, x}; });
  }
  if (options.brightness > 0 || options.contrast > 0) {
    const float offset = static_cast<float>((draw(kBrightness) * 2 - 1) * options.brightness);
    const float gain = static_cast<float>(1 + (draw(kContrast) * 2 - 1) * options.contrast);
    const std::size_t values = static_cast<std::size_t>(bands) * tile * tile;
    for (std::size_t i = 0; i < values; ++i)
      image[i] = image[i] * gain + offset;
  }
}

}  // namespace satunet::data
