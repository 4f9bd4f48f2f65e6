#pragma once
// Writing vector layers (GeoJSON or GeoPackage: the driver follows the extension),
// transformed on the way out and renamed into place by commit().
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/files.hpp"
#include "geo/georef.hpp"
#include "geo/srs.hpp"

namespace satunet::geo {

enum class FieldType { integer, real, text };
struct FieldDef {
  std::string name;
  FieldType type;
};
using FieldValue = std::variant<std::int64_t, double, std::string>;
using Ring = std::vector<Point>;

// "GeoJSON" for .geojson/.json, "GPKG" for .gpkg.
std::string vector_driver_for(const std::string& path);

class VectorWriter {
 public:
  // Geometries are given in `source` and written in `output`.
  VectorWriter(const std::string& path, const std::string& layer_name,
               OGRwkbGeometryType geometry_type, const SpatialRef& source, const SpatialRef& output,
               std::vector<FieldDef> fields);
  ~VectorWriter();

  void add_polygon(const std::vector<Ring>& rings, const std::vector<FieldValue>& values);
  void add_line(const std::vector<Point>& points, const std::vector<FieldValue>& values);
  void add(OGRGeometry& geometry, const std::vector<FieldValue>& values);
  std::int64_t count() const { return count_; }
  void commit();

  const std::string& path() const { return pending_.final_path(); }

 private:
  PendingFile pending_;
  GDALDatasetUniquePtr dataset_;
  OGRLayer* layer_ = nullptr;
  std::vector<FieldDef> fields_;
  std::optional<CoordinateTransform> transform_;
  std::int64_t count_ = 0;
};

}  // namespace satunet::geo
