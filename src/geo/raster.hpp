#pragma once
// Opening, validating, describing and reading rasters through GDAL.
#include <gdal_priv.h>

#include <optional>
#include <string>
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
  // Human-readable multi-line description (for `satunet info`).
  std::string describe() const;
};

class Raster {
 public:
  // Throws "<path>: cannot open raster: <reason>" for missing or corrupt files.
  static Raster open(const std::string& path);
  // As open(), and also refuses a raster without a CRS or geotransform.
  static Raster open_georeferenced(const std::string& path);

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
