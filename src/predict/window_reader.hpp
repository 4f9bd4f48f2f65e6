#pragma once
// The model's input from a scene: windows read with GDAL, normalised as training normalised its
// tiles (data::BandNormaliser), and padded past the scene's edge by reflection.
#include <cstdint>
#include <vector>

#include "data/normalise.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"

namespace satunet::predict {

// Windows read, normalised and padded, ready for the model.
struct Batch {
  std::vector<std::int64_t> indices;
  std::vector<geo::Window> windows;
  std::vector<float> images;        // [B, C, T, T], B = the full batch size (zero padded)
  std::vector<std::uint8_t> valid;  // [n, T, T]
};

// Used from one thread at a time (GDAL's dataset is not shared between threads).
class WindowReader {
 public:
  WindowReader(const geo::Raster& scene, const geo::InputBands& bands,
               data::BandNormaliser normaliser, int tile);

  // Windows first .. first + count - 1 of `grid` into `batch`, padded to `batch_size`.
  void fill(Batch& batch, const geo::WindowGrid& grid, std::int64_t first, std::int64_t count,
            int batch_size);
  // One window into C*T*T normalised floats and T*T validity bytes (1 where the scene has data).
  void read_window(const geo::Window& window, float* image, std::uint8_t* valid);

 private:
  const geo::Raster& scene_;
  const geo::InputBands& bands_;
  int tile_;
  std::vector<int> read_bands_;
  data::BandNormaliser normaliser_;
  std::vector<double> pixels_;
};

}  // namespace satunet::predict
