#include "predict/window_reader.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "common/error.hpp"
#include "geo/strip_reader.hpp"

namespace satunet::predict {
namespace {

// The type rows are read in: the bands' own when they share one that a float holds as a double
// would round it (so that normalised values equal training's to the bit), else float64.
GDALDataType read_type(const geo::RasterInfo& info, const std::vector<int>& read_bands) {
  const GDALDataType type = info.bands[static_cast<std::size_t>(read_bands.front() - 1)].type;
  for (int band : read_bands)
    if (info.bands[static_cast<std::size_t>(band - 1)].type != type)
      return GDT_Float64;
  switch (type) {
    case GDT_Byte:
    case GDT_UInt16:
    case GDT_Int16:
    case GDT_UInt32:
    case GDT_Int32:
    case GDT_Float32:
    case GDT_Float64:
      return type;
    default:
      return GDT_Float64;
  }
}

// The loops of validity, apart so that their byte pointers can be declared unaliased (bytes
// could alias anything) and they vectorise.
template <typename T>
void mark_nonzero(std::uint8_t* __restrict marks, const T* __restrict values, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    marks[i] = values[i] != T{0};
}

template <typename T>
void mark_differing(std::uint8_t* __restrict marks, const T* __restrict values, T value,
                    std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    marks[i] |= values[i] != value;
}

void and_marks(std::uint8_t* __restrict marks, const std::uint8_t* __restrict others,
               std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    marks[i] &= others[i];
}

// Pixels into the type the model takes them in: copied where it is theirs, else converted as
// data::BandNormaliser converts them.
template <typename T, typename P>
void convert(P* __restrict out, const T* __restrict in, std::size_t count) {
  if constexpr (std::is_same_v<T, P>)
    std::memcpy(out, in, count * sizeof(T));
  else
    for (std::size_t i = 0; i < count; ++i)
      out[i] = static_cast<P>(in[i]);
}

}  // namespace

struct WindowReader::Impl {
  const geo::Raster& scene;
  const geo::InputBands& bands;
  int tile;
  std::vector<int> read_bands;  // the inputs, then alpha
  GDALDataType type;
  geo::StripReader strips;
  // The rows of the current row of windows, taken once for all of its windows.
  std::optional<geo::StripReader::View> rows;
  geo::Window rows_span{0, -1, 0, 0};  // y_off and height of `rows`
  PixelType pixel_type = PixelType::float32;
  void (*cut)(Impl&, const geo::Window&, void*, std::uint8_t*) = nullptr;

  Impl(const geo::Raster& raster, const geo::InputBands& input_bands, int window)
      : scene(raster),
        bands(input_bands),
        tile(window),
        read_bands(with_alpha(input_bands)),
        type(read_type(raster.info(), read_bands)),
        strips(raster, read_bands, type) {
    switch (type) {
      case GDT_Byte:
        pixel_type = PixelType::uint8;
        cut = &Impl::cut_window<std::uint8_t, std::uint8_t>;
        break;
      case GDT_UInt16:
        pixel_type = PixelType::uint16;
        cut = &Impl::cut_window<std::uint16_t, std::uint16_t>;
        break;
      case GDT_Int16:
        pixel_type = PixelType::int16;
        cut = &Impl::cut_window<std::int16_t, std::int16_t>;
        break;
      case GDT_UInt32:
        cut = &Impl::cut_window<std::uint32_t, float>;
        break;
      case GDT_Int32:
        cut = &Impl::cut_window<std::int32_t, float>;
        break;
      case GDT_Float32:
        cut = &Impl::cut_window<float, float>;
        break;
      default:
        cut = &Impl::cut_window<double, float>;
    }
  }

  static std::vector<int> with_alpha(const geo::InputBands& input_bands) {
    std::vector<int> all = input_bands.inputs;
    if (input_bands.alpha)
      all.push_back(input_bands.alpha);
    return all;
  }

  // The strip of the window's rows; the next block row starts decoding when a new one is taken.
  const geo::StripReader::View& rows_of(const geo::Window& window) {
    if (!rows || rows_span.y_off != window.y_off || rows_span.height != window.height) {
      rows.reset();  // its block rows go before the next ones come
      rows.emplace(strips.view(window.y_off, window.height));
      rows_span = window;
      strips.read_ahead();
    }
    return *rows;
  }

  // `nodata` of each input band as a T, where a T can hold it; nothing where no T equals it.
  template <typename T>
  std::vector<std::optional<T>> nodata_values() const {
    std::vector<std::optional<T>> values;
    for (const std::optional<double>& nodata : bands.nodata) {
      const bool holds = nodata && std::trunc(*nodata) == *nodata &&
                         *nodata >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
                         *nodata <= static_cast<double>(std::numeric_limits<T>::max());
      values.push_back(holds ? std::optional<T>(static_cast<T>(*nodata)) : std::nullopt);
    }
    return values;
  }

