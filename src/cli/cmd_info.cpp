#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "common/files.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "shards/manifest.hpp"
#include "shards/prediction.hpp"

namespace satunet::cli {
namespace {

bool is_checkpoint(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  return extension == ".pt" || extension == ".pth";
}

struct InfoOptions {
  std::string path;
  bool json = false;
};

const options::Table<InfoOptions>& info_option_table() {
  using O = InfoOptions;
  static const auto table =
      options::Table<O>()
          .value("path", &O::path,
                 "the raster, dataset or prediction directory, or checkpoint to describe", "PATH")
          .positional()
          .required("a PATH to describe")
          .flag("json", &O::json, "print JSON instead of text");
  return table;
}

std::string describe(const InfoOptions& options) {
  const std::string& path = options.path;
  if (!geo::exists(path))  // GDAL's virtual file systems too (/vsizip/...)
    throw Error(path + ": no such file or directory");
  const bool json = options.json;
  if (std::filesystem::is_directory(path) && shards::PredictionIndex::present(path)) {
    const shards::PredictionIndex index = shards::PredictionIndex::load(path);
    return json ? index.to_json() + "\n" : index.describe(path);
  }
  if (std::filesystem::is_directory(path)) {
    const shards::Manifest manifest = shards::Manifest::load(path);
    return json ? manifest.to_json().dump(2) + "\n" : manifest.describe(path);
  }
  if (is_checkpoint(path))
    return describe_checkpoint(path, json);
  const geo::Raster raster = geo::Raster::open(path);
  return json ? raster.info().to_json() + "\n" : raster.info().describe();
}

}  // namespace

Command info_command() {
  return make_command("info",
                      "describe a raster, a dataset or prediction directory, or a checkpoint (.pt)",
                      "PATH [--json]", info_option_table(), [](const InfoOptions& options) {
                        std::cout << describe(options);
                        return 0;
                      });
}

}  // namespace satunet::cli
