#pragma once
// Coordinate reference systems and transformations between them (owned by RAII types).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "geo/georef.hpp"

class OGRSpatialReference;
class OGRCoordinateTransformation;

namespace satunet::geo {

class SpatialRef {
 public:
  SpatialRef();
  ~SpatialRef();
  SpatialRef(const SpatialRef& other);
  SpatialRef& operator=(const SpatialRef& other);
  SpatialRef(SpatialRef&&) noexcept;
  SpatialRef& operator=(SpatialRef&&) noexcept;

  static SpatialRef from_epsg(int code);  // throws UsageError for unknown codes
  static SpatialRef from_wkt(const std::string& wkt);
  static SpatialRef wgs84() { return from_epsg(4326); }

  bool empty() const;
  std::string wkt() const;
  std::string name() const;
  std::optional<int> epsg() const;
  bool is_geographic() const;
  bool is_projected() const;
  // Metres per linear unit of a projected CRS (1 for metres, 0.3048 for feet).
  double linear_units_in_metres() const;
  // Centre of the CRS's area of use, in lon/lat; nullopt when the database has none.
  std::optional<Point> area_of_use_centre() const;
  bool same_as(const SpatialRef& other) const;
  // "EPSG:32633 (WGS 84 / UTM zone 33N)" or the name alone.
  std::string label() const;

  const OGRSpatialReference& ogr() const { return *ref_; }

 private:
  std::unique_ptr<OGRSpatialReference> ref_;
};

// A transformation between two CRSs; x is longitude / easting in both.
class CoordinateTransform {
 public:
  CoordinateTransform(const SpatialRef& from, const SpatialRef& to);
  ~CoordinateTransform();
  CoordinateTransform(CoordinateTransform&&) noexcept;
  CoordinateTransform& operator=(CoordinateTransform&&) noexcept;

  Point apply(Point point) const;
  void apply(std::vector<Point>& points) const;  // in place
  OGRCoordinateTransformation* ogr() const { return transform_.get(); }

 private:
  struct Deleter {
    void operator()(OGRCoordinateTransformation* transform) const;
  };
  std::unique_ptr<OGRCoordinateTransformation, Deleter> transform_;
};

// A local transverse-Mercator CRS centred on (lon, lat), in metres: for buffering in metres
// geometry that comes in a geographic CRS.
SpatialRef local_metric_crs(Point lon_lat);

}  // namespace satunet::geo
