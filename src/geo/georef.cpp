#include "geo/georef.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/error.hpp"

namespace satunet::geo {

std::string Extent::to_string() const {
  char text[160];
  std::snprintf(text, sizeof text, "[%.9g, %.9g] - [%.9g, %.9g]", min_x, min_y, max_x, max_y);
  return text;
}

GeoTransform::GeoTransform(const std::array<double, 6>& coefficients) : c_(coefficients) {}

GeoTransform GeoTransform::north_up(double origin_x, double origin_y, double pixel_width,
                                    double pixel_height) {
  return GeoTransform({origin_x, pixel_width, 0, origin_y, 0, -pixel_height});
}

Point GeoTransform::pixel_to_world(double col, double row) const {
  return {c_[0] + col * c_[1] + row * c_[2], c_[3] + col * c_[4] + row * c_[5]};
}

Point GeoTransform::world_to_pixel(double x, double y) const {
  const double determinant = c_[1] * c_[5] - c_[2] * c_[4];
  if (determinant == 0 || !std::isfinite(determinant))
    throw Error("geotransform " + to_string() + " cannot be inverted");
  const double dx = x - c_[0];
  const double dy = y - c_[3];
  return {(dx * c_[5] - dy * c_[2]) / determinant, (dy * c_[1] - dx * c_[4]) / determinant};
}

GeoTransform GeoTransform::for_window(std::int64_t x_off, std::int64_t y_off) const {
  const Point origin = pixel_to_world(static_cast<double>(x_off), static_cast<double>(y_off));
  return GeoTransform({origin.x, c_[1], c_[2], origin.y, c_[4], c_[5]});
}

Extent GeoTransform::extent(std::int64_t width, std::int64_t height) const {
  Extent box{INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (const double col : {0.0, static_cast<double>(width)}) {
    for (const double row : {0.0, static_cast<double>(height)}) {
      const Point corner = pixel_to_world(col, row);
      box.min_x = std::min(box.min_x, corner.x);
      box.max_x = std::max(box.max_x, corner.x);
      box.min_y = std::min(box.min_y, corner.y);
      box.max_y = std::max(box.max_y, corner.y);
    }
  }
  return box;
}

bool GeoTransform::same_grid(const GeoTransform& other, double tolerance) const {
  const double pixel = std::max(std::abs(c_[1]), std::abs(c_[5]));
  for (int i = 0; i < 6; ++i) {
    if (std::abs(c_[i] - other.c_[i]) > tolerance * pixel)
      return false;
  }
  return true;
}

std::string GeoTransform::to_string() const {
  char text[200];
  std::snprintf(text, sizeof text, "(%.12g, %.12g, %.12g, %.12g, %.12g, %.12g)", c_[0], c_[1],
                c_[2], c_[3], c_[4], c_[5]);
  return text;
}

}  // namespace satunet::geo
