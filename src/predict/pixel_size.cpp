#include "predict/pixel_size.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "common/options.hpp"
#include "common/text.hpp"

namespace satunet::predict {

void parse(const std::string& text, const std::string& option, PixelSize& value) {
  if (text == "auto") {
    value = {PixelSize::Mode::automatic, 0};
    return;
  }
  if (text == "native") {
    value = {PixelSize::Mode::native, 0};
    return;
  }
  const std::string expected =
      option + ": '" + text + "' is none of auto, native and a ground pixel size in metres";
  double metres = 0;
  try {
    metres = text::parse_double(text, option);
  } catch (const Error&) {
    throw UsageError(expected);
  }
  if (!std::isfinite(metres) || metres <= 0)
    throw UsageError(expected);
  value = {PixelSize::Mode::metres, metres};
}

std::string show(const PixelSize& value) {
  switch (value.mode) {
    case PixelSize::Mode::automatic:
      return "auto";
    case PixelSize::Mode::native:
      return "native";
    case PixelSize::Mode::metres:
      break;
  }
  return options::show(value.metres);
}

ModelPixels model_pixels(const PixelSize& choice, double scene_m,
                         const std::optional<PixelSizeRange>& trained_m) {
  switch (choice.mode) {
    case PixelSize::Mode::native:
      return {1, scene_m};
    case PixelSize::Mode::metres:
      return {choice.metres / scene_m, choice.metres};
    case PixelSize::Mode::automatic:
      break;
  }
  if (!trained_m)
    return {1, scene_m};
  const double nearest = std::clamp(scene_m, trained_m->min_m, trained_m->max_m);
  if (std::abs(scene_m - nearest) <= kPixelSizeTolerance * nearest)
    return {1, scene_m};
  return {nearest / scene_m, nearest};
}

}  // namespace satunet::predict
