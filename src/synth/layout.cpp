#include "synth/layout.hpp"

#include <algorithm>
#include <cmath>

#include "synth/random.hpp"

namespace satunet::synth {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Seeds of the independent random streams of a scene.
enum Stream : std::uint64_t {
  kMajorRoads = 1,
  kMinorRoads,
  kBuildings,
  kStreetTrees,
  kParkTrees,
  kSun,
  kWater,
  kSoil
};

// A uniform grid of object indices over the scene (plus margin), for neighbour queries.
class SpatialGrid {
 public:
  SpatialGrid(double extent, double cell) : cell_(cell), origin_(-0.25 * extent) {
    cells_ = static_cast<int>(std::ceil(1.5 * extent / cell)) + 1;
    buckets_.resize(static_cast<std::size_t>(cells_) * cells_);
  }
  void insert(int index, double min_x, double min_y, double max_x, double max_y) {
    for_cells(min_x, min_y, max_x, max_y,
              [&](std::vector<int>& bucket) { bucket.push_back(index); });
  }
  template <typename Visit>
  void query(double min_x, double min_y, double max_x, double max_y, Visit visit) const {
    for_cells(min_x, min_y, max_x, max_y, [&](const std::vector<int>& bucket) {
      for (int index : bucket)
        visit(index);
    });
  }

 private:
  int clamp_cell(double coordinate) const {
    return std::clamp(static_cast<int>(std::floor((coordinate - origin_) / cell_)), 0, cells_ - 1);
  }
  template <typename Visit>
  void for_cells(double min_x, double min_y, double max_x, double max_y, Visit visit) const {
    for (int cy = clamp_cell(min_y); cy <= clamp_cell(max_y); ++cy)
      for (int cx = clamp_cell(min_x); cx <= clamp_cell(max_x); ++cx)
        visit(buckets_[static_cast<std::size_t>(cy) * cells_ + cx]);
  }
  template <typename Visit>
  void for_cells(double min_x, double min_y, double max_x, double max_y, Visit visit) {
    for (int cy = clamp_cell(min_y); cy <= clamp_cell(max_y); ++cy)
      for (int cx = clamp_cell(min_x); cx <= clamp_cell(max_x); ++cx)
        visit(buckets_[static_cast<std::size_t>(cy) * cells_ + cx]);
  }

  double cell_;
  double origin_;
  int cells_ = 0;
  std::vector<std::vector<int>> buckets_;
};

class LayoutBuilder {
 public:
  explicit LayoutBuilder(const SceneSpec& spec)
      : spec_(spec),
        px_(1.0 / spec.gsd),
        extent_(static_cast<double>(spec.size)),
        cell_(std::max(48.0 * px_, extent_ / 400)),
        segment_grid_(extent_, cell_),
        building_grid_(extent_, cell_) {
    layout_.spec = spec;
  }

  Layout build() {
    place_sun();
    add_major_roads(true);
    add_major_roads(false);
    add_minor_roads();
    index_segments();
    for (int road = 0; road < static_cast<int>(layout_.roads.size()); ++road)
      for (int side : {-1, 1})
        line_road_with_buildings(road, side);
    for (int road = 0; road < static_cast<int>(layout_.roads.size()); ++road)
      for (int side : {-1, 1})
        line_road_with_trees(road, side);
    add_park_trees();
    return std::move(layout_);
  }

 private:
  double metres(double value) const { return value * px_; }
  double area_km2() const {
    const double side_km = extent_ * spec_.gsd / 1000;
    return side_km * side_km;
  }

  void place_sun() {
    Rng rng(hash(spec_.seed, kSun));
    const double azimuth = rng.uniform(120, 160) * kPi / 180;  // from the south-east
    const double elevation = rng.uniform(45, 60) * kPi / 180;
    const double length = 1.0 / std::tan(elevation);  // metres of shadow per metre of height
    // Shadows point away from the sun; rows grow southwards.
    layout_.shadow_per_metre = {-std::sin(azimuth) * length * px_,
                                std::cos(azimuth) * length * px_};
  }

