#pragma once
// Class maps -> polygons (GDALPolygonize), with class names, areas, simplification and a
// minimum area, written as GeoJSON or GeoPackage in the raster's CRS.
#include <cstdint>
#include <string>
#include <vector>

namespace satunet::geo {

struct PolygonOptions {
  std::vector<std::string> class_names;  // by class id, for the "class" field
  double simplify_m = 0;                 // Douglas-Peucker tolerance in metres; 0: none
  double min_area_m2 = 0;                // smaller polygons are dropped
  bool eight_connected = false;          // pixels touching at corners form one polygon
};

struct PolygonSummary {
  std::int64_t polygons = 0;
  std::int64_t dropped_small = 0;
};

// Every region of equal value of band 1 of `raster` that is not masked (nodata pixels are
// left out) becomes a polygon with fields class (name), class_id and area_m2 (on the ground,
// also for geographic CRSs). Written to `out` (.geojson or .gpkg) atomically.
PolygonSummary polygonize_classes(const std::string& raster, const std::string& out,
                                  const PolygonOptions& options);

}  // namespace satunet::geo
