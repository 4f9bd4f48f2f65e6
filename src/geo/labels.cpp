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

MaskLabels::MaskLabels(const std::string& path, const RasterInfo& scene,
                       const std::vector<std::string>& class_names)
    // Read as int32 so that values above 255 are reported, not wrapped.
    : raster_(Raster::open(path)), reader_(raster_, {1}, GDT_Int32), class_names_(class_names) {
  const RasterInfo& mask = raster_.info();
  if (mask.width != scene.width || mask.height != scene.height)
    throw Error(path + ": mask is " + std::to_string(mask.width) + " x " +
                std::to_string(mask.height) + " pixels but the scene " + scene.path + " is " +
                std::to_string(scene.width) + " x " + std::to_string(scene.height));
  if (mask.has_geotransform && scene.has_geotransform &&
      !mask.transform.same_grid(scene.transform, 1e-3))
    throw Error(path + ": mask is on another grid than the scene " + scene.path +
                ": geotransform " + mask.transform.to_string() + " vs " +
                scene.transform.to_string());
  if (!mask.crs_wkt.empty() && !scene.crs_wkt.empty() && !mask.srs().same_as(scene.srs()))
    throw Error(path + ": mask CRS " + mask.srs().label() + " differs from the scene's " +
                scene.srs().label());
  GEO_CHECK(mask.bands.front().type == GDT_Byte || mask.bands.front().type == GDT_UInt16 ||
                mask.bands.front().type == GDT_Int16 || mask.bands.front().type == GDT_Int32 ||
                mask.bands.front().type == GDT_UInt32,
            path, ": a mask must hold integer class ids, not ",
            data_type_name(mask.bands.front().type));
  nodata_ = mask.bands.front().nodata;
}

void MaskLabels::read(std::int64_t first_row, std::int64_t rows,
                      std::vector<std::uint8_t>& labels) {
  reader_.read(first_row, rows, raw_);
  const std::size_t count = raw_.size() / sizeof(std::int32_t);
  labels.resize(count);
  const auto classes = static_cast<int>(class_names_.size());
  const std::int64_t width = raster_.info().width;
  for (std::size_t i = 0; i < count; ++i) {
    std::int32_t value = 0;
    std::memcpy(&value, raw_.data() + i * sizeof value, sizeof value);
    if (nodata_ && value == *nodata_) {
      labels[i] = kIgnoreLabel;
    } else if (value < 0 || value >= classes) {
      const auto index = static_cast<std::int64_t>(i);
      throw Error(raster_.info().path + ": class value " + std::to_string(value) + " at pixel (" +
                  std::to_string(index % width) + ", " + std::to_string(first_row + index / width) +
                  ") is not in --classes (" + class_list(class_names_) + ")");
    } else {
      labels[i] = static_cast<std::uint8_t>(value);
    }
  }
}

}  // namespace satunet::geo
