#pragma once
// The one place GDAL is set up: drivers registered once, its error messages routed through a
// single handler (no "ERROR 4: ..." on stderr) and turned into exceptions by the wrappers.
#include <gdal.h>

#include <cstdint>
#include <string>

#include "common/error.hpp"

#define GEO_CHECK(cond, ...) SATUNET_CHECK_IN("geo", cond, __VA_ARGS__)
#define GEO_FAIL(...) SATUNET_FAIL_IN("geo", __VA_ARGS__)

namespace satunet::geo {

// Registers drivers, installs the error handler and bounds GDAL's block cache (256 MB) so
// that streaming jobs stay in constant memory. Only the first call does anything.
void init_gdal();
// A job that caches what it reads itself needs little of GDAL's block cache.
void set_gdal_cache_megabytes(std::int64_t megabytes);
// Threads GDAL may use to decode and encode blocks (GTiff NUM_THREADS).
void set_gdal_threads(int threads);

// The last error GDAL reported on this thread, or "unknown GDAL error".
std::string last_gdal_error();
void clear_gdal_error();

// Whether `path` names a file or directory as GDAL sees it (VSIStatL): a local path, or one of
// its virtual file systems (/vsizip/, /vsigzip/, /vsicurl/, ...) that std::filesystem cannot
// see. Every path a user gives GDAL is checked with this, not with file_exists().
bool exists(const std::string& path);
// Whether `path` names a file of GDAL's virtual file systems (/vsicurl/, /vsizip/, /vsis3/ ...):
// no path of the local file system, so never made absolute or normalised as one.
bool is_virtual_path(const std::string& path);

// "uint8", "uint16", ... the names used on the command line and in files.
std::string data_type_name(GDALDataType type);
int data_type_bytes(GDALDataType type);

}  // namespace satunet::geo
