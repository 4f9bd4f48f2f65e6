#pragma once
// Opening, validating, describing and reading rasters through GDAL.
#include <gdal_priv.h>

#include <cmath>

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "geo/georef.hpp"
#include "geo/srs.hpp"

namespace satunet::geo {

struct BandInfo {
  int index = 0;  // 1-based, as GDAL numbers bands
  GDALDataType type = GDT_Unknown;
  std::string description;
  std::string colour;  // colour interpretation: "Red", "Alpha", ...
  std::optional<double> nodata;
  std::vector<std::string> categories;  // class names of a class-map band
  int block_width = 0;
  int block_height = 0;
};

// The band's name for datasets and checkpoints: its description, else its colour
// interpretation ("red"), else "band<N>".
std::string band_name(const BandInfo& band);

// True when `value` is a band's nodata value (a NaN nodata matches NaN values).
bool is_nodata(double value, const std::optional<double>& nodata);

struct RasterInfo {
  std::string path;
  std::string driver;
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::vector<BandInfo> bands;
  std::string crs_wkt;  // empty without a CRS
  bool has_geotransform = false;
  GeoTransform transform;

  bool georeferenced() const { return has_geotransform && !crs_wkt.empty(); }
  SpatialRef srs() const { return SpatialRef::from_wkt(crs_wkt); }
  Extent extent() const { return transform.extent(width, height); }
  // Human-readable multi-line description, and JSON (for `satunet info`).
  std::string describe() const;
  std::string to_json() const;
};

// The bands a model takes from a scene, chosen the same way by `tile` and `predict`: every
// band but alpha, or the 1-based `requested` ones; an alpha band not asked for as an input
// marks validity (0 = no data).
struct InputBands {
  std::vector<int> inputs;                    // 1-based
  int alpha = 0;                              // 0 when none
  std::vector<std::optional<double>> nodata;  // of each input band
  bool every_input_has_nodata = false;

  // Whether pixel `i` has data, given band-sequential values of the inputs and then alpha (if
  // any), `band_stride` values per band: not when alpha is 0, when a band's value is not
  // finite or, where every input band has a nodata value, when all of them hold it.
  template <typename T>
  bool has_data(const T* values, std::size_t band_stride, std::size_t i) const {
    return has_data_of<T>([&](std::size_t b) { return values[b * band_stride + i]; });
  }
  // The same for the pixel whose value in band b (alpha last) is `value_of(b)`.
  template <typename T, typename ValueOf>
  bool has_data_of(ValueOf value_of) const {
    if (alpha && value_of(inputs.size()) == T{0})
      return false;
    // A value that is not finite (NaN, +-inf) is no measurement, whether or not the file says
    // it is its nodata value: the normaliser reads it as 0 (data/normalise.hpp), and band
    // statistics over it would not be finite.
    if constexpr (std::is_floating_point_v<T>) {
      for (std::size_t b = 0; b < inputs.size(); ++b)
        if (!std::isfinite(value_of(b)))
          return false;
    }
    if (!every_input_has_nodata)
      return true;
    for (std::size_t b = 0; b < inputs.size(); ++b)
      if (!is_nodata(static_cast<double>(value_of(b)), nodata[b]))
        return true;
    return false;
  }
};
// Throws "<path>: --bands asks for band N but the scene has M".
// `requested`: 1-based numbers or band names (a band's description, as a STAC item's eo:bands
// name, or its colour: red, green, blue, nir; any case); empty: every band but alpha.
InputBands choose_input_bands(const RasterInfo& info, const std::vector<std::string>& requested);

class Raster {
 public:
  // Throws "<path>: cannot open raster: <reason>" for missing or corrupt files.
  static Raster open(const std::string& path);
  // As open(), and also refuses a raster without a CRS or geotransform.
  static Raster open_georeferenced(const std::string& path);

  // This raster resampled onto `grid` (north-up, georeferenced) by nearest neighbour, as a
  // warped VRT: computed window by window as it is read, never whole. Pixels it does not cover
  // are its nodata (255 where it declares none). The result reads this raster's dataset: keep
  // this one alive as long as it. Messages name this raster's path.
  Raster warped_onto(const RasterInfo& grid) const;

  const RasterInfo& info() const { return info_; }
  GDALDataset& dataset() const { return *dataset_; }

  // Reads `window` (inside the raster) of the given 1-based bands, band-sequential, converted
  // to `type`, into `buffer`, which holds bands.size() * width * height values.
  void read(const Window& window, const std::vector<int>& bands, GDALDataType type,
            void* buffer) const;

 private:
  explicit Raster(GDALDatasetUniquePtr dataset, const std::string& path);
  GDALDatasetUniquePtr dataset_;
  RasterInfo info_;
};

}  // namespace satunet::geo