  // Validity of `count` pixels of one row (band rows in `source`, alpha last): as
  // geo::InputBands::has_data, with the integer cases written out to vectorise.
  template <typename T>
  void validity(const std::vector<const T*>& source, const std::vector<std::optional<T>>& nodata,
                std::size_t count, std::uint8_t* valid) const {
    if constexpr (std::is_integral_v<T>) {
      if (bands.alpha)
        mark_nonzero(valid, source[bands.inputs.size()], count);
      else
        std::memset(valid, 1, count);
      bool any_pixel_all_nodata = bands.every_input_has_nodata;
      for (const std::optional<T>& value : nodata)
        any_pixel_all_nodata = any_pixel_all_nodata && value.has_value();
      if (!any_pixel_all_nodata)
        return;  // a band whose nodata no T can hold always has data
      std::vector<std::uint8_t>& differing = scratch_;
      differing.assign(count, 0);
      for (std::size_t b = 0; b < bands.inputs.size(); ++b)
        mark_differing(differing.data(), source[b], *nodata[b], count);
      and_marks(valid, differing.data(), count);
    } else {
      (void)nodata;
      for (std::size_t x = 0; x < count; ++x)
        valid[x] = bands.has_data_of<T>([&](std::size_t b) { return source[b][x]; });
    }
  }

  template <typename T, typename P>
  static void cut_window(Impl& self, const geo::Window& window, void* pixels, std::uint8_t* valid) {
    auto* image = static_cast<P*>(pixels);
    const geo::StripReader::View& view = self.rows_of(window);
    const auto tile = static_cast<std::size_t>(self.tile);
    const std::size_t plane = tile * tile;
    const std::size_t channels = self.bands.inputs.size();
    std::vector<const T*> source(self.read_bands.size());
    const std::vector<std::optional<T>> nodata = self.nodata_values<T>();
    for (std::size_t y = 0; y < tile; ++y) {
      // Pixels past the scene edge (a scene smaller than a tile) mirror the scene, as the
      // reflection padding of image models does; they are cropped again by the stitcher.
      const std::int64_t source_y = geo::reflect_index(static_cast<std::int64_t>(y), window.height);
      for (std::size_t b = 0; b < source.size(); ++b)
        source[b] = reinterpret_cast<const T*>(view.row(b, source_y)) + window.x_off;
      std::uint8_t* valid_row = valid + y * tile;
      if (window.width == self.tile) {
        for (std::size_t b = 0; b < channels; ++b)
          convert(image + b * plane + y * tile, source[b], tile);
        if (static_cast<std::int64_t>(y) < window.height)
          self.validity(source, nodata, tile, valid_row);
        else
          std::memset(valid_row, 0, tile);
        continue;
      }
      self.padded_row(source, nodata, window, y, image + y * tile, valid_row);
    }
  }

  // One row of a window narrower than the tile: columns mirrored, padding invalid.
  template <typename T, typename P>
  void padded_row(const std::vector<const T*>& source, const std::vector<std::optional<T>>& nodata,
                  const geo::Window& window, std::size_t y, P* image_row, std::uint8_t* valid_row) {
    const auto width = static_cast<std::size_t>(window.width);
    const std::size_t plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
    std::vector<std::uint8_t>& inside_valid = padding_;
    inside_valid.resize(width);
    validity(source, nodata, width, inside_valid.data());
    const bool inside_y = static_cast<std::int64_t>(y) < window.height;
    for (std::size_t x = 0; x < static_cast<std::size_t>(tile); ++x) {
      const auto source_x =
          static_cast<std::size_t>(geo::reflect_index(static_cast<std::int64_t>(x), window.width));
      valid_row[x] = inside_y && x < width ? inside_valid[source_x] : 0;
      for (std::size_t b = 0; b < bands.inputs.size(); ++b)
        image_row[b * plane + x] = static_cast<P>(source[b][source_x]);
    }
  }

  mutable std::vector<std::uint8_t> scratch_, padding_;
};

WindowReader::WindowReader(const geo::Raster& scene, const geo::InputBands& bands, int tile)
    : impl_(std::make_unique<Impl>(scene, bands, tile)) {}

WindowReader::~WindowReader() = default;

PixelType WindowReader::pixel_type() const {
  return impl_->pixel_type;
}

void WindowReader::fill(const geo::WindowGrid& grid, std::int64_t first, std::int64_t count,
                        int batch_size, void* images, std::vector<std::uint8_t>& valid) {
  const auto plane = static_cast<std::size_t>(impl_->tile) * static_cast<std::size_t>(impl_->tile);
  const std::size_t window_bytes =
      impl_->bands.inputs.size() * plane *
      static_cast<std::size_t>(shards::pixel_type_bytes(impl_->pixel_type));
  auto* bytes = static_cast<std::uint8_t*>(images);
  valid.resize(static_cast<std::size_t>(count) * plane);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t index = first + i;
    try {
      read_window(grid.inside(index), bytes + static_cast<std::size_t>(i) * window_bytes,
                  valid.data() + static_cast<std::size_t>(i) * plane);
    } catch (const Error& error) {
      throw Error(impl_->scene.info().path + ", " + grid.describe(index) + ": " + error.what());
    }
  }
  std::memset(bytes + static_cast<std::size_t>(count) * window_bytes, 0,
              static_cast<std::size_t>(batch_size - count) * window_bytes);
}

void WindowReader::read_window(const geo::Window& window, void* image, std::uint8_t* valid) {
  impl_->cut(*impl_, window, image, valid);
}

}  // namespace satunet::predict
