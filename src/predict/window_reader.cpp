#include "predict/window_reader.hpp"

#include "common/error.hpp"

namespace satunet::predict {

WindowReader::WindowReader(const geo::Raster& scene, const geo::InputBands& bands,
                           data::BandNormaliser normaliser, int tile)
    : scene_(scene), bands_(bands), tile_(tile), normaliser_(std::move(normaliser)) {
  read_bands_ = bands.inputs;
  if (bands.alpha)
    read_bands_.push_back(bands.alpha);
}

void WindowReader::fill(Batch& batch, const geo::WindowGrid& grid, std::int64_t first,
                        std::int64_t count, int batch_size) {
  const auto plane = static_cast<std::size_t>(tile_) * static_cast<std::size_t>(tile_);
  const std::size_t channels = bands_.inputs.size();
  batch.indices.clear();
  batch.windows.clear();
  batch.images.assign(static_cast<std::size_t>(batch_size) * channels * plane, 0.0f);
  batch.valid.assign(static_cast<std::size_t>(count) * plane, 0);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t index = first + i;
    const geo::Window window = grid.inside(index);
    batch.indices.push_back(index);
    batch.windows.push_back(window);
    try {
      read_window(window, batch.images.data() + static_cast<std::size_t>(i) * channels * plane,
                  batch.valid.data() + static_cast<std::size_t>(i) * plane);
    } catch (const Error& error) {
      throw Error(scene_.info().path + ", " + grid.describe(index) + ": " + error.what());
    }
  }
}

void WindowReader::read_window(const geo::Window& window, float* image, std::uint8_t* valid) {
  const std::size_t pixels = static_cast<std::size_t>(window.width * window.height);
  pixels_.resize(read_bands_.size() * pixels);
  scene_.read(window, read_bands_, GDT_Float64, pixels_.data());
  const std::size_t channels = bands_.inputs.size();
  const std::size_t plane = static_cast<std::size_t>(tile_) * static_cast<std::size_t>(tile_);
  // Pixels past the scene edge (a scene smaller than a tile) mirror the scene, as the
  // reflection padding of image models does; they are cropped again by the stitcher.
  for (int y = 0; y < tile_; ++y) {
    const std::int64_t source_y = geo::reflect_index(y, window.height);
    for (int x = 0; x < tile_; ++x) {
      const std::int64_t source_x = geo::reflect_index(x, window.width);
      const std::size_t source = static_cast<std::size_t>(source_y * window.width + source_x);
      const std::size_t target = static_cast<std::size_t>(y) * static_cast<std::size_t>(tile_) +
                                 static_cast<std::size_t>(x);
      const bool inside = x < window.width && y < window.height;
      valid[target] = inside && bands_.has_data(pixels_.data(), pixels, source) ? 1 : 0;
      for (std::size_t b = 0; b < channels; ++b)
        image[b * plane + target] = normaliser_.apply(
            static_cast<int>(b), static_cast<float>(pixels_[b * pixels + source]));
    }
  }
}

}  // namespace satunet::predict
