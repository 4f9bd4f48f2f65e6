#include "synth/render.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "synth/random.hpp"

namespace satunet::synth {
namespace {

using Colour = std::array<double, 4>;  // red, green, blue, near infrared

constexpr Colour kVegetation{0.17, 0.29, 0.12, 0.50};
constexpr Colour kSoil{0.50, 0.42, 0.31, 0.36};
constexpr Colour kWater{0.07, 0.14, 0.21, 0.03};
constexpr Colour kAsphalt{0.31, 0.31, 0.33, 0.22};
constexpr Colour kPaint{0.85, 0.85, 0.80, 0.60};
constexpr Colour kCanopy{0.09, 0.23, 0.07, 0.45};
constexpr Colour kShadowTint{0.42, 0.44, 0.50, 0.40};

enum NoiseStream : std::uint64_t {
  kTexture = 100,
  kPatches,
  kSensor,
  kCanopyTexture,
  kRoofTexture
};

// The reflectance of band `band` of `bands`: the drawn four as they are, or Sentinel-2's twelve
// (B01 ... B08, B8A, B09, B11, B12) by where each lies between them in the spectrum: coastal
// below blue, the red edge between red and near infrared, water vapour and short-wave infrared
// from both.
double reflectance_of(const Colour& c, int band, int bands) {
  if (bands <= 4)
    return c[static_cast<std::size_t>(band)];
  const double red = c[0], green = c[1], blue = c[2], nir = c[3];
  switch (band) {
    case 0:
      return 0.9 * blue;
    case 1:
      return blue;
    case 2:
      return green;
    case 3:
      return red;
    case 4:
      return red + 0.25 * (nir - red);
    case 5:
      return red + 0.6 * (nir - red);
    case 6:
      return red + 0.85 * (nir - red);
    case 7:
      return nir;
    case 8:
      return 1.02 * nir;
    case 9:
      return 0.6 * nir;
    case 10:
      return 0.55 * red + 0.35 * nir;
    default:
      return 0.5 * red + 0.15 * nir;
  }
}

Colour scaled(const Colour& colour, double factor) {
  return {colour[0] * factor, colour[1] * factor, colour[2] * factor, colour[3] * factor};
}

double min_edge_distance(const std::vector<Point>& outline, const Point& p) {
  double nearest = INFINITY;
  for (std::size_t i = 0; i < outline.size(); ++i)
    nearest = std::min(
        nearest, distance_to_segment(p, outline[i], outline[(i + 1) % outline.size()], nullptr));
  return nearest;
}

struct Box {
  double min_x, min_y, max_x, max_y;
};

Box outline_box(const std::vector<Point>& outline, Point shift) {
  Box box{INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (const Point& p : outline) {
    for (const Point& q : {p, Point{p.x + shift.x, p.y + shift.y}}) {
      box.min_x = std::min(box.min_x, q.x);
      box.max_x = std::max(box.max_x, q.x);
      box.min_y = std::min(box.min_y, q.y);
      box.max_y = std::max(box.max_y, q.y);
    }
  }
  return box;
}

Point shadow_of(const Layout& layout, double height_m) {
  return {layout.shadow_per_metre.x * height_m, layout.shadow_per_metre.y * height_m};
}

}  // namespace

struct Renderer::RowContext {
  std::int64_t strip_index;
};

Renderer::Renderer(const Layout& layout, int bands, std::int64_t strip_rows)
    : layout_(layout), bands_(bands), strip_rows_(strip_rows) {
  const std::size_t strips =
      static_cast<std::size_t>((layout.spec.size + strip_rows - 1) / strip_rows);
  segments_by_strip_.resize(strips);
  buildings_by_strip_.resize(strips);
  trees_by_strip_.resize(strips);
  for (int i = 0; i < static_cast<int>(layout.segments.size()); ++i) {
    const RoadSegment& s = layout.segments[i];
    bucket(segments_by_strip_, i, std::min(s.a.y, s.b.y) - s.half_width,
           std::max(s.a.y, s.b.y) + s.half_width);
  }
  for (int i = 0; i < static_cast<int>(layout.buildings.size()); ++i) {
    const Building& b = layout.buildings[i];
    const Box box = outline_box(b.outline, shadow_of(layout, b.height_m));
    bucket(buildings_by_strip_, i, box.min_y, box.max_y);
  }
  for (int i = 0; i < static_cast<int>(layout.trees.size()); ++i) {
    const Tree& t = layout.trees[i];
    const Point shadow = shadow_of(layout, t.height_m);
    bucket(trees_by_strip_, i, t.centre.y - t.radius + std::min(0.0, shadow.y),
           t.centre.y + t.radius + std::max(0.0, shadow.y));
  }
}

void Renderer::bucket(std::vector<std::vector<int>>& buckets, int index, double min_y,
                      double max_y) {
  const auto last = static_cast<std::int64_t>(buckets.size()) - 1;
  const std::int64_t first_strip =
      std::clamp(static_cast<std::int64_t>(std::floor(min_y / strip_rows_)), std::int64_t{0}, last);
  const std::int64_t last_strip =
      std::clamp(static_cast<std::int64_t>(std::floor(max_y / strip_rows_)), std::int64_t{0}, last);
  if (max_y < 0 || min_y > static_cast<double>(layout_.spec.size))
    return;
  for (std::int64_t strip = first_strip; strip <= last_strip; ++strip)
    buckets[static_cast<std::size_t>(strip)].push_back(index);
}

void Renderer::render(std::int64_t first_row, std::int64_t rows, Strip& strip) const {
  const std::int64_t width = layout_.spec.size;
  strip.first_row = first_row;
  strip.rows = rows;
  strip.width = width;
  strip.reflectance.assign(static_cast<std::size_t>(bands_ * rows * width), 0.0f);
  strip.label.assign(static_cast<std::size_t>(rows * width), kBackground);
  const RowContext context{first_row / strip_rows_};
#pragma omp parallel for schedule(dynamic, 4)
  for (std::int64_t row = first_row; row < first_row + rows; ++row)
    draw_row(row, strip, context);
}

void Renderer::draw_row(std::int64_t row, Strip& strip, const RowContext& context) const {
  const SceneSpec& spec = layout_.spec;
  const std::int64_t width = strip.width;
  const double gsd = spec.gsd;
  const double y = static_cast<double>(row) + 0.5;
  const std::size_t strip_index = static_cast<std::size_t>(context.strip_index);
  std::vector<Colour> colour(static_cast<std::size_t>(width));
  std::vector<std::uint8_t> shadow(static_cast<std::size_t>(width), 0);
  std::uint8_t* label = strip.label.data() + (row - strip.first_row) * width;

  // Ground: land cover with texture at two scales (fields, then grass and clods).
  for (std::int64_t col = 0; col < width; ++col) {
    const double x = static_cast<double>(col) + 0.5;
    const double xm = x * gsd, ym = y * gsd;
    const LandCover cover = land_cover(spec, x, y);
    const Colour& base = cover == LandCover::water  ? kWater
                         : cover == LandCover::soil ? kSoil
                                                    : kVegetation;
    const double strength = cover == LandCover::water ? 0.05 : 0.25;
    const double patches = fractal_noise(hash(spec.seed, kPatches), xm / 60, ym / 60, 2);
    const double texture = fractal_noise(hash(spec.seed, kTexture), xm / 3, ym / 3, 3);
    colour[col] = scaled(base, 1 + strength * (0.6 * patches + texture));
  }

  // Roads, with dashed centre lines and solid edge lines on the major ones.
  const double paint_half = std::max(0.15 / gsd, 0.35);
  for (int index : segments_by_strip_[strip_index]) {
    const RoadSegment& s = layout_.segments[index];
    if (y < std::min(s.a.y, s.b.y) - s.half_width || y > std::max(s.a.y, s.b.y) + s.half_width)
      continue;
    const auto col_begin = std::max<std::int64_t>(
        0, static_cast<std::int64_t>(std::floor(std::min(s.a.x, s.b.x) - s.half_width)));
    const auto col_end = std::min<std::int64_t>(
        width, static_cast<std::int64_t>(std::ceil(std::max(s.a.x, s.b.x) + s.half_width)) + 1);
    for (std::int64_t col = col_begin; col < col_end; ++col) {
      const Point p{static_cast<double>(col) + 0.5, y};
      double along = 0;
      const double distance = distance_to_segment(p, s.a, s.b, &along);
      if (distance > s.half_width)
        continue;
      label[col] = kRoad;
      const double arc_m = (s.start_length + along) * gsd;
      const bool centre_dash = distance < paint_half && std::fmod(arc_m, 12.0) < 6.0;
      const bool edge_line = std::abs(distance - (s.half_width - 0.6 / gsd)) < paint_half;
      const double grain =
          fractal_noise(hash(spec.seed, kTexture), p.x * gsd / 1.5, p.y * gsd / 1.5, 2);
      colour[col] =
          (s.major && (centre_dash || edge_line)) ? kPaint : scaled(kAsphalt, 1 + 0.08 * grain);
    }
  }

  // Shadows of buildings and trees, cast away from the sun, fall on ground and roads.
  for (int index : buildings_by_strip_[strip_index]) {
    const Building& b = layout_.buildings[index];
    const Point cast = shadow_of(layout_, b.height_m);
    const Box box = outline_box(b.outline, cast);
    if (y < box.min_y || y > box.max_y)
      continue;
    const auto col_begin = std::max<std::int64_t>(0, static_cast<std::int64_t>(box.min_x));
    const auto col_end = std::min<std::int64_t>(width, static_cast<std::int64_t>(box.max_x) + 1);
    for (std::int64_t col = col_begin; col < col_end; ++col) {
      const double x = static_cast<double>(col) + 0.5;
      for (const double t : {0.25, 0.5, 0.75, 1.0}) {
        if (point_in_polygon(b.outline, x - t * cast.x, y - t * cast.y)) {
          shadow[col] = 1;
          break;
        }
      }
    }
  }
  for (int index : trees_by_strip_[strip_index]) {
    const Tree& t = layout_.trees[index];
    const Point cast = shadow_of(layout_, t.height_m);
    const Point centre{t.centre.x + 0.8 * cast.x, t.centre.y + 0.8 * cast.y};
    if (std::abs(y - centre.y) > t.radius)
      continue;
    const auto col_begin =
        std::max<std::int64_t>(0, static_cast<std::int64_t>(centre.x - t.radius));
    const auto col_end =
        std::min<std::int64_t>(width, static_cast<std::int64_t>(centre.x + t.radius) + 1);
    for (std::int64_t col = col_begin; col < col_end; ++col)
      if (std::hypot(static_cast<double>(col) + 0.5 - centre.x, y - centre.y) < t.radius)
        shadow[col] = 1;
  }
  for (std::int64_t col = 0; col < width; ++col)
    if (shadow[col])
      for (int band = 0; band < 4; ++band)
        colour[col][band] *= kShadowTint[band];

  // Roofs: gables lit on one side, flat roofs with a darker parapet.
  for (int index : buildings_by_strip_[strip_index]) {
    const Building& b = layout_.buildings[index];
    const Box box = outline_box(b.outline, {0, 0});
    if (y < box.min_y || y > box.max_y)
      continue;
    const double c = std::cos(b.axis_angle), s = std::sin(b.axis_angle);
    const auto col_begin = std::max<std::int64_t>(0, static_cast<std::int64_t>(box.min_x));
    const auto col_end = std::min<std::int64_t>(width, static_cast<std::int64_t>(box.max_x) + 1);
    for (std::int64_t col = col_begin; col < col_end; ++col) {
      const Point p{static_cast<double>(col) + 0.5, y};
      if (!point_in_polygon(b.outline, p.x, p.y))
        continue;
      label[col] = kBuilding;
      const double across = -(p.x - b.centre.x) * s + (p.y - b.centre.y) * c;
      double light = 1.0;
      if (b.roof == RoofShape::gable) {
        light = across < 0 ? 1.0 : 0.74;
        if (std::abs(across) * gsd < 0.35)
          light = 1.12;
      } else if (min_edge_distance(b.outline, p) * gsd < 0.6) {
        light = 0.8;
      }
      const double grain = fractal_noise(hash(spec.seed, kRoofTexture), p.x * gsd, p.y * gsd, 2);
      colour[col] = scaled(b.colour, light * (1 + 0.05 * grain));
    }
  }

  // Tree canopies last: they hide parts of roads (whose labels stay roads, as in real labels).
  for (int index : trees_by_strip_[strip_index]) {
    const Tree& t = layout_.trees[index];
    if (std::abs(y - t.centre.y) > t.radius)
      continue;
    const auto col_begin =
        std::max<std::int64_t>(0, static_cast<std::int64_t>(t.centre.x - t.radius));
    const auto col_end =
        std::min<std::int64_t>(width, static_cast<std::int64_t>(t.centre.x + t.radius) + 1);
    for (std::int64_t col = col_begin; col < col_end; ++col) {
      const double x = static_cast<double>(col) + 0.5;
      const double d = std::hypot(x - t.centre.x, y - t.centre.y) / t.radius;
      if (d >= 1)
        continue;
      const double leaves =
          fractal_noise(hash(spec.seed, kCanopyTexture), x * gsd / 0.8, y * gsd / 0.8, 2);
      colour[col] = scaled(kCanopy, (1.1 - 0.45 * d * d) * (1 + 0.25 * leaves));
    }
  }

  // The sensor: noise on every band, nothing at all in the swath-edge corner.
  for (std::int64_t col = 0; col < width; ++col) {
    const bool valid = !in_nodata_corner(spec, static_cast<double>(col) + 0.5, y);
    if (!valid)
      label[col] = kIgnoreLabel;
    for (int band = 0; band < bands_; ++band) {
      const double noise =
          0.012 * gaussian(hash(spec.seed, kSensor, static_cast<std::uint64_t>(row * width + col),
                                static_cast<std::uint64_t>(band)));
      const double value =
          valid ? std::clamp(reflectance_of(colour[col], band, bands_) + noise, 0.0, 1.0) : -1.0;
      strip.reflectance[static_cast<std::size_t>(
          (band * strip.rows + (row - strip.first_row)) * width + col)] = static_cast<float>(value);
    }
  }
}

}  // namespace satunet::synth
