#pragma once
// `satunet stitch`: a prediction directory -> a class map on the scene's grid, streaming:
// windows are blended into a band of rows as tall as one tile, and every row no later window
// reaches is finished and written, so memory depends on the scene's width, not its size.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/options.hpp"
#include "shards/prediction.hpp"

namespace satunet::stitch {

enum class Format { gtiff, cog };
inline const options::EnumNames<Format>& enum_names(Format) {
  static const options::EnumNames<Format> names{{Format::gtiff, "GTiff"}, {Format::cog, "COG"}};
  return names;
}

// How the class map and the probabilities are compressed: GeoTIFF's COMPRESS, in lower case.
enum class MapCompression { deflate, zstd, lzw, none };
inline const options::EnumNames<MapCompression>& enum_names(MapCompression) {
  static const options::EnumNames<MapCompression> names{{MapCompression::deflate, "deflate"},
                                                        {MapCompression::zstd, "zstd"},
                                                        {MapCompression::lzw, "lzw"},
                                                        {MapCompression::none, "none"}};
  return names;
}
// GDAL's name for it (DEFLATE, ZSTD, ...).
std::string gdal_compression(MapCompression compression);

// A road class drawn again along its cleaned centre lines (road_cleanup.hpp).
struct RoadCleanupOptions {
  std::string road_class;    // empty: no cleanup
  double spur_m = 10;        // dead ends shorter than this are pruned
  double gap_m = 12;         // breaks up to this long are closed
  double min_length_m = 40;  // pieces shorter than this in all are dropped
  std::string lines;         // the centre lines written here (.gpkg or .geojson); optional
};

// What is written beside the class map (also by `predict --stitch-to`).
struct StitchOutputs {
  std::string probabilities;  // optional per-class probabilities (uint8, p * 255)
  std::string polygons;       // optional .geojson or .gpkg
  // With `polygons` only (a config file may set them for runs with and without polygons):
  std::vector<std::string> polygon_classes;  // default: every class but the first
  double simplify_m = 0;
  double min_area_m2 = 0;
  Format format = Format::gtiff;
  MapCompression compression = MapCompression::deflate;
  RoadCleanupOptions roads;
};

struct StitchOptions {
  std::string prediction;              // directory from satunet predict
  std::string out;                     // class map (uint8, 255 = nodata)
  std::optional<shards::Blend> blend;  // nothing: as predicted
  StitchOutputs outputs;
  bool overwrite = false;  // replace existing output files
};

const options::Table<RoadCleanupOptions>& road_cleanup_option_table();
const options::Table<StitchOutputs>& stitch_output_option_table();
const options::Table<StitchOptions>& stitch_option_table();

struct StitchResult {
  std::int64_t windows = 0;
  std::int64_t polygons = 0;
  // With a road cleanup: gaps closed, road pixels taken away and added, centre lines.
  int road_gaps_closed = 0;
  std::int64_t road_pixels_removed = 0;
  std::int64_t road_pixels_added = 0;
  std::int64_t road_lines = 0;
  double seconds = 0;
};

void validate(const StitchOptions& options);  // throws UsageError
StitchResult stitch(const StitchOptions& options);
// "mask: ... (N windows blended in S s)" and the other outputs, one line each.
std::string describe(const StitchOptions& options, const StitchResult& result);

}  // namespace satunet::stitch
