#include "geo/geotiff.hpp"

#include <cpl_string.h>

#include <cstdio>

#include "geo/gdal.hpp"

namespace satunet::geo {

GeoTiffWriter::GeoTiffWriter(const std::string& path, std::int64_t width, std::int64_t height,
                             int bands, GDALDataType type, const GeoTransform& transform,
                             const SpatialRef& srs, const GeoTiffOptions& options)
    : pending_(path) {
  init_gdal();
  GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("GTiff");
  GEO_CHECK(driver != nullptr, "the GDAL GTiff driver is not available");
  CPLStringList creation;
  creation.SetNameValue("TILED", "YES");
  creation.SetNameValue("BLOCKXSIZE", std::to_string(options.block_size).c_str());
  creation.SetNameValue("BLOCKYSIZE", std::to_string(options.block_size).c_str());
  creation.SetNameValue("COMPRESS", options.compress.c_str());
  if (options.compress == "DEFLATE") {
    creation.SetNameValue("ZLEVEL", std::to_string(options.level).c_str());
  }
  if (options.compress != "NONE") {
    const bool floating = type == GDT_Float32 || type == GDT_Float64;
    creation.SetNameValue("PREDICTOR", floating ? "3" : "2");
  }
  if (options.multithreaded)
    creation.SetNameValue("NUM_THREADS", "ALL_CPUS");
  creation.SetNameValue("BIGTIFF", "IF_SAFER");
  if (bands > 1)
    creation.SetNameValue("INTERLEAVE", "PIXEL");
  clear_gdal_error();
  dataset_.reset(driver->Create(pending_.temp_path().c_str(), static_cast<int>(width),
                                static_cast<int>(height), bands, type, creation.List()));
  if (!dataset_)
    throw Error(path + ": cannot create GeoTIFF: " + last_gdal_error());
  dataset_->SetGeoTransform(const_cast<double*>(transform.data()));
  if (!srs.empty())
    dataset_->SetSpatialRef(&srs.ogr());
}

GeoTiffWriter::~GeoTiffWriter() {
  if (!dataset_)
    return;
  dataset_.reset();
  std::remove((pending_.temp_path() + ".aux.xml").c_str());
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

void GeoTiffWriter::commit() {
  GEO_CHECK(dataset_ != nullptr, path(), ": committed twice");
  clear_gdal_error();
  dataset_.reset();  // GDAL 3.6 reports errors of the final flush only through CPLGetLastError
  if (CPLGetLastErrorType() == CE_Failure || CPLGetLastErrorType() == CE_Fatal)
    throw Error(path() + ": cannot finish GeoTIFF: " + last_gdal_error());
  // Category names live beside the TIFF in GDAL's .aux.xml: it moves along with it.
  const std::string aux = pending_.temp_path() + ".aux.xml";
  if (file_exists(aux) && std::rename(aux.c_str(), (path() + ".aux.xml").c_str()) != 0)
    throw Error(path() + ".aux.xml: cannot rename " + aux + " into place");
  pending_.commit();
}

}  // namespace satunet::geo
