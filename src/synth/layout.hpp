#pragma once
// The objects of a generated scene, laid out in scene pixel coordinates (x = column, y = row,
// both at pixel edges) before anything is drawn. Everything here is a pure function of the
// seed, so strips can be rendered in any order.
#include <array>
#include <cstdint>
#include <vector>

#include "geo/georef.hpp"

namespace satunet::synth {

using geo::Point;

enum class LandCover { vegetation, soil, water };

struct Road {
  std::vector<Point> centre;  // polyline, may extend past the scene edges
  double width_px = 0;
  bool major = false;
};

// One straight piece of a road, with the arc length where it starts (for lane markings).
struct RoadSegment {
  Point a, b;
  double half_width = 0;
  double start_length = 0;
  int road = 0;
  bool major = false;
};

enum class RoofShape { flat, gable };

struct Building {
  std::vector<Point> outline;  // closed implicitly, counter-clockwise or not
  Point centre;
  double axis_angle = 0;   // orientation of the long axis, radians
  double half_length = 0;  // of the bounding rectangle along / across the axis, pixels
  double half_depth = 0;
  double height_m = 0;
  double radius = 0;  // circumscribed radius in pixels
  RoofShape roof = RoofShape::flat;
  std::array<double, 4> colour{};  // red, green, blue, near infrared reflectance
  bool l_shaped = false;
};

struct Tree {
  Point centre;
  double radius = 0;  // pixels
  double height_m = 0;
};

struct SceneSpec {
  std::int64_t size = 2048;  // pixels per side
  double gsd = 0.5;          // metres per pixel
  std::uint64_t seed = 1;
};

struct Layout {
  SceneSpec spec;
  std::vector<Road> roads;
  std::vector<RoadSegment> segments;
  std::vector<Building> buildings;
  std::vector<Tree> trees;
  // Shadow direction (pixels per metre of object height, in x and y).
  Point shadow_per_metre;
};

Layout make_layout(const SceneSpec& spec);

// Land cover at a pixel position (also used to keep buildings out of water).
LandCover land_cover(const SceneSpec& spec, double x, double y);

// Swath-edge corner without data: true where the sensor saw nothing.
bool in_nodata_corner(const SceneSpec& spec, double x, double y);

bool point_in_polygon(const std::vector<Point>& polygon, double x, double y);
double distance_to_segment(const Point& p, const Point& a, const Point& b, double* along);

}  // namespace satunet::synth
