#include "geo/vector.hpp"

#include <algorithm>
#include <cctype>

#include "common/text.hpp"
#include "geo/gdal.hpp"

namespace satunet::geo {
namespace {

std::string lowercase_extension(const std::string& path) {
  const auto dot = path.rfind('.');
  return text::lower(dot == std::string::npos ? "" : path.substr(dot + 1));
}

OGRFieldType ogr_type(FieldType type) {
  switch (type) {
    case FieldType::integer:
      return OFTInteger64;
    case FieldType::real:
      return OFTReal;
    case FieldType::text:
      return OFTString;
  }
  return OFTString;
}

}  // namespace

std::string vector_driver_for(const std::string& path) {
  const std::string extension = lowercase_extension(path);
  if (extension == "geojson" || extension == "json")
    return "GeoJSON";
  if (extension == "gpkg")
    return "GPKG";
  // A Shapefile is several files, which one atomic rename cannot publish together.
  throw UsageError(path + ": unknown vector output format (use .geojson or .gpkg)");
}

VectorWriter::VectorWriter(const std::string& path, const std::string& layer_name,
                           OGRwkbGeometryType geometry_type, const SpatialRef& source,
                           const SpatialRef& output, std::vector<FieldDef> fields)
    : pending_(path), fields_(std::move(fields)) {
  init_gdal();
  const std::string driver_name = vector_driver_for(path);
  GDALDriver* driver = GetGDALDriverManager()->GetDriverByName(driver_name.c_str());
  GEO_CHECK(driver != nullptr, "the GDAL ", driver_name, " driver is not available");
  clear_gdal_error();
  dataset_.reset(driver->Create(pending_.temp_path().c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  if (!dataset_)
    throw Error(path + ": cannot create: " + last_gdal_error());
  OGRSpatialReference* layer_srs = output.ogr().Clone();
  layer_ = dataset_->CreateLayer(layer_name.c_str(), layer_srs, geometry_type, nullptr);
  layer_srs->Release();
  if (!layer_)
    throw Error(path + ": cannot create layer: " + last_gdal_error());
  for (const FieldDef& field : fields_) {
    OGRFieldDefn definition(field.name.c_str(), ogr_type(field.type));
    if (layer_->CreateField(&definition) != OGRERR_NONE)
      throw Error(path + ": cannot create field " + field.name + ": " + last_gdal_error());
  }
  if (!source.same_as(output))
    transform_.emplace(source, output);
}

VectorWriter::~VectorWriter() = default;

void VectorWriter::add_polygon(const std::vector<Ring>& rings,
                               const std::vector<FieldValue>& values) {
  OGRPolygon polygon;
  for (const Ring& ring : rings) {
    OGRLinearRing linear_ring;
    for (const Point& point : ring)
      linear_ring.addPoint(point.x, point.y);
    linear_ring.closeRings();
    polygon.addRing(&linear_ring);
  }
  add(polygon, values);
}

void VectorWriter::add_line(const std::vector<Point>& points,
                            const std::vector<FieldValue>& values) {
  OGRLineString line;
  for (const Point& point : points)
    line.addPoint(point.x, point.y);
  add(line, values);
}

void VectorWriter::add(OGRGeometry& geometry, const std::vector<FieldValue>& values) {
  GEO_CHECK(values.size() == fields_.size(), path(), ": ", values.size(), " attribute values for ",
            fields_.size(), " fields");
  if (transform_ && geometry.transform(transform_->ogr()) != OGRERR_NONE)
    throw Error(path() + ": cannot transform a geometry: " + last_gdal_error());
  OGRFeatureUniquePtr feature(OGRFeature::CreateFeature(layer_->GetLayerDefn()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int index = static_cast<int>(i);
    if (const auto* integer = std::get_if<std::int64_t>(&values[i])) {
      feature->SetField(index, static_cast<GIntBig>(*integer));
    } else if (const auto* real = std::get_if<double>(&values[i])) {
      feature->SetField(index, *real);
    } else {
      feature->SetField(index, std::get<std::string>(values[i]).c_str());
    }
  }
  feature->SetGeometry(&geometry);
  if (layer_->CreateFeature(feature.get()) != OGRERR_NONE)
    throw Error(path() + ": cannot write a feature: " + last_gdal_error());
  ++count_;
}

void VectorWriter::commit() {
  GEO_CHECK(dataset_ != nullptr, path(), ": committed twice");
  clear_gdal_error();
  layer_ = nullptr;
  dataset_.reset();
  if (CPLGetLastErrorType() == CE_Failure)
    throw Error(path() + ": cannot finish writing: " + last_gdal_error());
  pending_.commit();
}

}  // namespace satunet::geo
