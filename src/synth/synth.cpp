#include "synth/synth.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/files.hpp"
#include "common/log.hpp"
#include "common/output_directory.hpp"
#include "common/progress.hpp"
#include "geo/gdal.hpp"
#include "geo/geotiff.hpp"
#include "geo/srs.hpp"
#include "geo/vector.hpp"
#include "synth/layout.hpp"
#include "synth/render.hpp"

namespace satunet::synth {
namespace {

constexpr std::int64_t kMinSize = 64;
constexpr std::int64_t kMaxSize = 200000;

// Where the scene sits: the centre of the CRS's area of use, snapped to whole metres.
geo::GeoTransform scene_transform(const geo::SpatialRef& srs, const SynthOptions& options) {
  const geo::Point lon_lat = srs.area_of_use_centre().value_or(geo::Point{0, 0});
  const geo::Point centre = geo::CoordinateTransform(geo::SpatialRef::wgs84(), srs).apply(lon_lat);
  const double half = static_cast<double>(options.size) * options.gsd / 2;
  return geo::GeoTransform::north_up(std::round(centre.x - half), std::round(centre.y + half),
                                     options.gsd, options.gsd);
}

std::vector<geo::Point> to_world(const geo::GeoTransform& transform,
                                 const std::vector<Point>& pixels) {
  std::vector<geo::Point> world;
  world.reserve(pixels.size());
  for (const Point& p : pixels)
    world.push_back(transform.pixel_to_world(p.x, p.y));
  return world;
}

void write_vectors(const Layout& layout, const geo::GeoTransform& transform,
                   const geo::SpatialRef& srs, SynthResult& result) {
  const geo::SpatialRef wgs84 = geo::SpatialRef::wgs84();
  geo::VectorWriter buildings(result.buildings_path, "buildings", wkbPolygon, srs, wgs84,
                              {{"id", geo::FieldType::integer},
                               {"class", geo::FieldType::text},
                               {"height_m", geo::FieldType::real},
                               {"shape", geo::FieldType::text}});
  std::int64_t id = 0;
  for (const Building& building : layout.buildings) {
    buildings.add_polygon({to_world(transform, building.outline)},
                          {++id, std::string("building"), std::round(building.height_m * 10) / 10,
                           std::string(building.l_shaped ? "L" : "rectangle")});
  }
  buildings.commit();
  geo::VectorWriter roads(result.roads_path, "roads", wkbLineString, srs, wgs84,
                          {{"id", geo::FieldType::integer},
                           {"class", geo::FieldType::text},
                           {"width_m", geo::FieldType::real},
                           {"road_type", geo::FieldType::text}});
  id = 0;
  for (const Road& road : layout.roads) {
    roads.add_line(
        to_world(transform, road.centre),
        {++id, std::string("road"), std::round(road.width_px * layout.spec.gsd * 100) / 100,
         std::string(road.major ? "arterial" : "residential")});
  }
  roads.commit();
  result.buildings = static_cast<std::int64_t>(layout.buildings.size());
  result.roads = static_cast<std::int64_t>(layout.roads.size());
  result.trees = static_cast<std::int64_t>(layout.trees.size());
}

// Reflectance in [0, 1] to digital numbers; 0 is reserved for nodata.
template <typename T>
void quantise(const std::vector<float>& reflectance, double scale, std::vector<T>& out) {
  const double top = static_cast<double>(std::numeric_limits<T>::max());
  out.resize(reflectance.size());
  for (std::size_t i = 0; i < reflectance.size(); ++i) {
    out[i] = reflectance[i] < 0
                 ? T{0}
                 : static_cast<T>(std::clamp(std::round(reflectance[i] * scale), 1.0, top));
  }
}

}  // namespace

namespace {

struct BandLook {
  const char* name;
  GDALColorInterp colour;
};

BandLook band_look(int band, int bands) {
  static const BandLook kDrawn[] = {{"red", GCI_RedBand},
                                    {"green", GCI_GreenBand},
                                    {"blue", GCI_BlueBand},
                                    {"nir", GCI_Undefined}};
  // Sentinel-2 L2A's order (render.cpp's reflectance_of).
  static const BandLook kSentinel2[] = {
      {"B01", GCI_Undefined}, {"B02", GCI_BlueBand},  {"B03", GCI_GreenBand},
      {"B04", GCI_RedBand},   {"B05", GCI_Undefined}, {"B06", GCI_Undefined},
      {"B07", GCI_Undefined}, {"B08", GCI_Undefined}, {"B8A", GCI_Undefined},
      {"B09", GCI_Undefined}, {"B11", GCI_Undefined}, {"B12", GCI_Undefined}};
  return bands == 12 ? kSentinel2[band] : kDrawn[band];
}

}  // namespace

Product scene_product() {
  const std::vector<std::string> files = {"scene.tif", "truth.tif", "buildings.geojson",
                                          "roads.geojson"};
  return {"a synthetic scene", files, files};
}

const options::Table<SynthOptions>& synth_option_table() {
  using O = SynthOptions;
  static const auto table =
      options::Table<O>()
          .value("out", &O::out_dir,
                 "output directory: scene.tif, truth.tif, buildings.geojson, roads.geojson", "DIR")
          .required()
          .value("size", &O::size, "scene width and height in pixels")
          .in_range(kMinSize, kMaxSize)
          .value("seed", &O::seed, "random seed; the same seed gives identical files")
          .value("bands", &O::bands,
                 "3 (RGB), 4 (RGB + NIR) or 12 (Sentinel-2's B01 ... B12, B8A; with uint16)")
          .choices({3, 4, 12})
          .value("dtype", &O::dtype, "uint8 or uint16")
          .value("epsg", &O::epsg, "EPSG code of the scene's CRS (projected, in metres)")
          .value("gsd", &O::gsd, "ground sample distance in metres")
          .above(0)
          .at_most(100)
          .flag("overwrite", &O::overwrite, "replace an earlier scene in --out");
  return table;
}

void validate(const SynthOptions& options) {
  synth_option_table().check(options);
  if (options.strip_rows < 1)
    throw UsageError("strip rows must be positive");
  if (options.bands == 12 && options.dtype != SampleType::uint16)
    throw UsageError("--bands 12 (Sentinel-2's) goes with --dtype uint16, as Sentinel-2's are");
  const geo::SpatialRef srs = geo::SpatialRef::from_epsg(options.epsg);
  if (!srs.is_projected() || std::abs(srs.linear_units_in_metres() - 1.0) > 1e-9)
    throw UsageError("--epsg " + std::to_string(options.epsg) + " (" + srs.name() +
                     ") is not a projected CRS in metres");
}

SynthResult synthesize(const SynthOptions& options) {
  validate(options);
  geo::init_gdal();
  ensure_directory(options.out_dir);
  const OutputDirectory out(options.out_dir, scene_product(),
                            options.overwrite ? Earlier::replace : Earlier::refuse, {});
  out.clear();
  SynthResult result{options.out_dir + "/scene.tif", options.out_dir + "/truth.tif",
                     options.out_dir + "/buildings.geojson", options.out_dir + "/roads.geojson"};
  const geo::SpatialRef srs = geo::SpatialRef::from_epsg(options.epsg);
  const geo::GeoTransform transform = scene_transform(srs, options);

  const Layout layout = make_layout({options.size, options.gsd, options.seed});
  write_vectors(layout, transform, srs, result);
  log::info("synth: ", result.buildings, " buildings, ", result.roads, " roads, ", result.trees,
            " trees in a ", options.size, " x ", options.size, " scene at ", options.gsd, " m in ",
            srs.label());

  const GDALDataType type = options.dtype == SampleType::uint8 ? GDT_Byte : GDT_UInt16;
  geo::GeoTiffWriter scene(result.scene_path, options.size, options.size, options.bands, type,
                           transform, srs);
  scene.set_nodata(0);
  for (int band = 0; band < options.bands; ++band) {
    const BandLook look = band_look(band, options.bands);
    scene.set_band(band + 1, look.name, look.colour);
  }
  geo::GeoTiffWriter truth(result.truth_path, options.size, options.size, 1, GDT_Byte, transform,
                           srs);
  truth.set_nodata(kIgnoreLabel);
  const std::vector<std::string> classes = {"background", "building", "road"};
  truth.set_classes(classes, geo::class_colours(classes));

  const Renderer renderer(layout, options.bands, options.strip_rows);
  Strip strip;
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint16_t> words;
  Progress progress("synth", options.size, "rows");
  for (std::int64_t row = 0; row < options.size; row += options.strip_rows) {
    const std::int64_t rows = std::min(options.strip_rows, options.size - row);
    renderer.render(row, rows, strip);
    const geo::Window window{0, row, options.size, rows};
    if (type == GDT_Byte) {
      quantise(strip.reflectance, 300.0, bytes);
      scene.write(window, GDT_Byte, bytes.data());
    } else {
      quantise(strip.reflectance, 10000.0, words);
      scene.write(window, GDT_UInt16, words.data());
    }
    truth.write(window, GDT_Byte, strip.label.data());
    progress.advance(rows);
  }
  progress.finish();
  truth.commit();
  scene.commit();
  return result;
}

}  // namespace satunet::synth
