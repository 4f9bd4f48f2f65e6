#pragma once
// The ground size of the pixels a model sees when it predicts a scene (--pixel-size). A model
// learns roofs and roads at its training scenes' pixel size; a scene of coarser or finer
// pixels shows it objects of sizes it never saw. Windows of the scene are then resampled to
// the model's pixel size on their way in, and its probabilities back to the scene's pixels on
// their way out, so that the masks and every other output stay on the scene's own grid.
#include <optional>
#include <string>

#include "common/pixel_size_range.hpp"

namespace satunet::predict {

struct PixelSize {
  enum class Mode {
    automatic,  // the training scenes' range, for a scene outside it
    native,     // the scene's own pixels, whatever the model trained on
    metres,     // pixels of `metres` on the ground
  };
  Mode mode = Mode::automatic;
  double metres = 0;
};

// "auto", "native" or a positive number of metres; anything else is a UsageError naming the
// option.
void parse(const std::string& text, const std::string& option, PixelSize& value);
std::string show(const PixelSize& value);

// Within this fraction of the training range a scene is predicted as it is: resampling costs
// some sharpness and time, and gains nothing so close.
constexpr double kPixelSizeTolerance = 0.1;

// How the model sees a scene of pixels `scene_m` metres on the ground: each of its pixels spans
// `scale` of the scene's per side (1: the scene as it is), `metres` on the ground.
struct ModelPixels {
  double scale = 1;
  double metres = 0;
};
ModelPixels model_pixels(const PixelSize& choice, double scene_m,
                         const std::optional<PixelSizeRange>& trained_m);

}  // namespace satunet::predict
