#pragma once
// The model's input from a scene: windows read with GDAL, in the pixel type the model takes
// (pixels.hpp), and padded past the scene's edge by reflection. The model normalises them.
#include <cstdint>
#include <memory>
#include <vector>

#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "predict/pixels.hpp"

namespace satunet::predict {

// Windows come from full-width strips of the scene read through geo::StripReader: the rows of a
// row of windows are decoded once for all its windows (blocks shared by overlapping rows once),
// in the scene's own data type, while the block row below is decoded on a thread of its own.
// Used from one thread at a time (GDAL's dataset is not shared between threads).
class WindowReader {
 public:
  WindowReader(const geo::Raster& scene, const geo::InputBands& bands, int tile);
  ~WindowReader();
  WindowReader(const WindowReader&) = delete;
  WindowReader& operator=(const WindowReader&) = delete;

  // What the windows' pixels are: the scene's type, or float.
  PixelType pixel_type() const;
  // Windows first .. first + count - 1 of `grid` into `images` ([batch_size, C, T, T] of
  // pixel_type(), the slots past `count` zeroed, so that every batch has the same shape) and
  // `valid` ([count, T, T]). Errors name the scene and the window.
  void fill(const geo::WindowGrid& grid, std::int64_t first, std::int64_t count, int batch_size,
            void* images, std::vector<std::uint8_t>& valid);
  // One window (its part inside the scene) into C*T*T pixels and T*T validity bytes (1 where
  // the scene has data, 0 for nodata and padding). Fastest in grid order.
  void read_window(const geo::Window& window, void* image, std::uint8_t* valid);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace satunet::predict