  // Gently curving arterial roads across the whole scene, roughly on a grid.
  void add_major_roads(bool vertical) {
    Rng rng(hash(spec_.seed, kMajorRoads, vertical ? 1 : 2));
    const double spacing = metres(rng.uniform(280, 380));
    const int count = std::max(1, static_cast<int>(std::round(extent_ / spacing)));
    for (int i = 0; i < count; ++i) {
      const double base = (i + 0.5) * extent_ / count + metres(rng.uniform(-50, 50));
      const double amplitude1 = metres(rng.uniform(15, 60));
      const double wavelength1 = metres(rng.uniform(600, 1400));
      const double amplitude2 = metres(rng.uniform(3, 12));
      const double wavelength2 = metres(rng.uniform(150, 300));
      const double phase1 = rng.uniform(0, 2 * kPi), phase2 = rng.uniform(0, 2 * kPi);
      Road road;
      road.major = true;
      road.width_px = metres(rng.uniform(9, 14));
      const double step = metres(8);
      for (double along = -metres(40); along <= extent_ + metres(40); along += step) {
        const double across = base + amplitude1 * std::sin(2 * kPi * along / wavelength1 + phase1) +
                              amplitude2 * std::sin(2 * kPi * along / wavelength2 + phase2);
        road.centre.push_back(vertical ? Point{across, along} : Point{along, across});
      }
      layout_.roads.push_back(std::move(road));
    }
  }

  // Winding residential streets: a random walk of the heading.
  void add_minor_roads() {
    Rng rng(hash(spec_.seed, kMinorRoads));
    const int count = std::max(2, static_cast<int>(std::round(area_km2() * 6)));
    for (int i = 0; i < count; ++i) {
      Road road;
      road.width_px = metres(rng.uniform(5, 7.5));
      Point at{rng.uniform(0, extent_), rng.uniform(0, extent_)};
      double heading = rng.uniform(0, 2 * kPi);
      double turn = 0;
      const double length = metres(rng.uniform(250, 900));
      const double step = metres(6);
      for (double travelled = 0; travelled <= length; travelled += step) {
        road.centre.push_back(at);
        turn = std::clamp(turn + rng.uniform(-0.02, 0.02), -0.05, 0.05);
        heading += turn;
        at = {at.x + step * std::cos(heading), at.y + step * std::sin(heading)};
      }
      layout_.roads.push_back(std::move(road));
    }
  }

  void index_segments() {
    for (int road_index = 0; road_index < static_cast<int>(layout_.roads.size()); ++road_index) {
      const Road& road = layout_.roads[road_index];
      double length = 0;
      for (std::size_t i = 0; i + 1 < road.centre.size(); ++i) {
        RoadSegment segment{road.centre[i], road.centre[i + 1], road.width_px / 2,
                            length,         road_index,         road.major};
        length += std::hypot(segment.b.x - segment.a.x, segment.b.y - segment.a.y);
        const double pad = segment.half_width;
        segment_grid_.insert(
            static_cast<int>(layout_.segments.size()), std::min(segment.a.x, segment.b.x) - pad,
            std::min(segment.a.y, segment.b.y) - pad, std::max(segment.a.x, segment.b.x) + pad,
            std::max(segment.a.y, segment.b.y) + pad);
        layout_.segments.push_back(segment);
      }
    }
  }

  // Distance from `p` to the nearest road edge (negative inside a road), searched within
  // `radius`; returns `radius` when no road is that close.
  double clearance_to_roads(const Point& p, double radius) const {
    double nearest = radius;
    segment_grid_.query(p.x - radius, p.y - radius, p.x + radius, p.y + radius, [&](int index) {
      const RoadSegment& segment = layout_.segments[index];
      const double distance = distance_to_segment(p, segment.a, segment.b, nullptr);
      nearest = std::min(nearest, distance - segment.half_width);
    });
    return nearest;
  }

  static std::vector<Point> outline_for(const Building& building, double cut_x, double cut_y) {
    const double l = building.half_length, d = building.half_depth;
    std::vector<Point> local;
    if (building.l_shaped) {
      local = {{-l, -d}, {l, -d}, {l, d - cut_y}, {l - cut_x, d - cut_y}, {l - cut_x, d}, {-l, d}};
    } else {
      local = {{-l, -d}, {l, -d}, {l, d}, {-l, d}};
    }
    const double c = std::cos(building.axis_angle), s = std::sin(building.axis_angle);
    std::vector<Point> outline;
    for (const Point& q : local)
      outline.push_back(
          {building.centre.x + q.x * c - q.y * s, building.centre.y + q.x * s + q.y * c});
    return outline;
  }

  // Separating-axis test of the two buildings' bounding rectangles, grown by `gap`.
  static bool rectangles_overlap(const Building& a, const Building& b, double gap) {
    const Building* pair[2] = {&a, &b};
    for (const Building* owner : pair) {
      for (const double axis : {owner->axis_angle, owner->axis_angle + kPi / 2}) {
        const double ux = std::cos(axis), uy = std::sin(axis);
        auto half_extent = [&](const Building& r) {
          const double c = std::cos(r.axis_angle - axis), s = std::sin(r.axis_angle - axis);
          return std::abs(c) * r.half_length + std::abs(s) * r.half_depth;
        };
        const double distance =
            std::abs((b.centre.x - a.centre.x) * ux + (b.centre.y - a.centre.y) * uy);
        if (distance > half_extent(a) + half_extent(b) + gap)
          return false;
      }
    }
    return true;
  }

