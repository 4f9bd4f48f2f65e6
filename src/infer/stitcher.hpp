#pragma once
// `satunet stitch`: a prediction directory -> a class map on the scene's grid, streaming:
// windows are blended into a band of rows as tall as one tile, and every row no later window
// reaches is finished and written, so memory depends on the scene's width, not its size.
#include <cstdint>
#include <string>
#include <vector>

namespace satunet::infer {

struct StitchOptions {
  std::string prediction;     // directory from satunet predict
  std::string out;            // class map (uint8, 255 = nodata)
  std::string probabilities;  // optional per-class probabilities (uint8, p * 255)
  std::string polygons;       // optional .geojson or .gpkg
  // With `polygons` only (a config file may set them for runs with and without polygons):
  std::vector<std::string> polygon_classes;  // default: every class but the first
  double simplify_m = 0;
  double min_area_m2 = 0;
  std::string format = "GTiff";  // GTiff or COG
  std::string blend;             // "": as predicted
};

struct StitchResult {
  std::int64_t windows = 0;
  std::int64_t polygons = 0;
  double seconds = 0;
};

void validate(const StitchOptions& options);
StitchResult stitch(const StitchOptions& options);

}  // namespace satunet::infer
