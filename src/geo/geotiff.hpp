#pragma once
// Streaming GeoTIFF writer: tiled, compressed, georeferenced, written under a temporary name
// and renamed into place by commit().
#include <gdal_priv.h>

#include <string>
#include <vector>

#include "common/files.hpp"
#include "geo/georef.hpp"
#include "geo/srs.hpp"

namespace satunet::geo {

struct GeoTiffOptions {
  int block_size = 256;
  std::string compress = "DEFLATE";  // DEFLATE, LZW, ZSTD or NONE
  int level = 6;                     // DEFLATE's or ZSTD's
  bool multithreaded = true;         // compress blocks on all cores
  // Compressed as differences of neighbours (TIFF predictor 2, 3 for floats): smaller for
  // measurements, larger and slower for class ids, which are categories.
  bool predictor = true;
  // A Cloud Optimized GeoTIFF: written tiled first, then copied by GDAL's COG driver with
  // overviews made by `overview_resampling` (NEAREST or MODE suit class maps).
  bool cog = false;
  std::string overview_resampling = "NEAREST";
};

// Colours for class maps: well-known names get their usual colour (background black, building
// red, road yellow, water blue, vegetation green, ...), others one of a fixed palette.
std::vector<GDALColorEntry> class_colours(const std::vector<std::string>& names);

// Whether this GDAL writes GeoTIFFs (and COGs) compressed by `codec` (GDAL's name: ZSTD, ...):
// ZSTD, for one, needs a libtiff built with zstd.
bool geotiff_can_compress(const std::string& codec);

class GeoTiffWriter {
 public:
  GeoTiffWriter(const std::string& path, std::int64_t width, std::int64_t height, int bands,
                GDALDataType type, const GeoTransform& transform, const SpatialRef& srs,
                const GeoTiffOptions& options = {});
  ~GeoTiffWriter();  // an uncommitted file is removed
  GeoTiffWriter(const GeoTiffWriter&) = delete;
  GeoTiffWriter& operator=(const GeoTiffWriter&) = delete;

  void set_nodata(double value);
  void set_band(int band, const std::string& description, GDALColorInterp colour);
  // For class maps: a colour table and the class names as category names (band 1).
  void set_classes(const std::vector<std::string>& names,
                   const std::vector<GDALColorEntry>& colours);

  // Writes a band-sequential buffer of all bands of `window`, holding values of `type`.
  void write(const Window& window, GDALDataType type, const void* buffer);
  // Writes out now what GDAL still holds of the windows written (compressing it on GDAL's
  // threads), rather than when its cache fills or at commit, where nothing overlaps it.
  void flush();
  // Flushes, closes and renames into place.
  void commit();

  const std::string& path() const { return pending_.final_path(); }

 private:
  void copy_to_cog();

  PendingFile pending_;
  GeoTiffOptions options_;
  std::string work_path_;  // the tiled GeoTIFF GDAL writes into (the temporary, unless COG)
  GDALDatasetUniquePtr dataset_;
};

}  // namespace satunet::geo