  bool fits(const Building& candidate) const {
    if (land_cover(spec_, candidate.centre.x, candidate.centre.y) == LandCover::water)
      return false;
    // Sample the outline every ~2 m: a road through the footprint comes close to it.
    const auto& outline = candidate.outline;
    for (std::size_t i = 0; i < outline.size(); ++i) {
      const Point& a = outline[i];
      const Point& b = outline[(i + 1) % outline.size()];
      const int samples = 1 + static_cast<int>(std::hypot(b.x - a.x, b.y - a.y) / metres(2));
      for (int k = 0; k < samples; ++k) {
        const double t = static_cast<double>(k) / samples;
        if (clearance_to_roads({a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)}, metres(3)) <
            metres(1.5))
          return false;
      }
    }
    bool clear = true;
    const double r = candidate.radius + metres(3);
    building_grid_.query(
        candidate.centre.x - r, candidate.centre.y - r, candidate.centre.x + r,
        candidate.centre.y + r, [&](int index) {
          if (clear && rectangles_overlap(candidate, layout_.buildings[index], metres(2)))
            clear = false;
        });
    return clear;
  }

  // A house or warehouse facing the road at `p` (unit `tangent`), on `side` of it.
  Building make_building(Rng& rng, Point p, Point tangent, int side, double road_half_width) const {
    Building building;
    const bool warehouse = rng.chance(0.08);
    const double length = warehouse ? rng.uniform(25, 45) : rng.uniform(8, 22);
    const double depth = warehouse ? rng.uniform(16, 28) : rng.uniform(8, std::min(16.0, length));
    building.half_length = metres(length / 2);
    building.half_depth = metres(depth / 2);
    building.axis_angle = std::atan2(tangent.y, tangent.x) + rng.uniform(-0.06, 0.06);
    building.height_m = warehouse ? rng.uniform(6, 12) : rng.uniform(3.5, 10);
    building.radius = std::hypot(building.half_length, building.half_depth);
    building.l_shaped = !warehouse && rng.chance(0.3);
    building.roof = (!warehouse && rng.chance(0.55)) ? RoofShape::gable : RoofShape::flat;
    static const std::array<std::array<double, 4>, 6> kRoofs = {{{0.55, 0.27, 0.20, 0.30},
                                                                 {0.60, 0.60, 0.60, 0.55},
                                                                 {0.30, 0.30, 0.32, 0.28},
                                                                 {0.70, 0.74, 0.78, 0.65},
                                                                 {0.45, 0.35, 0.28, 0.33},
                                                                 {0.38, 0.45, 0.52, 0.40}}};
    building.colour = kRoofs[static_cast<std::size_t>(rng.below(static_cast<int>(kRoofs.size())))];
    const double tint = rng.uniform(0.85, 1.15);
    for (double& channel : building.colour)
      channel = std::min(0.95, channel * tint);
    const double setback = metres(rng.uniform(3, 10));
    const double offset = side * (road_half_width + setback + building.half_depth);
    building.centre = {p.x - tangent.y * offset, p.y + tangent.x * offset};
    const double cut_x = 2 * building.half_length * rng.uniform(0.35, 0.6);
    const double cut_y = 2 * building.half_depth * rng.uniform(0.35, 0.6);
    building.outline = outline_for(building, cut_x, cut_y);
    return building;
  }

  // Walks along one side of a road, placing houses that face it.
  void line_road_with_buildings(int road_index, int side) {
    Rng rng(hash(spec_.seed, kBuildings, static_cast<std::uint64_t>(road_index),
                 static_cast<std::uint64_t>(side + 1)));
    const double half_width = layout_.roads[road_index].width_px / 2;
    walk_road(road_index, metres(rng.uniform(2, 15)), [&](Point p, Point tangent) {
      Building building = make_building(rng, p, tangent, side, half_width);
      const double advance = 2 * building.half_length + metres(rng.uniform(3, 12));
      if (rng.chance(0.8) && fits(building))
        add_building(std::move(building));
      return advance;
    });
  }

  void add_building(Building building) {
    const int index = static_cast<int>(layout_.buildings.size());
    const double r = building.radius;
    building_grid_.insert(index, building.centre.x - r, building.centre.y - r,
                          building.centre.x + r, building.centre.y + r);
    layout_.buildings.push_back(std::move(building));
  }

