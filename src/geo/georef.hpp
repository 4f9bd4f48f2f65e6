#pragma once
// Georeference math on GDAL's six-coefficient affine transform, independent of GDAL itself:
//   x = c[0] + col * c[1] + row * c[2]
//   y = c[3] + col * c[4] + row * c[5]
// (col, row) are pixel-edge coordinates: (0, 0) is the top-left corner of the first pixel and
// (0.5, 0.5) its centre.
#include <array>
#include <cstdint>
#include <string>

namespace satunet::geo {

struct Point {
  double x = 0;
  double y = 0;
};

// A pixel rectangle of a raster: offsets and size in pixels.
struct Window {
  std::int64_t x_off = 0;
  std::int64_t y_off = 0;
  std::int64_t width = 0;
  std::int64_t height = 0;
  bool operator==(const Window& other) const {
    return x_off == other.x_off && y_off == other.y_off && width == other.width &&
           height == other.height;
  }
};

struct Extent {
  double min_x = 0, min_y = 0, max_x = 0, max_y = 0;
  bool intersects(const Extent& other) const {
    return min_x < other.max_x && other.min_x < max_x && min_y < other.max_y && other.min_y < max_y;
  }
  std::string to_string() const;
};

class GeoTransform {
 public:
  GeoTransform() = default;
  explicit GeoTransform(const std::array<double, 6>& coefficients);
  // The usual case: no rotation, rows going south (pixel_height is positive here and the
  // stored coefficient is its negative).
  static GeoTransform north_up(double origin_x, double origin_y, double pixel_width,
                               double pixel_height);

  const std::array<double, 6>& coefficients() const { return c_; }
  const double* data() const { return c_.data(); }

  Point pixel_to_world(double col, double row) const;
  // Throws when the transform is degenerate (zero determinant).
  Point world_to_pixel(double x, double y) const;
  Point pixel_centre(std::int64_t col, std::int64_t row) const {
    return pixel_to_world(col + 0.5, row + 0.5);
  }

  // The transform of a sub-window whose top-left pixel is (x_off, y_off).
  GeoTransform for_window(std::int64_t x_off, std::int64_t y_off) const;
  Extent extent(std::int64_t width, std::int64_t height) const;

  bool is_north_up() const { return c_[2] == 0 && c_[4] == 0 && c_[5] < 0; }
  double pixel_width() const { return c_[1]; }
  double pixel_height() const { return -c_[5]; }
  bool operator==(const GeoTransform& other) const { return c_ == other.c_; }
  bool operator!=(const GeoTransform& other) const { return !(*this == other); }
  // True when every coefficient agrees to `tolerance` of a pixel (for grid comparisons).
  bool same_grid(const GeoTransform& other, double tolerance = 1e-6) const;
  std::string to_string() const;

 private:
  std::array<double, 6> c_{0, 1, 0, 0, 0, 1};
};

}  // namespace satunet::geo
