#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.hpp"
#include "common/files.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "infer/prediction_index.hpp"
#include "model/checkpoint.hpp"
#include "shards/manifest.hpp"
#include "tiling/tiler.hpp"

namespace satunet::cli {
namespace {

nlohmann::json raster_json(const geo::RasterInfo& info) {
  nlohmann::json bands = nlohmann::json::array();
  for (const geo::BandInfo& band : info.bands) {
    bands.push_back({{"index", band.index},
                     {"dtype", geo::data_type_name(band.type)},
                     {"description", band.description},
                     {"colour", band.colour},
                     {"nodata", band.nodata ? nlohmann::json(*band.nodata) : nlohmann::json()},
                     {"classes", band.categories},
                     {"block", {band.block_width, band.block_height}}});
  }
  nlohmann::json crs;
  if (!info.crs_wkt.empty()) {
    const geo::SpatialRef srs = info.srs();
    crs = {{"name", srs.name()}, {"wkt", info.crs_wkt}};
    if (const auto code = srs.epsg())
      crs["epsg"] = *code;
  }
  return {{"kind", "raster"},
          {"path", info.path},
          {"driver", info.driver},
          {"width", info.width},
          {"height", info.height},
          {"crs", crs},
          {"geotransform", info.has_geotransform ? nlohmann::json(info.transform.coefficients())
                                                 : nlohmann::json()},
          {"bands", bands}};
}

bool is_checkpoint(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  return extension == ".pt" || extension == ".pth";
}

nlohmann::json checkpoint_json(const std::string& path, const model::LoadedCheckpoint& loaded) {
  const model::CheckpointMeta& meta = loaded.meta;
  nlohmann::json bands = nlohmann::json::array();
  for (const auto& band : meta.bands)
    bands.push_back({{"name", band.name}, {"mean", band.mean}, {"std", band.std}});
  return {{"kind", "checkpoint"},
          {"path", path},
          {"architecture", meta.model.describe()},
          {"model", nlohmann::json::parse(meta.model.to_json())},
          {"parameters", loaded.model->parameter_count()},
          {"classes", meta.classes},
          {"bands", bands},
          {"tile_size", meta.tile_size},
          {"epoch", meta.epoch},
          {"step", meta.step},
          {"created_by", meta.created_by}};
}

std::string describe_checkpoint(const std::string& path, const model::LoadedCheckpoint& loaded) {
  const model::CheckpointMeta& meta = loaded.meta;
  std::ostringstream out;
  out << "checkpoint: " << path << " (" << meta.created_by << ")\n"
      << "model:      " << meta.model.describe() << "\n"
      << "parameters: " << loaded.model->parameter_count() << "\n"
      << "classes:    ";
  for (std::size_t c = 0; c < meta.classes.size(); ++c)
    out << (c ? ", " : "") << c << "=" << meta.classes[c];
  out << "\nbands:      ";
  for (std::size_t b = 0; b < meta.bands.size(); ++b)
    out << (b ? ", " : "") << meta.bands[b].name << " (mean " << meta.bands[b].mean << ", std "
        << meta.bands[b].std << ")";
  out << "\ntile size:  " << meta.tile_size << "\ntraining:   epoch " << meta.epoch << ", step "
      << meta.step << "\n";
  return out.str();
}

}  // namespace

Command info_command() {
  Command command;
  command.name = "info";
  command.summary = "describe a raster, a dataset or prediction directory, or a checkpoint (.pt)";
  command.usage = "PATH [--json]";
  command.declare = [](po::options_description& options,
                       po::positional_options_description& positional) {
    // clang-format off
    options.add_options()
        ("path", po::value<std::string>()->value_name("PATH"),
         "the raster, dataset or prediction directory, or checkpoint to describe")
        ("json", po::bool_switch(), "print JSON instead of text");
    // clang-format on
    positional.add("path", 1);
  };
  command.run = [](const po::variables_map& values) {
    if (!values.count("path"))
      throw UsageError("a PATH to describe is required");
    const std::string path = values["path"].as<std::string>();
    if (!file_exists(path))
      throw Error(path + ": no such file or directory");
    const bool json = values["json"].as<bool>();
    if (std::filesystem::is_directory(path) && infer::PredictionIndex::present(path)) {
      const infer::PredictionIndex index = infer::PredictionIndex::load(path);
      std::cout << (json ? index.to_json() + "\n" : index.describe(path));
      return 0;
    }
    if (std::filesystem::is_directory(path)) {
      const shards::Manifest manifest = shards::Manifest::load(path);
      std::cout << (json ? manifest.to_json().dump(2) + "\n"
                         : tiling::describe_dataset(manifest, path));
      return 0;
    }
    if (is_checkpoint(path)) {
      const model::LoadedCheckpoint loaded = model::load_checkpoint(path);
      std::cout << (json ? checkpoint_json(path, loaded).dump(2) + "\n"
                         : describe_checkpoint(path, loaded));
      return 0;
    }
    const geo::Raster raster = geo::Raster::open(path);
    if (json) {
      std::cout << raster_json(raster.info()).dump(2) << "\n";
    } else {
      std::cout << raster.info().describe();
    }
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
