#pragma once
// Windows of a scene as the pipeline hands them to a model (pipeline.hpp): pixels, not yet
// normalised.
#include "common/error.hpp"
#include "common/options.hpp"
#include "shards/shard.hpp"

namespace satunet::predict {

// The type a batch's pixels reach the model in, chosen by the window reader from the scene:
// its own where a tensor holds it (uint8, uint16, int16), so that a batch is 1 or 2 bytes a
// value, not a float's 4 (less for the host to write and for a GPU's copy to move), and the
// model normalises on its device; other types become float32, as data::BandNormaliser takes
// them. The shards' names for pixel types (and shards::pixel_type_bytes).
using PixelType = shards::PixelType;

// What a model says of a type the window reader never gives.
inline Error unsupported_pixels(PixelType type) {
  return Error("windows of " + options::enum_name(type) +
               " pixels: the window reader gives uint8, uint16, int16 or float32 only");
}

// `batch` windows of `bands` bands as the scene holds them: [batch, bands, tile, tile].
struct PixelBatch {
  const void* pixels = nullptr;
  PixelType type = PixelType::float32;
  int batch = 0;
  int bands = 0;
  int tile = 0;
  // The side the model sees each window at: `tile`, or the window resampled to the model's
  // pixel size (pixel_size.hpp), its probabilities then resampled back to `tile`.
  int model_tile = 0;
};

}  // namespace satunet::predict