  // Calls `place(point, unit tangent)` at arc-length positions; `place` returns the distance
  // to the next position.
  template <typename Place>
  void walk_road(int road_index, double first, Place place) {
    const auto& centre = layout_.roads[road_index].centre;
    double next = first, start = 0;
    for (std::size_t i = 0; i + 1 < centre.size(); ++i) {
      const Point a = centre[i], b = centre[i + 1];
      const double length = std::hypot(b.x - a.x, b.y - a.y);
      if (length <= 0)
        continue;
      const Point tangent{(b.x - a.x) / length, (b.y - a.y) / length};
      while (next < start + length) {
        const double t = (next - start) / length;
        next += std::max(metres(1),
                         place(Point{a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)}, tangent));
      }
      start += length;
    }
  }

  bool clear_of_buildings(const Point& centre, double radius) const {
    bool clear = true;
    const double r = radius + cell_;
    building_grid_.query(centre.x - r, centre.y - r, centre.x + r, centre.y + r, [&](int index) {
      const Building& building = layout_.buildings[index];
      const double c = std::cos(building.axis_angle), s = std::sin(building.axis_angle);
      const double dx = centre.x - building.centre.x, dy = centre.y - building.centre.y;
      const double along = std::abs(dx * c + dy * s) - building.half_length;
      const double across = std::abs(-dx * s + dy * c) - building.half_depth;
      const double outside = std::hypot(std::max(along, 0.0), std::max(across, 0.0));
      if (outside < radius + metres(0.5))
        clear = false;
    });
    return clear;
  }

  void add_tree(Rng& rng, Point centre) {
    Tree tree{centre, metres(rng.uniform(2.2, 4.5)), rng.uniform(5, 11)};
    if (clear_of_buildings(tree.centre, tree.radius))
      layout_.trees.push_back(tree);
  }

  // Street trees on the verge, their canopies reaching over the road edge.
  void line_road_with_trees(int road_index, int side) {
    Rng rng(hash(spec_.seed, kStreetTrees, static_cast<std::uint64_t>(road_index),
                 static_cast<std::uint64_t>(side + 1)));
    const double half_width = layout_.roads[road_index].width_px / 2;
    walk_road(road_index, metres(rng.uniform(3, 20)), [&](Point p, Point tangent) {
      if (rng.chance(0.35)) {
        const double offset = side * (half_width + metres(rng.uniform(-1, 3)));
        add_tree(rng, {p.x - tangent.y * offset, p.y + tangent.x * offset});
      }
      return metres(rng.uniform(8, 20));
    });
  }

  void add_park_trees() {
    Rng rng(hash(spec_.seed, kParkTrees));
    const int clusters = std::max(3, static_cast<int>(std::round(area_km2() * 40)));
    for (int cluster = 0; cluster < clusters; ++cluster) {
      const Point seed_point{rng.uniform(0, extent_), rng.uniform(0, extent_)};
      const int trees = 4 + rng.below(20);
      for (int i = 0; i < trees; ++i) {
        const Point at{seed_point.x + metres(rng.uniform(-30, 30)),
                       seed_point.y + metres(rng.uniform(-30, 30))};
        if (land_cover(spec_, at.x, at.y) == LandCover::vegetation)
          add_tree(rng, at);
      }
    }
  }

  SceneSpec spec_;
  double px_;
  double extent_;
  double cell_;
  Layout layout_;
  SpatialGrid segment_grid_;
  SpatialGrid building_grid_;
};

}  // namespace

Layout make_layout(const SceneSpec& spec) {
  return LayoutBuilder(spec).build();
}

LandCover land_cover(const SceneSpec& spec, double x, double y) {
  const double xm = x * spec.gsd, ym = y * spec.gsd;
  if (fractal_noise(hash(spec.seed, kWater), xm / 450, ym / 450, 3) < -0.42)
    return LandCover::water;
  if (fractal_noise(hash(spec.seed, kSoil), xm / 220, ym / 220, 3) > 0.18)
    return LandCover::soil;
  return LandCover::vegetation;
}

bool in_nodata_corner(const SceneSpec& spec, double x, double y) {
  const double size = static_cast<double>(spec.size);
  return x - 0.75 * size > 0.5 * y;
}

bool point_in_polygon(const std::vector<Point>& polygon, double x, double y) {
  bool inside = false;
  for (std::size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const Point& a = polygon[i];
    const Point& b = polygon[j];
    if ((a.y > y) != (b.y > y) && x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x)
      inside = !inside;
  }
  return inside;
}

double distance_to_segment(const Point& p, const Point& a, const Point& b, double* along) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double length2 = dx * dx + dy * dy;
  double t = length2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2 : 0;
  t = std::clamp(t, 0.0, 1.0);
  if (along)
    *along = t * std::sqrt(length2);
  return std::hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

}  // namespace satunet::synth
