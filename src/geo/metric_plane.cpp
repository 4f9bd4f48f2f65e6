#include "geo/metric_plane.hpp"

#include <cmath>

#include "common/error.hpp"

namespace satunet::geo {

MetricPlane::MetricPlane(const RasterInfo& raster)
    : transform_(raster.transform),
      middle_column_(raster.width / 2),
      middle_row_(raster.height / 2) {
  if (!raster.georeferenced())
    throw Error(raster.path +
                ": not georeferenced (no CRS or geotransform): distances and "
                "areas on the ground are unknown");
  srs_ = raster.srs();
  if (srs_.is_geographic()) {
    const Extent extent = raster.extent();
    const SpatialRef local =
        local_metric_crs({(extent.min_x + extent.max_x) / 2, (extent.min_y + extent.max_y) / 2});
    to_local_.emplace(srs_, local);
    from_local_.emplace(local, srs_);
  } else {
    metres_per_unit_ = srs_.linear_units_in_metres();
  }
}

Point MetricPlane::to_metres(double col, double row) const {
  const Point world = transform_.pixel_to_world(col, row);
  if (to_local_)
    return to_local_->apply(world);
  return {world.x * metres_per_unit_, world.y * metres_per_unit_};
}

Point MetricPlane::to_world(Point metres) const {
  if (from_local_)
    return from_local_->apply(metres);
  return {metres.x / metres_per_unit_, metres.y / metres_per_unit_};
}

double MetricPlane::pixel_area_m2(std::int64_t row) const {
  const auto col = static_cast<double>(middle_column_);
  const auto top = static_cast<double>(row);
  const Point a = to_metres(col, top);
  const Point b = to_metres(col + 1, top);
  const Point c = to_metres(col, top + 1);
  // The parallelogram spanned by the pixel's two edges.
  return std::abs((b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x));
}

double MetricPlane::pixel_size_m() const {
  return std::sqrt(pixel_area_m2(middle_row_));
}

std::optional<double> ground_pixel_size_m(const RasterInfo& raster) {
  if (!raster.georeferenced())
    return std::nullopt;
  return MetricPlane(raster).pixel_size_m();
}

}  // namespace satunet::geo
