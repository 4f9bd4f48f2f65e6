#include "geo/labels.hpp"

#include <gdal_alg.h>
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/log.hpp"
#include "common/text.hpp"
#include "geo/gdal.hpp"

namespace satunet::geo {

struct VectorLabels::Feature {
  std::unique_ptr<OGRGeometry> geometry;
  OGREnvelope envelope;
  int class_id = 0;
};

namespace {

bool is_line(OGRwkbGeometryType type) {
  const auto flat = wkbFlatten(type);
  return flat == wkbLineString || flat == wkbMultiLineString;
}

// The area a feature labels: polygons as they are, lines buffered to `line_width()` metres,
// points nothing; collections member by member (so that a line in a collection gets its
// width and a point in one burns nothing). Null where nothing is left.
template <typename LineWidth>
std::unique_ptr<OGRGeometry> area_of(const OGRGeometry& geometry, const SpatialRef& srs,
                                     LineWidth& line_width);

std::string class_list(const std::vector<std::string>& names) {
  return text::join(names, ",");
}

// Buffers a line given in `srs` by `half_width_m` metres. In a geographic CRS the buffer is
// made in a local transverse Mercator centred on the line, where degrees do not distort it.
std::unique_ptr<OGRGeometry> buffer_in_metres(const OGRGeometry& line, const SpatialRef& srs,
                                              double half_width_m) {
  if (!srs.is_geographic()) {
    const double units = srs.linear_units_in_metres();
    return std::unique_ptr<OGRGeometry>(line.Buffer(half_width_m / units, 8));
  }
  OGREnvelope envelope;
  line.getEnvelope(&envelope);
  const SpatialRef local =
      local_metric_crs({(envelope.MinX + envelope.MaxX) / 2, (envelope.MinY + envelope.MaxY) / 2});
  const CoordinateTransform to_local(srs, local);
  const CoordinateTransform from_local(local, srs);
  std::unique_ptr<OGRGeometry> projected(line.clone());
  GEO_CHECK(projected->transform(to_local.ogr()) == OGRERR_NONE,
            "cannot project a line to a local metric CRS: ", last_gdal_error());
  std::unique_ptr<OGRGeometry> buffered(projected->Buffer(half_width_m, 8));
  GEO_CHECK(buffered && buffered->transform(from_local.ogr()) == OGRERR_NONE,
            "cannot buffer a line: ", last_gdal_error());
  return buffered;
}

template <typename LineWidth>
std::unique_ptr<OGRGeometry> area_of(const OGRGeometry& geometry, const SpatialRef& srs,
                                     LineWidth& line_width) {
  const OGRwkbGeometryType type = wkbFlatten(geometry.getGeometryType());
  if (type == wkbPolygon || type == wkbMultiPolygon)
    return std::unique_ptr<OGRGeometry>(geometry.clone());
  if (is_line(type))
    return buffer_in_metres(geometry, srs, line_width() / 2);
  if (type != wkbGeometryCollection)
    return nullptr;
  auto areas = std::make_unique<OGRGeometryCollection>();
  for (const OGRGeometry* member : *geometry.toGeometryCollection())
    if (auto area = area_of(*member, srs, line_width))
      areas->addGeometryDirectly(area.release());
  if (areas->IsEmpty())
    return nullptr;
  return areas;
}

}  // namespace

VectorLabels::VectorLabels(const std::vector<VectorLabelSource>& sources, const RasterInfo& scene,
                           const std::vector<std::string>& class_names, const LineWidths& widths,
                           bool all_touched)
    : scene_(scene), scene_srs_(scene.srs()), all_touched_(all_touched) {
  for (const VectorLabelSource& source : sources)
    load(source, class_names, widths);
  std::stable_sort(features_.begin(), features_.end(),
                   [](const Feature& a, const Feature& b) { return a.class_id < b.class_id; });
  const Extent scene_extent = scene.extent();
  const bool any_overlap = std::any_of(features_.begin(), features_.end(), [&](const Feature& f) {
    return scene_extent.intersects(
        {f.envelope.MinX, f.envelope.MinY, f.envelope.MaxX, f.envelope.MaxY});
  });
  if (!any_overlap) {
    Extent labels{INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (const Feature& f : features_) {
      labels = {std::min(labels.min_x, f.envelope.MinX), std::min(labels.min_y, f.envelope.MinY),
                std::max(labels.max_x, f.envelope.MaxX), std::max(labels.max_y, f.envelope.MaxY)};
    }
    std::vector<std::string> paths;
    for (const auto& source : sources)
      paths.push_back(source.path);
    throw Error(text::join(paths, ", ") + ": labels do not overlap the scene " + scene.path +
                ": labels extent " + (features_.empty() ? "empty" : labels.to_string()) +
                ", scene extent " + scene_extent.to_string() + " (in " + scene_srs_.label() + ")");
  }
}

VectorLabels::~VectorLabels() = default;
VectorLabels::VectorLabels(VectorLabels&&) noexcept = default;
VectorLabels& VectorLabels::operator=(VectorLabels&&) noexcept = default;

void VectorLabels::load(const VectorLabelSource& source,
                        const std::vector<std::string>& class_names, const LineWidths& widths) {
  init_gdal();
  clear_gdal_error();
  GDALDatasetUniquePtr dataset(
      GDALDataset::Open(source.path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY));
  if (!dataset)
    throw Error(source.path + ": cannot open vector labels: " + last_gdal_error());
  GEO_CHECK(dataset->GetLayerCount() > 0, source.path, ": vector file has no layers");
  for (OGRLayer* layer : dataset->GetLayers()) {
    const OGRSpatialReference* layer_srs = layer->GetSpatialRef();
    if (!layer_srs)
      throw Error(source.path + ": vector labels have no CRS (layer " + layer->GetName() +
                  "); assign one, e.g. ogr2ogr -a_srs EPSG:4326");
    SpatialRef labels_srs;
    {
      char* wkt = nullptr;
      layer_srs->exportToWkt(&wkt);
      labels_srs = SpatialRef::from_wkt(wkt ? wkt : "");
      CPLFree(wkt);
    }
    const CoordinateTransform to_scene(labels_srs, scene_srs_);
    const OGRFeatureDefn* definition = layer->GetLayerDefn();
    int class_field = -1;
    if (!source.class_id) {
      class_field = definition->GetFieldIndex(source.class_field.c_str());
      if (class_field < 0)
        throw Error(source.path + ": no attribute '" + source.class_field + "' for --class-field");
    }
    const int width_field =
        widths.width_field.empty() ? -1 : definition->GetFieldIndex(widths.width_field.c_str());
    for (auto& ogr_feature : *layer) {
      const OGRGeometry* geometry = ogr_feature->GetGeometryRef();
      if (!geometry || geometry->IsEmpty()) {
        ++skipped_;
        continue;
      }
      int class_id = source.class_id.value_or(-1);
      if (class_field >= 0) {
        const auto found = source.class_by_value.find(ogr_feature->GetFieldAsString(class_field));
        if (found == source.class_by_value.end()) {
          ++skipped_;  // values missing from --class-map are not labels
          continue;
        }
        class_id = found->second;
      }
      std::unique_ptr<OGRGeometry> in_scene(geometry->clone());
      if (in_scene->transform(to_scene.ogr()) != OGRERR_NONE)
        throw Error(source.path + ": cannot reproject feature " +
                    std::to_string(ogr_feature->GetFID()) + " to " + scene_srs_.label() + ": " +
                    last_gdal_error());
      auto line_width = [&]() {
        double width_m = 0;
        if (width_field >= 0 && ogr_feature->IsFieldSetAndNotNull(width_field))
          width_m = ogr_feature->GetFieldAsDouble(width_field);
        if (width_m > 0)
          return width_m;
        const auto fixed = widths.metres_by_class.find(class_id);
        if (fixed == widths.metres_by_class.end())
          throw Error(source.path + ": line features of class '" + class_names[class_id] +
                      "' need a width: --line-width " + class_names[class_id] +
                      "=METRES or --width-field FIELD");
        return fixed->second;
      };
      in_scene = area_of(*in_scene, scene_srs_, line_width);
      if (!in_scene) {
        ++skipped_;  // points carry no area to label
        continue;
      }
      Feature feature;
      in_scene->getEnvelope(&feature.envelope);
      feature.geometry = std::move(in_scene);
      feature.class_id = class_id;
      features_.push_back(std::move(feature));
    }
  }
  if (skipped_ > 0)
    log::debug(source.path, ": ", skipped_, " features without a class or an area skipped");
}

void VectorLabels::rasterize(const Window& window, std::uint8_t* labels) const {
  std::fill(labels, labels + window.width * window.height, std::uint8_t{0});
  burn(window, GDT_Byte, labels,
       [](const Feature& feature, std::size_t) { return std::optional<double>(feature.class_id); });
}

void VectorLabels::rasterize_instances(const Window& window, int class_id,
                                       std::int32_t* ids) const {
  std::fill(ids, ids + window.width * window.height, std::int32_t{0});
  burn(window, GDT_Int32, ids, [class_id](const Feature& feature, std::size_t index) {
    return feature.class_id == class_id ? std::optional<double>(static_cast<double>(index) + 1)
                                        : std::nullopt;
  });
}

template <typename BurnValue>
void VectorLabels::burn(const Window& window, GDALDataType type, void* pixels,
                        BurnValue burn_value) const {
  const GeoTransform transform = scene_.transform.for_window(window.x_off, window.y_off);
  const Extent extent = transform.extent(window.width, window.height);
  std::vector<OGRGeometryH> geometries;
  std::vector<double> burn_values;
  for (std::size_t index = 0; index < features_.size(); ++index) {
    const Feature& feature = features_[index];
    if (!extent.intersects({feature.envelope.MinX, feature.envelope.MinY, feature.envelope.MaxX,
                            feature.envelope.MaxY}))
      continue;
    if (const std::optional<double> value = burn_value(feature, index)) {
      geometries.push_back(OGRGeometry::ToHandle(feature.geometry.get()));
      burn_values.push_back(*value);
    }
  }
  if (geometries.empty())
    return;
  // A MEM dataset over the caller's buffer: no copy in or out.
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDatasetUniquePtr target(mem->Create("", static_cast<int>(window.width),
                                          static_cast<int>(window.height), 0, type, nullptr));
  GEO_CHECK(target != nullptr, "cannot create a MEM dataset: ", last_gdal_error());
  const std::string pointer =
      "DATAPOINTER=" + std::to_string(reinterpret_cast<std::uintptr_t>(pixels));
  const char* band_options[] = {pointer.c_str(), nullptr};
  GEO_CHECK(target->AddBand(type, const_cast<char**>(band_options)) == CE_None,
            "cannot wrap a label buffer: ", last_gdal_error());
  target->SetGeoTransform(const_cast<double*>(transform.data()));
  target->SetSpatialRef(&scene_srs_.ogr());
  int band = 1;
  const char* options[] = {all_touched_ ? "ALL_TOUCHED=TRUE" : "ALL_TOUCHED=FALSE", nullptr};
  clear_gdal_error();
  if (GDALRasterizeGeometries(target.get(), 1, &band, static_cast<int>(geometries.size()),
                              geometries.data(), nullptr, nullptr, burn_values.data(),
                              const_cast<char**>(options), nullptr, nullptr) != CE_None)
    throw Error(scene_.path + ": rasterizing labels into window (" + std::to_string(window.x_off) +
                ", " + std::to_string(window.y_off) + ", " + std::to_string(window.width) + ", " +
                std::to_string(window.height) + ") failed: " + last_gdal_error());
}

LineWidths LineWidthOptions::by_class(const std::vector<std::string>& classes) const {
  LineWidths widths;
  widths.width_field = width_field;
  for (const auto& [name, metres] : line_width_m) {
    if (!(metres > 0))
      throw UsageError("--line-width " + name + ": the width must be positive");
    widths.metres_by_class[class_index(classes, name, "--line-width")] = metres;
  }
  return widths;
}

const options::Table<LineWidthOptions>& line_width_option_table() {
  using O = LineWidthOptions;
  static const auto table =
      options::Table<O>()
          .repeated("line-width", &O::line_width_m,
                    "buffer line features of CLASS to this width, in metres (any CRS, degrees "
                    "included)",
                    "CLASS=METRES")
          .value("width-field", &O::width_field,
                 "attribute holding each line's width in metres (wins over --line-width where "
                 "set)",
                 "FIELD");
  return table;
}

namespace {

// Why `raster` does not lie on `grid` pixel for pixel (size, geotransform, CRS); "" when it
// does. `grid_role` names the grid's raster.
std::string off_grid(const RasterInfo& raster, const RasterInfo& grid,
                     const std::string& grid_role) {
  if (raster.width != grid.width || raster.height != grid.height)
    return raster.path + ": " + std::to_string(raster.width) + " x " +
           std::to_string(raster.height) + " pixels but " + grid_role + " " + grid.path + " is " +
           std::to_string(grid.width) + " x " + std::to_string(grid.height);
  if (raster.has_geotransform && grid.has_geotransform &&
      !raster.transform.same_grid(grid.transform, 1e-3))
    return raster.path + ": on another grid than " + grid_role + " " + grid.path +
           ": geotransform " + raster.transform.to_string() + " vs " + grid.transform.to_string();
  if (!raster.crs_wkt.empty() && !grid.crs_wkt.empty() && !raster.srs().same_as(grid.srs()))
    return raster.path + ": CRS " + raster.srs().label() + " differs from " + grid_role + "'s " +
           grid.srs().label();
  return "";
}

std::optional<Raster> onto_grid(const Raster& stored, const RasterInfo* grid,
                                const std::string& grid_role) {
  if (grid == nullptr)
    return std::nullopt;
  const std::string why = off_grid(stored.info(), *grid, grid_role);
  if (why.empty())
    return std::nullopt;
  if (!stored.info().georeferenced() || !grid->georeferenced())
    throw Error(why + " (only georeferenced rasters are warped onto another grid)");
  log::info(stored.info().path, ": warped onto the grid of ", grid_role, " ", grid->path,
            " (nearest neighbour)");
  return stored.warped_onto(*grid);
}

}  // namespace

ClassRaster::ClassRaster(const std::string& path, const std::vector<std::string>& class_names)
    : ClassRaster(path, class_names, nullptr, "") {}

ClassRaster::ClassRaster(const std::string& path, const std::vector<std::string>& class_names,
                         const RasterInfo& grid, const std::string& grid_role)
    : ClassRaster(path, class_names, &grid, grid_role) {}

ClassRaster::ClassRaster(const std::string& path, const std::vector<std::string>& class_names,
                         const RasterInfo* grid, const std::string& grid_role)
    : stored_(Raster::open(path)),
      warped_(onto_grid(stored_, grid, grid_role)),
      // Read as float64 so that no value is wrapped or rounded before it is checked.
      reader_(warped_ ? *warped_ : stored_, {1}, GDT_Float64),
      class_names_(class_names) {}

void ClassRaster::read(std::int64_t first_row, std::int64_t rows,
                       std::vector<std::uint8_t>& labels) {
  reader_.read(first_row, rows, raw_);
  const std::size_t count = raw_.size() / sizeof(double);
  labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    double value = 0;
    std::memcpy(&value, raw_.data() + i * sizeof value, sizeof value);
    labels[i] = class_id(value, first_row, i);
  }
}

std::uint8_t ClassRaster::class_id(double value, std::int64_t first_row, std::size_t index) const {
  const RasterInfo& raster = info();
  if (is_nodata(value, raster.bands.front().nodata) || value == kIgnoreLabel)
    return kIgnoreLabel;
  const auto classes = static_cast<double>(class_names_.size());
  if (value >= 0 && value < classes && value == std::floor(value))
    return static_cast<std::uint8_t>(value);
  const auto at = static_cast<std::int64_t>(index);
  throw Error(raster.path + ": value " + options::show(value) + " at pixel (" +
              std::to_string(at % raster.width) + ", " +
              std::to_string(first_row + at / raster.width) + ") is neither a class id (0 to " +
              std::to_string(class_names_.size() - 1) + ": " + class_list(class_names_) +
              "), 255 nor the nodata value");
}

SceneLabels::SceneLabels(const std::string& class_raster, const RasterInfo& scene,
                         const std::vector<std::string>& class_names, const std::string& scene_role)
    : width_(scene.width) {
  raster_.emplace(class_raster, class_names, scene, scene_role);
}

SceneLabels::SceneLabels(VectorLabels vectors, const RasterInfo& scene)
    : width_(scene.width), vectors_(std::move(vectors)) {}

void SceneLabels::read(std::int64_t first_row, std::int64_t rows,
                       std::vector<std::uint8_t>& labels) {
  if (raster_)
    return raster_->read(first_row, rows, labels);
  labels.resize(static_cast<std::size_t>(width_ * rows));
  vectors_->rasterize({0, first_row, width_, rows}, labels.data());
}

}  // namespace satunet::geo
