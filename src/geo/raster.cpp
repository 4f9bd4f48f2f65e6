#include "geo/raster.hpp"

#include <cpl_conv.h>
#include <gdal_utils.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/text.hpp"
#include "geo/gdal.hpp"
#include "geo/stac.hpp"

namespace satunet::geo {
namespace {

RasterInfo describe_dataset(GDALDataset& dataset, const std::string& path) {
  RasterInfo info;
  info.path = path;
  info.driver = dataset.GetDriver() ? dataset.GetDriver()->GetDescription() : "";
  info.width = dataset.GetRasterXSize();
  info.height = dataset.GetRasterYSize();
  std::array<double, 6> coefficients{};
  info.has_geotransform = dataset.GetGeoTransform(coefficients.data()) == CE_None;
  info.transform = GeoTransform(coefficients);
  if (const OGRSpatialReference* srs = dataset.GetSpatialRef()) {
    char* wkt = nullptr;
    const char* options[] = {"FORMAT=WKT2_2018", nullptr};
    srs->exportToWkt(&wkt, options);
    info.crs_wkt = wkt ? wkt : "";
    CPLFree(wkt);
  }
  for (int index = 1; index <= dataset.GetRasterCount(); ++index) {
    GDALRasterBand* band = dataset.GetRasterBand(index);
    BandInfo band_info;
    band_info.index = index;
    band_info.type = band->GetRasterDataType();
    band_info.description = band->GetDescription();
    band_info.colour = GDALGetColorInterpretationName(band->GetColorInterpretation());
    int has_nodata = 0;
    const double nodata = band->GetNoDataValue(&has_nodata);
    if (has_nodata)
      band_info.nodata = nodata;
    if (char** names = band->GetCategoryNames()) {
      for (int i = 0; names[i]; ++i)
        band_info.categories.emplace_back(names[i]);
    }
    band->GetBlockSize(&band_info.block_width, &band_info.block_height);
    info.bands.push_back(band_info);
  }
  return info;
}

}  // namespace

std::string band_name(const BandInfo& band) {
  if (!band.description.empty())
    return band.description;
  if (band.colour != "Undefined" && band.colour != "Gray" && band.colour != "Unknown")
    return text::lower(band.colour);
  return "band" + std::to_string(band.index);
}

bool is_nodata(double value, const std::optional<double>& nodata) {
  return nodata && (value == *nodata || (std::isnan(*nodata) && std::isnan(value)));
}

namespace {

// The band `name` asks for: a 1-based number, or a band's description (as text::band_key
// compares them: B4 is B04) or colour (any case).
int band_named(const RasterInfo& info, const std::string& name) {
  if (!name.empty() && name.size() < 10 && std::all_of(name.begin(), name.end(), ::isdigit)) {
    const int band = std::stoi(name);
    if (band < 1 || band > static_cast<int>(info.bands.size()))
      throw Error(info.path + ": --bands asks for band " + name + " but the scene has " +
                  std::to_string(info.bands.size()));
    return band;
  }
  std::vector<std::string> known;
  for (const BandInfo& band : info.bands) {
    if (text::band_key(band.description) == text::band_key(name) ||
        text::lower(band.colour) == text::lower(name) || band_name(band) == text::lower(name))
      return band.index;
    known.push_back(band_name(band));
  }
  throw Error(info.path + ": --bands asks for band '" + name + "', but its bands are " +
              text::join(known, ", "));
}

}  // namespace

InputBands choose_input_bands(const RasterInfo& info, const std::vector<std::string>& names) {
  std::vector<int> requested;
  for (const std::string& name : names)
    requested.push_back(band_named(info, name));
  InputBands bands;
  for (const BandInfo& band : info.bands)
    if (band.colour == "Alpha")
      bands.alpha = band.index;
  if (requested.empty()) {
    for (const BandInfo& band : info.bands)
      if (band.index != bands.alpha)
        bands.inputs.push_back(band.index);
  } else {
    for (int band : requested) {
      bands.inputs.push_back(band);
    }
    if (std::count(requested.begin(), requested.end(), bands.alpha))
      bands.alpha = 0;
  }
  for (int band : bands.inputs)
    bands.nodata.push_back(info.bands[static_cast<std::size_t>(band - 1)].nodata);
  bands.every_input_has_nodata =
      std::all_of(bands.nodata.begin(), bands.nodata.end(),
                  [](const std::optional<double>& value) { return value.has_value(); });
  return bands;
}

std::string RasterInfo::describe() const {
  std::ostringstream out;
  out.precision(12);
  out << "raster:     " << path << " (" << driver << ")\n";
  out << "size:       " << width << " x " << height << " pixels, " << bands.size() << " band"
      << (bands.size() == 1 ? "" : "s") << "\n";
  out << "crs:        " << (crs_wkt.empty() ? std::string("none") : srs().label()) << "\n";
  if (has_geotransform) {
    out << "transform:  " << transform.to_string() << "\n";
    out << "pixel size: " << transform.pixel_width() << " x " << transform.pixel_height()
        << (transform.is_north_up() ? " (north-up)" : " (rotated)") << "\n";
    out << "extent:     " << extent().to_string() << "\n";
  } else {
    out << "transform:  none\n";
  }
  for (const BandInfo& band : bands) {
    out << "band " << band.index << ":     " << data_type_name(band.type) << ", " << band.colour;
    if (!band.description.empty())
      out << ", \"" << band.description << "\"";
    out << ", nodata ";
    if (band.nodata) {
      out << *band.nodata;
    } else {
      out << "none";
    }
    if (!band.categories.empty()) {
      out << ", classes";
      for (std::size_t i = 0; i < band.categories.size(); ++i)
        out << (i ? ", " : " ") << i << "=" << band.categories[i];
    }
    out << ", block " << band.block_width << " x " << band.block_height << "\n";
  }
  return out.str();
}

Raster::Raster(GDALDatasetUniquePtr dataset, const std::string& path)
    : dataset_(std::move(dataset)), info_(describe_dataset(*dataset_, path)) {}

Raster Raster::open(const std::string& path) {
  init_gdal();
  clear_gdal_error();
  // Uncompressed GeoTIFFs are read straight from the file into the caller's buffer instead of
  // through GDAL's block cache: a copy and a cache lookup less per block, and StripReader
  // decodes each block once anyway. GDAL reads the option when the dataset opens, and falls
  // back to its usual path wherever the direct one does not apply; a user's setting wins.
  const CPLConfigOptionSetter direct_io("GTIFF_DIRECT_IO", "YES", /*bSetOnlyIfUndefined=*/true);
  GDALDatasetUniquePtr dataset(
      is_stac_item_path(path)
          ? open_stac_item(path)
          : GDALDatasetUniquePtr(GDALDataset::Open(
                path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR)));
  if (!dataset)
    throw Error(path + ": cannot open raster: " + last_gdal_error());
  if (dataset->GetRasterCount() == 0)
    throw Error(path + ": raster has no bands");
  return Raster(std::move(dataset), path);
}

Raster Raster::open_georeferenced(const std::string& path) {
  Raster raster = open(path);
  if (!raster.info_.has_geotransform)
    throw Error(path + ": raster has no georeferencing (no geotransform)");
  if (raster.info_.crs_wkt.empty())
    throw Error(path + ": raster has no CRS");
  return raster;
}

Raster Raster::warped_onto(const RasterInfo& grid) const {
  GEO_CHECK(grid.georeferenced() && grid.transform.is_north_up(), grid.path,
            ": only a georeferenced north-up grid can be warped onto");
  GEO_CHECK(info_.georeferenced(), info_.path, ": has no georeferencing to warp it onto ",
            grid.path, "'s grid");
  const Extent extent = grid.extent();
  auto number = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::string(text);
  };
  std::vector<std::string> arguments = {"-of",
                                        "VRT",
                                        "-r",
                                        "near",
                                        "-t_srs",
                                        grid.crs_wkt,
                                        "-te",
                                        number(extent.min_x),
                                        number(extent.min_y),
                                        number(extent.max_x),
                                        number(extent.max_y),
                                        "-ts",
                                        std::to_string(grid.width),
                                        std::to_string(grid.height)};
  if (!info_.bands.front().nodata)
    arguments.insert(arguments.end(), {"-dstnodata", "255"});
  std::vector<char*> argv;
  for (std::string& argument : arguments)
    argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::unique_ptr<GDALWarpAppOptions, decltype(&GDALWarpAppOptionsFree)> options(
      GDALWarpAppOptionsNew(argv.data(), nullptr), GDALWarpAppOptionsFree);
  GEO_CHECK(options != nullptr, info_.path, ": cannot set up its warp: ", last_gdal_error());
  GDALDatasetH source = GDALDataset::ToHandle(dataset_.get());
  clear_gdal_error();
  GDALDatasetH warped = GDALWarp("", nullptr, 1, &source, options.get(), nullptr);
  GEO_CHECK(warped != nullptr, info_.path, ": cannot warp it onto ", grid.path,
            "'s grid: ", last_gdal_error());
  return Raster(GDALDatasetUniquePtr(GDALDataset::FromHandle(warped)), info_.path);
}

