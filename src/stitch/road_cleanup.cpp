#include "stitch/road_cleanup.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/labels.hpp"
#include "geo/metric_plane.hpp"
#include "geo/vector.hpp"

namespace satunet::stitch {
namespace {

// Metres per pixel along the columns and the rows at the scene's centre. The graph lives in
// the linear plane (col * x, row * y) of pixel-edge coordinates, which maps back exactly.
struct PixelScale {
  double x = 1;
  double y = 1;
  double smaller() const { return std::min(x, y); }
};

PixelScale pixel_scale(const geo::RasterInfo& raster) {
  const geo::MetricPlane plane(raster);
  const double col = static_cast<double>(raster.width) / 2;
  const double row = static_cast<double>(raster.height) / 2;
  const geo::Point centre = plane.to_metres(col, row);
  auto metres_to = [&](geo::Point point) {
    return std::hypot(point.x - centre.x, point.y - centre.y);
  };
  return {metres_to(plane.to_metres(col + 1, row)), metres_to(plane.to_metres(col, row + 1))};
}

// A road mask (1 = road) and the scale of its pixels.
class RoadMask {
 public:
  RoadMask(std::vector<std::uint8_t> road, std::int64_t width, std::int64_t height,
           PixelScale scale)
      : road_(std::move(road)), width_(width), height_(height), scale_(scale) {}

  // Half the road's width at a point of the plane: the distance from its pixel to the centre of
  // the nearest pixel that is not road, less half a pixel (drawn again with this radius, a road
  // of n pixels across covers n pixels). Outside the scene counts as road, so a road leaving
  // the scene keeps its width up to the edge.
  double half_width_at(geo::Point at) const {
    constexpr std::int64_t kMaxRing = 64;
    const auto col = static_cast<std::int64_t>(std::floor(at.x / scale_.x));
    const auto row = static_cast<std::int64_t>(std::floor(at.y / scale_.y));
    double nearest = std::numeric_limits<double>::infinity();
    for (std::int64_t ring = 0; ring <= kMaxRing; ++ring) {
      if (static_cast<double>(ring) * scale_.smaller() >= nearest)
        break;
      for (std::int64_t dy = -ring; dy <= ring; ++dy)
        for (std::int64_t dx = -ring; dx <= ring; ++dx) {
          if (std::max(std::abs(dx), std::abs(dy)) != ring || is_road(col + dx, row + dy))
            continue;
          nearest = std::min(nearest, std::hypot(static_cast<double>(dx) * scale_.x,
                                                 static_cast<double>(dy) * scale_.y));
        }
    }
    if (!std::isfinite(nearest))
      nearest = static_cast<double>(kMaxRing) * scale_.smaller();
    return std::max(0.0, nearest - scale_.smaller() / 2);
  }

  // The median half-width along a path.
  double half_width_along(const std::vector<geo::Point>& path) const {
    std::vector<double> widths;
    for (const geo::Point& point : path)
      widths.push_back(half_width_at(point));
    const auto middle = widths.begin() + static_cast<std::ptrdiff_t>(widths.size() / 2);
    std::nth_element(widths.begin(), middle, widths.end());
    return *middle;
  }

  const std::vector<std::uint8_t>& pixels() const { return road_; }

 private:
  bool is_road(std::int64_t col, std::int64_t row) const {
    if (col < 0 || row < 0 || col >= width_ || row >= height_)
      return true;
    return road_[static_cast<std::size_t>(row * width_ + col)] != 0;
  }

