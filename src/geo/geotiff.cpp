#include "geo/geotiff.hpp"

#include <cpl_string.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

#include "geo/gdal.hpp"

namespace satunet::geo {
namespace {

// Whether GDAL's last call on this thread failed: flushes and closes report only this way.
bool gdal_failed() {
  return CPLGetLastErrorType() == CE_Failure || CPLGetLastErrorType() == CE_Fatal;
}

}  // namespace

std::vector<GDALColorEntry> class_colours(const std::vector<std::string>& names) {
  const std::vector<std::pair<std::string, GDALColorEntry>> known = {
      {"background", {0, 0, 0, 255}},     {"building", {220, 40, 40, 255}},
      {"road", {250, 210, 0, 255}},       {"water", {30, 100, 220, 255}},
      {"vegetation", {40, 160, 60, 255}}, {"tree", {40, 160, 60, 255}}};
  const GDALColorEntry palette[] = {{150, 80, 200, 255},  {0, 190, 190, 255},
                                    {240, 130, 40, 255},  {120, 120, 120, 255},
                                    {250, 150, 190, 255}, {140, 100, 50, 255}};
  std::vector<GDALColorEntry> colours;
  std::size_t next = 0;
  for (const std::string& name : names) {
    const auto found = std::find_if(known.begin(), known.end(),
                                    [&](const auto& entry) { return entry.first == name; });
    colours.push_back(found != known.end() ? found->second : palette[next++ % std::size(palette)]);
  }
  return colours;
}

GeoTiffWriter::GeoTiffWriter(const std::string& path, std::int64_t width, std::int64_t height,
                             int bands, GDALDataType type, const GeoTransform& transform,
                             const SpatialRef& srs, const GeoTiffOptions& options)
    : pending_(path),
      options_(options),
      work_path_(options.cog ? pending_.temp_path() + ".tiles.tif" : pending_.temp_path()) {
  init_gdal();
  GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("GTiff");
  GEO_CHECK(driver != nullptr, "the GDAL GTiff driver is not available");
  CPLStringList creation;
  creation.SetNameValue("TILED", "YES");
  creation.SetNameValue("BLOCKXSIZE", std::to_string(options.block_size).c_str());
  creation.SetNameValue("BLOCKYSIZE", std::to_string(options.block_size).c_str());
  creation.SetNameValue("COMPRESS", options.compress.c_str());
  if (options.compress == "DEFLATE")
    creation.SetNameValue("ZLEVEL", std::to_string(options.level).c_str());
  if (options.compress == "ZSTD")
    creation.SetNameValue("ZSTD_LEVEL", std::to_string(options.level).c_str());
  if (options.compress != "NONE" && options.predictor) {
    const bool floating = type == GDT_Float32 || type == GDT_Float64;
    creation.SetNameValue("PREDICTOR", floating ? "3" : "2");
  }
  if (options.multithreaded)
    creation.SetNameValue("NUM_THREADS", "ALL_CPUS");
  creation.SetNameValue("BIGTIFF", "IF_SAFER");
  if (bands > 1)
    creation.SetNameValue("INTERLEAVE", "PIXEL");
  clear_gdal_error();
  dataset_.reset(driver->Create(work_path_.c_str(), static_cast<int>(width),
                                static_cast<int>(height), bands, type, creation.List()));
  if (!dataset_)
    throw Error(path + ": cannot create GeoTIFF: " + last_gdal_error());
  dataset_->SetGeoTransform(const_cast<double*>(transform.data()));
  if (!srs.empty())
    dataset_->SetSpatialRef(&srs.ogr());
}

GeoTiffWriter::~GeoTiffWriter() {
  dataset_.reset();
  for (const std::string& leftover : {work_path_, pending_.temp_path()})
    std::remove((leftover + ".aux.xml").c_str());
  if (work_path_ != pending_.temp_path())
    std::remove(work_path_.c_str());
}

void GeoTiffWriter::set_nodata(double value) {
  for (int band = 1; band <= dataset_->GetRasterCount(); ++band)
    dataset_->GetRasterBand(band)->SetNoDataValue(value);
}

void GeoTiffWriter::set_band(int band, const std::string& description, GDALColorInterp colour) {
  GDALRasterBand* raster_band = dataset_->GetRasterBand(band);
  raster_band->SetDescription(description.c_str());
  raster_band->SetColorInterpretation(colour);
}

void GeoTiffWriter::set_classes(const std::vector<std::string>& names,
                                const std::vector<GDALColorEntry>& colours) {
  GDALRasterBand* band = dataset_->GetRasterBand(1);
  CPLStringList categories;
  for (const std::string& name : names)
    categories.AddString(name.c_str());
  band->SetCategoryNames(categories.List());
  GDALColorTable table;
  for (int entry = 0; entry < static_cast<int>(colours.size()); ++entry)
    table.SetColorEntry(entry, &colours[entry]);
  band->SetColorTable(&table);
  band->SetColorInterpretation(GCI_PaletteIndex);
}

void GeoTiffWriter::write(const Window& window, GDALDataType type, const void* buffer) {
  GEO_CHECK(dataset_ != nullptr, path(), ": write after commit");
  clear_gdal_error();
  const CPLErr status = dataset_->RasterIO(
      GF_Write, static_cast<int>(window.x_off), static_cast<int>(window.y_off),
      static_cast<int>(window.width), static_cast<int>(window.height), const_cast<void*>(buffer),
      static_cast<int>(window.width), static_cast<int>(window.height), type,
      dataset_->GetRasterCount(), nullptr, 0, 0, 0, nullptr);
  if (status != CE_None)
    throw Error(path() + ": write failed: " + last_gdal_error());
}

void GeoTiffWriter::flush() {
  GEO_CHECK(dataset_ != nullptr, path(), ": flush after commit");
  clear_gdal_error();
  dataset_->FlushCache(false);
  if (gdal_failed())
    throw Error(path() + ": write failed: " + last_gdal_error());
}

void GeoTiffWriter::commit() {
  GEO_CHECK(dataset_ != nullptr, path(), ": committed twice");
  clear_gdal_error();
  dataset_.reset();  // GDAL 3.6 reports errors of the final flush only through CPLGetLastError
  if (gdal_failed())
    throw Error(path() + ": cannot finish GeoTIFF: " + last_gdal_error());
  if (options_.cog)
    copy_to_cog();
  // Category names live beside the TIFF in GDAL's .aux.xml: it moves along with it.
  const std::string aux = pending_.temp_path() + ".aux.xml";
  if (file_exists(aux) && std::rename(aux.c_str(), (path() + ".aux.xml").c_str()) != 0)
    throw Error(path() + ".aux.xml: cannot rename " + aux + " into place");
  pending_.commit();
}

bool geotiff_can_compress(const std::string& codec) {
  init_gdal();
  for (const char* name : {"GTiff", "COG"}) {
    GDALDriver* driver = GetGDALDriverManager()->GetDriverByName(name);
    const char* options = driver ? driver->GetMetadataItem(GDAL_DMD_CREATIONOPTIONLIST) : nullptr;
    if (!options || std::string(options).find("<Value>" + codec + "</Value>") == std::string::npos)
      return false;
  }
  return true;
}

void GeoTiffWriter::copy_to_cog() {
  GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("COG");
  GEO_CHECK(driver != nullptr, "the GDAL COG driver is not available (GDAL >= 3.1 has it)");
  clear_gdal_error();
  GDALDatasetUniquePtr tiles(GDALDataset::Open(work_path_.c_str(), GDAL_OF_RASTER));
  if (!tiles)
    throw Error(path() + ": cannot reopen " + work_path_ + ": " + last_gdal_error());
  CPLStringList creation;
  creation.SetNameValue("BLOCKSIZE", std::to_string(options_.block_size).c_str());
  creation.SetNameValue("COMPRESS", options_.compress.c_str());
  if (options_.compress == "DEFLATE" || options_.compress == "ZSTD")
    creation.SetNameValue("LEVEL", std::to_string(options_.level).c_str());
  creation.SetNameValue("OVERVIEW_RESAMPLING", options_.overview_resampling.c_str());
  if (options_.compress != "NONE" && options_.predictor)
    creation.SetNameValue("PREDICTOR", "YES");  // 2, or 3 for floats, as the tiled file
  if (options_.multithreaded)
    creation.SetNameValue("NUM_THREADS", "ALL_CPUS");
  creation.SetNameValue("BIGTIFF", "IF_SAFER");
  GDALDatasetUniquePtr cog(driver->CreateCopy(pending_.temp_path().c_str(), tiles.get(), FALSE,
                                              creation.List(), nullptr, nullptr));
  if (!cog)
    throw Error(path() + ": cannot write a Cloud Optimized GeoTIFF: " + last_gdal_error());
  cog.reset();
  if (gdal_failed())
    throw Error(path() + ": cannot finish the Cloud Optimized GeoTIFF: " + last_gdal_error());
  tiles.reset();
  std::remove(work_path_.c_str());
  std::remove((work_path_ + ".aux.xml").c_str());
}

}  // namespace satunet::geo