void Raster::read(const Window& window, const std::vector<int>& bands, GDALDataType type,
                  void* buffer) const {
  GEO_CHECK(window.x_off >= 0 && window.y_off >= 0 && window.x_off + window.width <= info_.width &&
                window.y_off + window.height <= info_.height,
            info_.path, ": window (", window.x_off, ", ", window.y_off, ", ", window.width, ", ",
            window.height, ") lies outside the ", info_.width, " x ", info_.height, " raster");
  std::vector<int> band_list(bands);
  clear_gdal_error();
  const CPLErr status =
      dataset_->RasterIO(GF_Read, static_cast<int>(window.x_off), static_cast<int>(window.y_off),
                         static_cast<int>(window.width), static_cast<int>(window.height), buffer,
                         static_cast<int>(window.width), static_cast<int>(window.height), type,
                         static_cast<int>(band_list.size()), band_list.data(), 0, 0, 0, nullptr);
  if (status != CE_None)
    throw Error(info_.path + ": read of window (" + std::to_string(window.x_off) + ", " +
                std::to_string(window.y_off) + ", " + std::to_string(window.width) + ", " +
                std::to_string(window.height) + ") failed: " + last_gdal_error());
}

std::string RasterInfo::to_json() const {
  nlohmann::json bands_json = nlohmann::json::array();
  for (const BandInfo& band : bands) {
    bands_json.push_back({{"index", band.index},
                          {"dtype", data_type_name(band.type)},
                          {"description", band.description},
                          {"colour", band.colour},
                          {"nodata", band.nodata ? nlohmann::json(*band.nodata) : nlohmann::json()},
                          {"classes", band.categories},
                          {"block", {band.block_width, band.block_height}}});
  }
  nlohmann::json crs;
  if (!crs_wkt.empty()) {
    const SpatialRef ref = srs();
    crs = {{"name", ref.name()}, {"wkt", crs_wkt}};
    if (const auto code = ref.epsg())
      crs["epsg"] = *code;
  }
  return nlohmann::json{{"kind", "raster"},
                        {"path", path},
                        {"driver", driver},
                        {"width", width},
                        {"height", height},
                        {"crs", crs},
                        {"geotransform", has_geotransform ? nlohmann::json(transform.coefficients())
                                                          : nlohmann::json()},
                        {"bands", bands_json}}
      .dump(2);
}

}  // namespace satunet::geo
