#pragma once
// Class ids are bytes. One value among them means "no label here": nodata in a scene, padding
// past its edge, a pixel the truth does not judge. Tiles, losses, metrics, class maps and
// their nodata all use this one value.
#include <cstdint>

namespace satunet {

constexpr std::uint8_t kIgnoreLabel = 255;
// Class ids 0..kMaxClasses-1 leave kIgnoreLabel free.
constexpr int kMaxClasses = 255;

}  // namespace satunet
