#pragma once
// Windows of a scene as the pipeline hands them to a model (pipeline.hpp): pixels, not yet
// normalised.
#include <cstddef>

namespace satunet::predict {

// The type a batch's pixels reach the model in, chosen by the window reader from the scene:
// its own where a tensor holds it (8- and 16-bit integers), so that a batch is 1 or 2 bytes a
// value, not a float's 4 (less for the host to write and for a GPU's copy to move), and the
// model normalises on its device; other types become float, as data::BandNormaliser takes them.
enum class PixelType { uint8, int16, uint16, float32 };
inline std::size_t pixel_bytes(PixelType type) {
  switch (type) {
    case PixelType::uint8:
      return 1;
    case PixelType::int16:
    case PixelType::uint16:
      return 2;
    case PixelType::float32:
      break;
  }
  return 4;
}

// `batch` windows of `bands` bands as the scene holds them: [batch, bands, tile, tile].
struct PixelBatch {
  const void* pixels = nullptr;
  PixelType type = PixelType::float32;
  int batch = 0;
  int bands = 0;
  int tile = 0;
};

}  // namespace satunet::predict
