#include "geo/quicklook.hpp"

#include <gdal_priv.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.hpp"
#include "common/files.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"

namespace satunet::geo {
namespace {

// Reads `bands` of the whole raster reduced to width x height (GDAL averages the pixels).
std::vector<float> read_reduced(const Raster& raster, const std::vector<int>& bands, int width,
                                int height, GDALRIOResampleAlg resampling) {
  std::vector<float> values(bands.size() * static_cast<std::size_t>(width) *
                            static_cast<std::size_t>(height));
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  extra.eResampleAlg = resampling;
  const RasterInfo& info = raster.info();
  clear_gdal_error();
  const CPLErr status = raster.dataset().RasterIO(
      GF_Read, 0, 0, static_cast<int>(info.width), static_cast<int>(info.height), values.data(),
      width, height, GDT_Float32, static_cast<int>(bands.size()), const_cast<int*>(bands.data()), 0,
      0, 0, &extra);
  if (status != CE_None)
    throw Error(info.path + ": cannot read a reduced copy: " + last_gdal_error());
  return values;
}

// The 2nd and 98th percentiles of a band, ignoring nodata: a contrast stretch robust to a few
// very bright or dark pixels.
std::pair<float, float> stretch_limits(std::vector<float> values,
                                       const std::optional<double>& nodata) {
  if (nodata)
    values.erase(std::remove(values.begin(), values.end(), static_cast<float>(*nodata)),
                 values.end());
  if (values.empty())
    return {0.0f, 1.0f};
  auto at = [&](double fraction) {
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                     values.end());
    return values[index];
  };
  const float low = at(0.02);
  const float high = at(0.98);
  return {low, high > low ? high : low + 1.0f};
}

}  // namespace

void write_png(const std::string& path, int width, int height, int bands,
               const std::uint8_t* pixels) {
  init_gdal();
  GDALDriver* memory = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDriver* png = GetGDALDriverManager()->GetDriverByName("PNG");
  GEO_CHECK(memory && png, "the GDAL MEM and PNG drivers are needed for PNG images");
  GDALDatasetUniquePtr image(memory->Create("", width, height, bands, GDT_Byte, nullptr));
  if (image->RasterIO(GF_Write, 0, 0, width, height, const_cast<std::uint8_t*>(pixels), width,
                      height, GDT_Byte, bands, nullptr, 0, 0, 0, nullptr) != CE_None)
    throw Error(path + ": cannot compose the image: " + last_gdal_error());
  PendingFile pending(path);
  clear_gdal_error();
  GDALDatasetUniquePtr written(
      png->CreateCopy(pending.temp_path().c_str(), image.get(), FALSE, nullptr, nullptr, nullptr));
  if (!written)
    throw Error(path + ": cannot write PNG: " + last_gdal_error());
  written.reset();
  std::remove((pending.temp_path() + ".aux.xml").c_str());
  pending.commit();
}

const options::Table<QuicklookOptions>& quicklook_option_table() {
  using O = QuicklookOptions;
  static const auto table =
      options::Table<O>()
          .value("image", &O::image, "the scene (first three bands as RGB)", "SCENE.tif")
          .required()
          .value("mask", &O::mask,
                 "class map on the scene's grid with a colour table (satunet stitch writes one)",
                 "MASK.tif")
          .value("out", &O::out, "the PNG to write", "LOOK.png")
          .required()
          .value("max-size", &O::max_size, "longest side of the PNG in pixels")
          .at_least(16)
          .value("opacity", &O::opacity, "opacity of the class colours")
          .in_range(0, 1)
          .flag("overwrite", &O::overwrite, "replace an existing --out");
  return table;
}

void validate(const QuicklookOptions& options) {
  quicklook_option_table().check(options);
}

QuicklookResult write_quicklook(const QuicklookOptions& options) {
  validate(options);
  if (!exists(options.image))
    throw Error(options.image + ": no such file");
  // Refused before anything is read: never over an input, nor over a file without --overwrite.
  check_output_path(options.out, options.overwrite, {options.image, options.mask});
  const Raster scene = Raster::open(options.image);
  const RasterInfo& info = scene.info();
  const double scale =
      std::min(1.0, options.max_size / static_cast<double>(std::max(info.width, info.height)));
  QuicklookResult result;
  result.width =
      std::max(1, static_cast<int>(std::lround(static_cast<double>(info.width) * scale)));
  result.height =
      std::max(1, static_cast<int>(std::lround(static_cast<double>(info.height) * scale)));
  const auto pixels =
      static_cast<std::size_t>(result.width) * static_cast<std::size_t>(result.height);

  std::vector<int> colour_bands;
  for (const BandInfo& band : info.bands)
    if (band.colour != "Alpha" && colour_bands.size() < 3)
      colour_bands.push_back(band.index);
  const std::vector<float> values =
      read_reduced(scene, colour_bands, result.width, result.height, GRIORA_Average);
  std::vector<std::uint8_t> rgb(3 * pixels);
  for (std::size_t channel = 0; channel < 3; ++channel) {
    const std::size_t source = std::min(channel, colour_bands.size() - 1);
    const std::vector<float> band(
        values.begin() + static_cast<std::ptrdiff_t>(source * pixels),
        values.begin() + static_cast<std::ptrdiff_t>((source + 1) * pixels));
    const auto [low, high] =
        stretch_limits(band, info.bands[static_cast<std::size_t>(colour_bands[source] - 1)].nodata);
    for (std::size_t i = 0; i < pixels; ++i)
      rgb[channel * pixels + i] = static_cast<std::uint8_t>(
          std::lround(std::clamp((band[i] - low) / (high - low), 0.0f, 1.0f) * 255.0f));
  }

  if (!options.mask.empty()) {
    if (!exists(options.mask))
      throw Error(options.mask + ": no such file");
    const Raster mask = Raster::open(options.mask);
    if (mask.info().width != info.width || mask.info().height != info.height)
      throw Error(options.mask + ": " + std::to_string(mask.info().width) + " x " +
                  std::to_string(mask.info().height) + " pixels, the scene " + options.image +
                  " has " + std::to_string(info.width) + " x " + std::to_string(info.height));
    const GDALColorTable* table = mask.dataset().GetRasterBand(1)->GetColorTable();
    if (!table)
      throw Error(options.mask + ": no colour table (is it a class map from satunet stitch?)");
    const std::vector<float> classes =
        read_reduced(mask, {1}, result.width, result.height, GRIORA_NearestNeighbour);
    const auto opacity = static_cast<float>(options.opacity);
    for (std::size_t i = 0; i < pixels; ++i) {
      const int value = static_cast<int>(classes[i]);
      if (value <= 0 || value == 255 || value >= table->GetColorEntryCount())
        continue;
      const GDALColorEntry* colour = table->GetColorEntry(value);
      const short components[3] = {colour->c1, colour->c2, colour->c3};
      for (std::size_t channel = 0; channel < 3; ++channel) {
        std::uint8_t& pixel = rgb[channel * pixels + i];
        pixel = static_cast<std::uint8_t>(
            std::lround((1 - opacity) * pixel + opacity * static_cast<float>(components[channel])));
      }
    }
  }

  write_png(options.out, result.width, result.height, 3, rgb.data());
  return result;
}

}  // namespace satunet::geo
