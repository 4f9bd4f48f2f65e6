#pragma once
// Distances and areas on the ground for the pixels of a georeferenced raster, in any CRS: a
// plane in metres that is the CRS itself (scaled by its linear unit) where it is projected,
// and a local transverse Mercator centred on the raster where it is geographic (degrees are
// not lengths). Scores in metres and square metres (footprint areas, road lengths) use it.
#include <cstdint>
#include <optional>

#include "geo/georef.hpp"
#include "geo/raster.hpp"
#include "geo/srs.hpp"

namespace satunet::geo {

class MetricPlane {
 public:
  // Throws Error naming the raster when it has no CRS or geotransform.
  explicit MetricPlane(const RasterInfo& raster);

  // A pixel-edge coordinate (col, row) of the raster -> metres in the plane.
  Point to_metres(double col, double row) const;
  // A point of the plane -> the raster's CRS.
  Point to_world(Point metres) const;
  // The ground area of one pixel of `row` (at the middle column; it changes along a row only
  // in a rotated geographic grid, and there by far less than a pixel's own error).
  double pixel_area_m2(std::int64_t row) const;
  // The side of a square of a pixel's ground area at the raster's centre, in metres: its
  // ground sample distance, as a model sees it.
  double pixel_size_m() const;

  const SpatialRef& srs() const { return srs_; }

 private:
  GeoTransform transform_;
  SpatialRef srs_;
  double metres_per_unit_ = 1;
  std::int64_t middle_column_ = 0;
  std::int64_t middle_row_ = 0;
  std::optional<CoordinateTransform> to_local_;
  std::optional<CoordinateTransform> from_local_;
};

// MetricPlane(raster).pixel_size_m(), or none for a raster without a CRS or geotransform.
std::optional<double> ground_pixel_size_m(const RasterInfo& raster);

}  // namespace satunet::geo