  std::vector<std::uint8_t> road_;
  std::int64_t width_;
  std::int64_t height_;
  PixelScale scale_;
};

// Draws the segment a-b (plane metres) `radius` metres wide on each side: every pixel whose
// centre lies that close to it.
void draw_segment(std::vector<std::uint8_t>& mask, std::int64_t width, std::int64_t height,
                  geo::Point a, geo::Point b, double radius, PixelScale scale) {
  const auto first_col = std::max<std::int64_t>(
      0, static_cast<std::int64_t>(std::floor((std::min(a.x, b.x) - radius) / scale.x)));
  const auto last_col = std::min<std::int64_t>(
      width - 1, static_cast<std::int64_t>(std::floor((std::max(a.x, b.x) + radius) / scale.x)));
  const auto first_row = std::max<std::int64_t>(
      0, static_cast<std::int64_t>(std::floor((std::min(a.y, b.y) - radius) / scale.y)));
  const auto last_row = std::min<std::int64_t>(
      height - 1, static_cast<std::int64_t>(std::floor((std::max(a.y, b.y) + radius) / scale.y)));
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double squared_length = dx * dx + dy * dy;
  for (std::int64_t row = first_row; row <= last_row; ++row)
    for (std::int64_t col = first_col; col <= last_col; ++col) {
      const double px = (static_cast<double>(col) + 0.5) * scale.x;
      const double py = (static_cast<double>(row) + 0.5) * scale.y;
      const double t =
          squared_length > 0
              ? std::clamp(((px - a.x) * dx + (py - a.y) * dy) / squared_length, 0.0, 1.0)
              : 0.0;
      if (std::hypot(px - (a.x + t * dx), py - (a.y + t * dy)) <= radius)
        mask[static_cast<std::size_t>(row * width + col)] = 1;
    }
}

// The skeleton of a road mask, with roads that leave the scene running on to its edge:
// thinned alone, a road would stop half its width short of the edge, as it does at a dead end.
// So the mask is thinned with its edge pixels repeated outwards, and the skeleton inside kept.
std::vector<scoring::PixelIndex> centre_line_pixels(const std::vector<std::uint8_t>& road,
                                                    std::int64_t width, std::int64_t height) {
  constexpr std::int64_t kPad = 64;  // more than half the widest road, in pixels
  const std::int64_t padded_width = width + 2 * kPad, padded_height = height + 2 * kPad;
  std::vector<std::uint8_t> padded(static_cast<std::size_t>(padded_width * padded_height));
  for (std::int64_t row = 0; row < padded_height; ++row) {
    const std::int64_t source_row = std::clamp<std::int64_t>(row - kPad, 0, height - 1);
    for (std::int64_t col = 0; col < padded_width; ++col) {
      const std::int64_t source_col = std::clamp<std::int64_t>(col - kPad, 0, width - 1);
      padded[static_cast<std::size_t>(row * padded_width + col)] =
          road[static_cast<std::size_t>(source_row * width + source_col)];
    }
  }
  scoring::thin(padded, padded_width, padded_height);
  std::vector<scoring::PixelIndex> inside;
  for (const scoring::PixelIndex& pixel :
       scoring::skeleton_pixels(padded, padded_width, padded_height))
    if (pixel.col >= kPad && pixel.col < kPad + width && pixel.row >= kPad &&
        pixel.row < kPad + height)
      inside.push_back({pixel.col - kPad, pixel.row - kPad});
  return inside;
}

}  // namespace

RoadCleanupResult clean_roads(std::vector<std::uint8_t>& classes, std::uint8_t road,
                              const geo::RasterInfo& raster, const RoadCleanupOptions& options) {
  const std::int64_t width = raster.width, height = raster.height;
  const PixelScale scale = pixel_scale(raster);
  std::vector<std::uint8_t> pixels(classes.size());
  std::transform(classes.begin(), classes.end(), pixels.begin(),
                 [road](std::uint8_t c) { return std::uint8_t(c == road); });
  const RoadMask mask(pixels, width, height, scale);
  RoadCleanupResult result;
  scoring::RoadGraph& graph = result.graph;
  graph = scoring::graph_from_skeleton(centre_line_pixels(pixels, width, height),
                                       [scale](double col, double row) {
                                         return geo::Point{col * scale.x, row * scale.y};
                                       });
  scoring::prune_spurs(graph, options.spur_m);
  scoring::drop_short_pieces(graph, options.min_length_m);

  // A gap is drawn as wide as the road that ends at it. A centre line stops about half the
  // road's width short of its stroke's end, on both sides of a break: a break of the mask
  // `gap_m` long is that much longer between centre lines.
  std::vector<double> end_half_width(graph.nodes.size(), 0), allowance(graph.nodes.size(), 0);
  for (const scoring::RoadGraph::Edge& edge : graph.edges) {
    const double measured = mask.half_width_along(edge.path);  // once for both of its ends
    for (const int node : {edge.from, edge.to}) {
      end_half_width[static_cast<std::size_t>(node)] = measured;
      allowance[static_cast<std::size_t>(node)] = 2 * measured;
    }
  }
  const std::vector<int> gaps = scoring::close_gaps(graph, options.gap_m, allowance);
  result.gaps_closed = static_cast<int>(gaps.size());
  std::vector<double> half_width(graph.edges.size(), -1);
  for (const int gap : gaps)
    half_width[static_cast<std::size_t>(gap)] =
        end_half_width[static_cast<std::size_t>(graph.edges[gap].from)];

  std::fill(pixels.begin(), pixels.end(), 0);
  for (std::size_t e = 0; e < graph.edges.size(); ++e) {
    const scoring::RoadGraph::Edge& edge = graph.edges[e];
    const double radius = half_width[e] >= 0 ? half_width[e] : mask.half_width_along(edge.path);
    for (std::size_t i = 0; i + 1 < edge.path.size(); ++i)
      draw_segment(pixels, width, height, edge.path[i], edge.path[i + 1], radius, scale);
  }
  scoring::merge_chains(graph);  // gaps closed end to end make one road
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (classes[i] == kIgnoreLabel)
      continue;
    const bool was = mask.pixels()[i] != 0, is = pixels[i] != 0;
    if (was && !is) {
      classes[i] = 0;
      ++result.pixels_removed;
    } else if (is && !was) {
      classes[i] = road;
      ++result.pixels_added;
    }
  }
  return result;
}

void write_road_centre_lines(const std::string& path, const scoring::RoadGraph& graph,
                             const geo::RasterInfo& raster) {
  const PixelScale scale = pixel_scale(raster);
  const geo::SpatialRef srs = raster.srs();
  geo::VectorWriter writer(path, "roads", wkbLineString, srs, srs,
                           {{"length_m", geo::FieldType::real},
                            {"from_node", geo::FieldType::integer},
                            {"to_node", geo::FieldType::integer}});
  for (const scoring::RoadGraph::Edge& edge : graph.edges) {
    std::vector<geo::Point> line;
    for (const geo::Point& metres : edge.path)
      line.push_back(raster.transform.pixel_to_world(metres.x / scale.x, metres.y / scale.y));
    writer.add_line(line, {edge.length_m, std::int64_t{edge.from}, std::int64_t{edge.to}});
  }
  writer.commit();
}

}  // namespace satunet::stitch
