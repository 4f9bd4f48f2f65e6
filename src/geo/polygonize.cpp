#include "geo/polygonize.hpp"

#include <gdal_alg.h>
#include <ogrsf_frmts.h>

#include <cmath>
#include <optional>

#include "common/error.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "geo/vector.hpp"

namespace satunet::geo {
namespace {

constexpr double kMetresPerDegree = 111320.0;  // along a meridian; the smaller of the two scales

// Area on the ground of a geometry in `srs`; geographic CRSs go through a local metric CRS.
class GroundArea {
 public:
  GroundArea(const SpatialRef& srs, const Extent& extent) {
    if (srs.is_geographic()) {
      const Point centre{(extent.min_x + extent.max_x) / 2, (extent.min_y + extent.max_y) / 2};
      to_metric_.emplace(srs, local_metric_crs(centre));
    } else {
      const double metres = srs.linear_units_in_metres();
      square_metres_per_unit_ = metres * metres;
    }
  }

  double operator()(const OGRGeometry& geometry) const {
    if (!to_metric_)
      return area(geometry) * square_metres_per_unit_;
    std::unique_ptr<OGRGeometry> metric(geometry.clone());
    if (metric->transform(to_metric_->ogr()) != OGRERR_NONE)
      throw Error("cannot transform a polygon to a metric CRS: " + last_gdal_error());
    return area(*metric);
  }

 private:
  static double area(const OGRGeometry& geometry) {
    if (const auto* surface = dynamic_cast<const OGRSurface*>(&geometry))
      return surface->get_Area();
    if (const auto* collection = dynamic_cast<const OGRGeometryCollection*>(&geometry))
      return collection->get_Area();
    return 0;
  }

  std::optional<CoordinateTransform> to_metric_;
  double square_metres_per_unit_ = 1;
};

double tolerance_in_crs_units(const SpatialRef& srs, double metres) {
  return srs.is_geographic() ? metres / kMetresPerDegree : metres / srs.linear_units_in_metres();
}

}  // namespace

PolygonSummary polygonize_classes(const std::string& raster_path, const std::string& out,
                                  const PolygonOptions& options) {
  const Raster raster = Raster::open_georeferenced(raster_path);
  const RasterInfo& info = raster.info();
  const SpatialRef srs = info.srs();
  GDALRasterBand* band = raster.dataset().GetRasterBand(1);

  // GDALPolygonize writes into a layer as it sweeps the rows; an in-memory one keeps only the
  // polygons (the mask leaves nodata and unwanted classes out).
  GDALDriver* memory = GetGDALDriverManager()->GetDriverByName("Memory");
  GEO_CHECK(memory != nullptr, "the GDAL Memory vector driver is not available");
  GDALDatasetUniquePtr scratch(memory->Create("", 0, 0, 0, GDT_Unknown, nullptr));
  OGRSpatialReference* layer_srs = srs.ogr().Clone();
  OGRLayer* layer = scratch->CreateLayer("polygons", layer_srs, wkbPolygon, nullptr);
  layer_srs->Release();
  OGRFieldDefn class_field("class_id", OFTInteger);
  GEO_CHECK(layer && layer->CreateField(&class_field) == OGRERR_NONE, raster_path,
            ": cannot create a polygon layer");
  char** polygonize_options = nullptr;
  if (options.eight_connected)
    polygonize_options = CSLSetNameValue(polygonize_options, "8CONNECTED", "8");
  clear_gdal_error();
  const CPLErr status =
      GDALPolygonize(band, band->GetMaskBand(), layer, 0, polygonize_options, nullptr, nullptr);
  CSLDestroy(polygonize_options);
  if (status != CE_None)
    throw Error(raster_path + ": cannot polygonize: " + last_gdal_error());

  const GroundArea ground_area(srs, info.extent());
  const double tolerance = tolerance_in_crs_units(srs, options.simplify_m);
  VectorWriter writer(
      out, "polygons", wkbPolygon, srs, srs,
      {{"class", FieldType::text}, {"class_id", FieldType::integer}, {"area_m2", FieldType::real}});
  PolygonSummary summary;
  layer->ResetReading();
  for (auto& feature : *layer) {
    const int class_id = feature->GetFieldAsInteger(0);
    OGRGeometry* geometry = feature->GetGeometryRef();
    if (!geometry)
      continue;
    std::unique_ptr<OGRGeometry> simplified;
    if (tolerance > 0) {
      simplified.reset(geometry->SimplifyPreserveTopology(tolerance));
      if (!simplified || simplified->IsEmpty())
        continue;
      geometry = simplified.get();
    }
    const double area = ground_area(*geometry);
    if (area < options.min_area_m2) {
      ++summary.dropped_small;
      continue;
    }
    const std::string name =
        class_id >= 0 && class_id < static_cast<int>(options.class_names.size())
            ? options.class_names[static_cast<std::size_t>(class_id)]
            : "class" + std::to_string(class_id);
    writer.add(*geometry, {name, std::int64_t{class_id}, area});
  }
  summary.polygons = writer.count();
  writer.commit();
  return summary;
}

}  // namespace satunet::geo
