#include "geo/srs.hpp"

#include <ogr_spatialref.h>

#include "geo/gdal.hpp"

namespace satunet::geo {

SpatialRef::SpatialRef() : ref_(std::make_unique<OGRSpatialReference>()) {
  ref_->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
}
SpatialRef::~SpatialRef() = default;
SpatialRef::SpatialRef(const SpatialRef& other)
    : ref_(std::make_unique<OGRSpatialReference>(*other.ref_)) {
  ref_->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
}
SpatialRef& SpatialRef::operator=(const SpatialRef& other) {
  if (this != &other) {
    *ref_ = *other.ref_;
    ref_->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  }
  return *this;
}
SpatialRef::SpatialRef(SpatialRef&&) noexcept = default;
SpatialRef& SpatialRef::operator=(SpatialRef&&) noexcept = default;

SpatialRef SpatialRef::from_epsg(int code) {
  init_gdal();
  SpatialRef srs;
  if (srs.ref_->importFromEPSG(code) != OGRERR_NONE)
    throw UsageError("EPSG:" + std::to_string(code) + " is not a known CRS");
  srs.ref_->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return srs;
}

SpatialRef SpatialRef::from_wkt(const std::string& wkt) {
  init_gdal();
  SpatialRef srs;
  if (wkt.empty())
    return srs;
  if (srs.ref_->importFromWkt(wkt.c_str()) != OGRERR_NONE)
    throw Error("cannot parse CRS definition: " + last_gdal_error());
  srs.ref_->SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return srs;
}

bool SpatialRef::empty() const {
  return ref_->IsEmpty();
}

std::string SpatialRef::wkt() const {
  if (empty())
    return {};
  char* text = nullptr;
  const char* options[] = {"FORMAT=WKT2_2018", nullptr};
  ref_->exportToWkt(&text, options);
  std::string wkt = text ? text : "";
  CPLFree(text);
  return wkt;
}

std::string SpatialRef::name() const {
  const char* name = ref_->GetName();
  return name ? name : "unnamed";
}

std::optional<int> SpatialRef::epsg() const {
  if (empty())
    return std::nullopt;
  const char* authority = ref_->GetAuthorityName(nullptr);
  const char* code = ref_->GetAuthorityCode(nullptr);
  if (authority && code && std::string(authority) == "EPSG")
    return std::atoi(code);
  OGRSpatialReference copy(*ref_);
  if (copy.AutoIdentifyEPSG() == OGRERR_NONE) {
    const char* identified = copy.GetAuthorityCode(nullptr);
    if (identified)
      return std::atoi(identified);
  }
  return std::nullopt;
}

bool SpatialRef::is_geographic() const {
  return ref_->IsGeographic() != 0;
}
bool SpatialRef::is_projected() const {
  return ref_->IsProjected() != 0;
}

double SpatialRef::linear_units_in_metres() const {
  return ref_->GetLinearUnits(nullptr);
}

std::optional<Point> SpatialRef::area_of_use_centre() const {
  double west = 0, south = 0, east = 0, north = 0;
  const char* area_name = nullptr;
  if (!ref_->GetAreaOfUse(&west, &south, &east, &north, &area_name) || west == -1000)
    return std::nullopt;
  if (east < west)
    east += 360;  // areas crossing the antimeridian
  double lon = (west + east) / 2;
  if (lon > 180)
    lon -= 360;
  return Point{lon, (south + north) / 2};
}

bool SpatialRef::same_as(const SpatialRef& other) const {
  return ref_->IsSame(other.ref_.get()) != 0;
}

std::string SpatialRef::label() const {
  if (empty())
    return "none";
  const auto code = epsg();
  return code ? "EPSG:" + std::to_string(*code) + " (" + name() + ")" : name();
}

void CoordinateTransform::Deleter::operator()(OGRCoordinateTransformation* transform) const {
  OGRCoordinateTransformation::DestroyCT(transform);
}

CoordinateTransform::CoordinateTransform(const SpatialRef& from, const SpatialRef& to)
    : transform_(OGRCreateCoordinateTransformation(&from.ogr(), &to.ogr())) {
  GEO_CHECK(transform_ != nullptr, "cannot transform from ", from.label(), " to ", to.label(), ": ",
            last_gdal_error());
}
CoordinateTransform::~CoordinateTransform() = default;
CoordinateTransform::CoordinateTransform(CoordinateTransform&&) noexcept = default;
CoordinateTransform& CoordinateTransform::operator=(CoordinateTransform&&) noexcept = default;

Point CoordinateTransform::apply(Point point) const {
  GEO_CHECK(transform_->Transform(1, &point.x, &point.y) != 0, "cannot transform point (", point.x,
            ", ", point.y, "): ", last_gdal_error());
  return point;
}

void CoordinateTransform::apply(std::vector<Point>& points) const {
  for (Point& point : points)
    point = apply(point);
}

SpatialRef local_metric_crs(Point lon_lat) {
  init_gdal();
  OGRSpatialReference ref;
  ref.SetWellKnownGeogCS("WGS84");
  ref.SetTM(lon_lat.y, lon_lat.x, 1.0, 0.0, 0.0);
  char* text = nullptr;
  ref.exportToWkt(&text);
  SpatialRef srs = SpatialRef::from_wkt(text);
  CPLFree(text);
  return srs;
}

}  // namespace satunet::geo
