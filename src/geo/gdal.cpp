#include "geo/gdal.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <ogr_api.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "common/log.hpp"

namespace satunet::geo {
namespace {

// GDAL keeps the last error per thread, but decodes blocks on worker threads of its own
// (GDAL_NUM_THREADS): their failures are kept here too, for the calling thread to report.
struct LastFailure {
  std::mutex mutex;
  std::string message;
};
LastFailure& last_failure() {
  static LastFailure failure;
  return failure;
}

void CPL_STDCALL route_gdal_message(CPLErr level, CPLErrorNum number, const char* message) {
  // Failures are kept in CPLGetLastErrorMsg() for the wrapper to put into its exception.
  if (level >= CE_Failure && message && *message) {
    LastFailure& failure = last_failure();
    const std::lock_guard<std::mutex> lock(failure.mutex);
    failure.message = message;
  }
  if (level == CE_Warning)
    log::debug("GDAL warning ", number, ": ", message);
  if (level == CE_Debug)
    log::debug("GDAL: ", message);
}

}  // namespace

void init_gdal() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAllRegister();
    CPLSetErrorHandler(route_gdal_message);
    // Keep traditional lon/lat order for EPSG:4326, as GeoJSON and every GIS does.
    CPLSetConfigOption("OSR_DEFAULT_AXIS_MAPPING_STRATEGY", "TRADITIONAL_GIS_ORDER");
    GDALSetCacheMax64(std::int64_t{256} << 20);
  });
}

void set_gdal_cache_megabytes(std::int64_t megabytes) {
  init_gdal();  // which sets its own default the first time
  GDALSetCacheMax64(megabytes << 20);
}

void set_gdal_threads(int threads) {
  CPLSetConfigOption("GDAL_NUM_THREADS", std::to_string(std::max(1, threads)).c_str());
}

std::string last_gdal_error() {
  const char* message = CPLGetLastErrorMsg();
  if (message && *message)
    return message;
  LastFailure& failure = last_failure();
  const std::lock_guard<std::mutex> lock(failure.mutex);
  return failure.message.empty() ? "GDAL gave no reason (a truncated or damaged file?)"
                                 : failure.message;
}

bool is_virtual_path(const std::string& path) {
  return path.rfind("/vsi", 0) == 0;
}

bool exists(const std::string& path) {
  init_gdal();
  VSIStatBufL stat;
  return !path.empty() && VSIStatExL(path.c_str(), &stat, VSI_STAT_EXISTS_FLAG) == 0;
}

void clear_gdal_error() {
  CPLErrorReset();
  LastFailure& failure = last_failure();
  const std::lock_guard<std::mutex> lock(failure.mutex);
  failure.message.clear();
}

std::string data_type_name(GDALDataType type) {
  switch (type) {
    case GDT_Byte:
      return "uint8";
    case GDT_UInt16:
      return "uint16";
    case GDT_Int16:
      return "int16";
    case GDT_UInt32:
      return "uint32";
    case GDT_Int32:
      return "int32";
    case GDT_Float32:
      return "float32";
    case GDT_Float64:
      return "float64";
    default:
      return GDALGetDataTypeName(type);
  }
}

int data_type_bytes(GDALDataType type) {
  return GDALGetDataTypeSizeBytes(type);
}

}  // namespace satunet::geo
