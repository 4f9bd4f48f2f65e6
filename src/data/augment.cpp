#include "data/augment.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/hash.hpp"
#include "common/labels.hpp"

namespace satunet::data {
namespace {

enum Draw : std::uint64_t {
  kFlipX = 1,
  kFlipY,
  kRotate,
  kBrightness,
  kContrast,
  kBandGain,
  kBandOffset,
  kSaturation,
  kZoom,
  kZoomX,
  kZoomY
};

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

// Resamples the tile as seen through a zoom by `factor` whose window starts at source pixel
// (x0, y0): bilinear for the image, nearest for the labels.
void zoom(float* image, std::uint8_t* labels, int bands, int tile, double factor, double x0,
          double y0) {
  const std::size_t plane = static_cast<std::size_t>(tile) * tile;
  std::vector<float> source(image, image + plane * bands);
  const std::vector<std::uint8_t> source_labels(labels, labels + plane);
  for (int y = 0; y < tile; ++y) {
    const double sy = y0 + (y + 0.5) / factor - 0.5;
    for (int x = 0; x < tile; ++x) {
      const double sx = x0 + (x + 0.5) / factor - 0.5;
      const std::size_t out = static_cast<std::size_t>(y) * tile + x;
      const long nx = std::lround(sx), ny = std::lround(sy);
      if (nx < 0 || ny < 0 || nx >= tile || ny >= tile) {
        labels[out] = kIgnoreLabel;
        for (int b = 0; b < bands; ++b)
          image[b * plane + out] = 0.0f;
        continue;
      }
      labels[out] = source_labels[static_cast<std::size_t>(ny) * tile + nx];
      const double cx = std::clamp(sx, 0.0, tile - 1.0), cy = std::clamp(sy, 0.0, tile - 1.0);
      const int left = static_cast<int>(cx), top = static_cast<int>(cy);
      const int right = std::min(left + 1, tile - 1), bottom = std::min(top + 1, tile - 1);
      const auto fx = static_cast<float>(cx - left), fy = static_cast<float>(cy - top);
      for (int b = 0; b < bands; ++b) {
        const float* values = source.data() + b * plane;
        auto at = [&](int px, int py) { return values[static_cast<std::size_t>(py) * tile + px]; };
        const float upper = at(left, top) + (at(right, top) - at(left, top)) * fx;
        const float lower = at(left, bottom) + (at(right, bottom) - at(left, bottom)) * fx;
        image[b * plane + out] = upper + (lower - upper) * fy;
      }
    }
  }
}

template <typename Draw_>
void jitter_colour(float* image, int bands, int tile, double amount, Draw_ draw) {
  const std::size_t plane = static_cast<std::size_t>(tile) * tile;
  auto spread = [&](double u) { return static_cast<float>((u * 2 - 1) * amount); };
  for (int b = 0; b < bands; ++b) {
    const float gain = 1 + spread(draw(kBandGain, b)), offset = spread(draw(kBandOffset, b));
    float* values = image + b * plane;
    for (std::size_t i = 0; i < plane; ++i)
      values[i] = values[i] * gain + offset;
  }
  if (bands < 2)
    return;
  const float saturation = 1 + spread(draw(kSaturation, 0));
  for (std::size_t i = 0; i < plane; ++i) {
    float mean = 0;
    for (int b = 0; b < bands; ++b)
      mean += image[b * plane + i];
    mean /= static_cast<float>(bands);
    for (int b = 0; b < bands; ++b)
      image[b * plane + i] = mean + (image[b * plane + i] - mean) * saturation;
  }
}

}  // namespace

void augment(float* image, std::uint8_t* labels, int bands, int tile, const AugmentOptions& options,
             std::uint64_t seed, std::int64_t epoch, std::int64_t tile_index) {
  auto draw = [&](Draw what) {
    return unit(hash(seed, static_cast<std::uint64_t>(epoch),
                     static_cast<std::uint64_t>(tile_index), what));
  };
  if (options.scale > 0) {
    const double factor = std::pow(1 + options.scale, draw(kZoom) * 2 - 1);
    const double window = tile / factor;  // source pixels seen; beyond the tile when zooming out
    zoom(image, labels, bands, tile, factor, draw(kZoomX) * (tile - window),
         draw(kZoomY) * (tile - window));
  }
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
  if (options.colour > 0)
    jitter_colour(image, bands, tile, options.colour, [&](Draw what, int band) {
      return unit(hash(hash(seed, static_cast<std::uint64_t>(epoch),
                            static_cast<std::uint64_t>(tile_index), what),
                       static_cast<std::uint64_t>(band)));
    });
}

}  // namespace satunet::data
