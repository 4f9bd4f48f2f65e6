#include "geo/stac.hpp"

#include <cpl_vsi.h>
#include <gdal_utils.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/error.hpp"
#include "common/text.hpp"
#include "geo/gdal.hpp"

namespace satunet::geo {
namespace {

struct AssetBand {
  std::string path;
  std::string name;         // eo:bands name, e.g. B04
  std::string common_name;  // e.g. red
};

std::string read_through_gdal(const std::string& path) {
  VSILFILE* file = VSIFOpenL(path.c_str(), "rb");
  if (file == nullptr)
    throw Error(path + ": cannot read the STAC item");
  std::string text;
  char buffer[65536];
  for (std::size_t got; (got = VSIFReadL(buffer, 1, sizeof buffer, file)) > 0;)
    text.append(buffer, got);
  VSIFCloseL(file);
  return text;
}

// An asset's href as GDAL reads it: relative to the item, http(s) through /vsicurl/.
std::string asset_path(const std::string& item, const std::string& href) {
  if (href.rfind("http://", 0) == 0 || href.rfind("https://", 0) == 0)
    return "/vsicurl/" + href;
  if (href.rfind('/', 0) == 0)
    return href;
  const std::size_t slash = item.rfind('/');
  return slash == std::string::npos ? href : item.substr(0, slash + 1) + href;
}

// Data assets of one band each, in the item's order (others: previews, multi-band visuals,
// metadata, are not bands to stack).
std::vector<AssetBand> asset_bands(const std::string& path, const nlohmann::ordered_json& item) {
  std::vector<AssetBand> bands;
  for (const auto& [key, asset] : item.at("assets").items()) {
    const nlohmann::ordered_json roles = asset.value("roles", nlohmann::ordered_json::array());
    const bool data = roles.empty() || std::find(roles.begin(), roles.end(), "data") != roles.end();
    const nlohmann::ordered_json eo = asset.value("eo:bands", nlohmann::ordered_json::array());
    if (!data || eo.size() != 1 || !asset.contains("href"))
      continue;
    bands.push_back({asset_path(path, asset.at("href").get<std::string>()),
                     eo[0].value("name", key), eo[0].value("common_name", "")});
  }
  return bands;
}

GDALColorInterp colour_of(const std::string& common_name) {
  if (common_name == "red")
    return GCI_RedBand;
  if (common_name == "green")
    return GCI_GreenBand;
  if (common_name == "blue")
    return GCI_BlueBand;
  return GCI_Undefined;
}

}  // namespace

bool is_stac_item_path(const std::string& path) {
  return path.size() >= 5 && text::lower(path.substr(path.size() - 5)) == ".json";
}

GDALDatasetUniquePtr open_stac_item(const std::string& path) {
  nlohmann::ordered_json item;
  try {
    item = nlohmann::ordered_json::parse(read_through_gdal(path));
  } catch (const nlohmann::json::exception& error) {
    throw Error(path + ": not JSON: " + error.what());
  }
  if (!item.is_object() || item.value("type", "") != "Feature" || !item.contains("assets") ||
      !item.at("assets").is_object())
    throw Error(path + ": not a STAC Item (a \"Feature\" with \"assets\")");
  std::vector<AssetBand> bands;
  try {
    bands = asset_bands(path, item);
  } catch (const nlohmann::json::exception& error) {
    throw Error(path + ": a malformed asset: " + error.what());
  }
  if (bands.empty())
    throw Error(path + ": no data asset of one band (with eo:bands) to read");
  std::vector<const char*> names;
  for (const AssetBand& band : bands) {
    if (!exists(band.path))
      throw Error(path + ": asset " + band.name + ": " + band.path + ": no such file");
    names.push_back(band.path.c_str());
  }
  const char* arguments[] = {"-separate", "-resolution", "highest", nullptr};
  std::unique_ptr<GDALBuildVRTOptions, decltype(&GDALBuildVRTOptionsFree)> options(
      GDALBuildVRTOptionsNew(const_cast<char**>(arguments), nullptr), GDALBuildVRTOptionsFree);
  clear_gdal_error();
  GDALDatasetUniquePtr stacked(GDALDataset::FromHandle(GDALBuildVRT(
      "", static_cast<int>(names.size()), nullptr, names.data(), options.get(), nullptr)));
  if (!stacked)
    throw Error(path + ": cannot stack its assets: " + last_gdal_error());
  for (std::size_t b = 0; b < bands.size(); ++b) {
    GDALRasterBand* band = stacked->GetRasterBand(static_cast<int>(b) + 1);
    band->SetDescription(bands[b].name.c_str());
    band->SetColorInterpretation(colour_of(bands[b].common_name));
  }
  return stacked;
}

}  // namespace satunet::geo
