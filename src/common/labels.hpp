#pragma once
// Class ids are bytes. One value among them means "no label here": nodata in a scene, padding
// past its edge, a pixel the truth does not judge. Tiles, losses, metrics, class maps and
// their nodata all use this one value.
#include <cstdint>
#include <string>
#include <vector>

namespace satunet {

constexpr std::uint8_t kIgnoreLabel = 255;
// Class ids 0..kMaxClasses-1 leave kIgnoreLabel free.
constexpr int kMaxClasses = 255;

// Class names as an option gives them (`option`, e.g. "--classes"): 2 to kMaxClasses, none
// empty, none twice; a UsageError otherwise.
void check_class_names(const std::vector<std::string>& names, const std::string& option);

}  // namespace satunet
