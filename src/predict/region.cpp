#include "predict/region.hpp"

#include <gdal_utils.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "comm/single_process.hpp"
#include "common/csv_table.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/output_directory.hpp"
#include "common/output_lock.hpp"
#include "common/stop_signals.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"

namespace satunet::predict {
namespace fs = std::filesystem;
namespace {

constexpr const char* kSettingsName = "region.json";
constexpr const char* kIndexName = "index.json";

bool is_raster_name(const fs::path& path) {
  const std::string extension = text::lower(path.extension().string());
  for (const char* known : {".tif", ".tiff", ".vrt", ".jp2", ".img"})
    if (extension == known)
      return true;
  return false;
}

std::int64_t pixels_of(const std::string& image) {
  try {
    const geo::RasterInfo info = geo::Raster::open(image).info();
    return info.width * info.height;
  } catch (const Error&) {
    return 0;
  }
}

// Where a scene's products go.
struct SceneFiles {
  std::string mask, probabilities, polygons, road_lines;
  std::vector<std::string> all() const {
    std::vector<std::string> files = {mask};
    for (const std::string& file : {probabilities, polygons, road_lines})
      if (!file.empty())
        files.push_back(file);
    return files;
  }
};

SceneFiles files_of(const PipelineOptions& options, const std::string& name) {
  const auto wants = [&](const char* product) {
    return std::find(options.products.begin(), options.products.end(), product) !=
           options.products.end();
  };
  return {options.out + "/masks/" + name + ".tif",
          wants("probabilities") ? options.out + "/probabilities/" + name + ".tif" : "",
          wants("polygons") ? options.out + "/polygons/" + name + ".gpkg" : "",
          wants("road-lines") ? options.out + "/road-lines/" + name + ".gpkg" : ""};
}

// What makes two runs' masks comparable: a rerun with other settings is refused, not mixed in.
nlohmann::json settings_of(const PipelineOptions& options, const ModelSpec& spec) {
  return {{"checkpoint", spec.name},
          {"tile", options.tile},
          {"overlap", options.overlap ? nlohmann::json(*options.overlap) : nlohmann::json()},
          {"pixel_size", show(options.pixel_size)},
          {"blend", options::show(options.blend)},
          {"tta", options::show(spec.tta)},
          {"bands", options.bands},
          {"products", options.products},
          {"polygon_classes", options.outputs.polygon_classes},
          {"simplify_m", options.outputs.simplify_m},
          {"min_area_m2", options.outputs.min_area_m2},
          {"clean_roads", options.outputs.roads.road_class},
          {"road_spur_m", options.outputs.roads.spur_m},
          {"road_gap_m", options.outputs.roads.gap_m},
          {"road_min_length_m", options.outputs.roads.min_length_m}};
}

// The region's directory for this job: its settings recorded once (the same for every part),
// an earlier region of other settings refused or (with --overwrite) removed.
void prepare_region(const PipelineOptions& options, const ModelSpec& spec,
                    const std::vector<RegionScene>& scenes) {
  const std::string& dir = options.out;
  std::vector<std::string> inputs = {spec.name};
  for (const RegionScene& scene : scenes)
    inputs.push_back(scene.image);
  check_not_an_input(dir, inputs);
  ensure_directory(dir);
  const std::string settings_path = dir + "/" + kSettingsName;
  const nlohmann::json settings = settings_of(options, spec);
  // Its mosaics are replaced when this job writes its own.
  const Product region = {
      "a region's prediction",
      {kSettingsName},
      {"masks", "probabilities", "polygons", "road-lines", "parts", kIndexName, kSettingsName}};
  if (file_exists(settings_path) && options.overwrite) {
    check_replaceable(dir, region, inputs);
    remove_product(dir, region);
  }
  if (file_exists(settings_path)) {
    const nlohmann::json earlier = nlohmann::json::parse(read_file(settings_path), nullptr, false);
    if (earlier != settings)
      throw Error(dir + ": holds a region predicted with other settings (" + settings_path +
                  "); --overwrite replaces it, or predict into another directory");
  } else {
    write_file(settings_path, settings.dump(2) + "\n");
  }
  ensure_directory(dir + "/parts");
  const SceneFiles files = files_of(options, "any");
  for (const std::string& file : files.all())
    ensure_directory(fs::path(file).parent_path().string());
}

SceneOutcome predict_scene(const PipelineOptions& options, const ModelSpec& spec,
                           WindowModel& model, const RegionScene& scene, int threads) {
  const SceneFiles files = files_of(options, scene.name);
  SceneOutcome outcome{scene.name, scene.image, "kept", 0, 0, files.all(), ""};
  const std::vector<std::string> outputs = files.all();
  if (std::all_of(outputs.begin(), outputs.end(), file_exists))
    return outcome;
  for (const std::string& output : outputs)
    remove_abandoned_temporaries_of(output);
  PipelineOptions one = options;
  one.scenes.clear();
  one.part.clear();
  one.products.clear();
  one.fail_fast = false;
  one.image = scene.image;
  one.out.clear();
  one.stitch_to = files.mask;
  one.keep_probabilities = false;
  one.outputs.probabilities = files.probabilities;
  one.outputs.polygons = files.polygons;
  one.outputs.roads.lines = files.road_lines;
  one.overwrite = true;  // what is there is an unfinished earlier try
  one.threads = threads;
  comm::SingleProcessCommunicator alone;
  const Stopwatch clock;
  try {
    const PredictResult result = run_prediction(one, spec, model, alone);
    outcome.status = "done";
    outcome.windows = result.windows;
  } catch (const std::exception& failure) {
    if (stop_requested() || options.fail_fast)
      throw;
    outcome.status = "failed";
    outcome.error = failure.what();
    for (const std::string& output : outputs)
      fs::remove(output);
  }
  outcome.seconds = clock.seconds();
  return outcome;
}

nlohmann::json to_json(const SceneOutcome& outcome) {
  return {{"scene", outcome.name},      {"image", outcome.image},     {"status", outcome.status},
          {"seconds", outcome.seconds}, {"windows", outcome.windows}, {"outputs", outcome.outputs},
          {"error", outcome.error}};
}

SceneOutcome outcome_from(const nlohmann::json& json) {
  return {json.at("scene"),   json.at("image"),   json.at("status"), json.at("seconds"),
          json.at("windows"), json.at("outputs"), json.at("error")};
}

// The masks listed as complete, one VRT per CRS: mosaic.vrt, or mosaic-EPSG_32633.vrt ...
std::vector<std::string> write_mosaics(const std::string& dir,
                                       const std::vector<SceneOutcome>& scenes) {
  std::map<std::string, std::vector<std::string>> by_crs;
  for (const SceneOutcome& scene : scenes)
    if (scene.status != "failed" && file_exists(scene.outputs.front())) {
      const geo::SpatialRef srs = geo::Raster::open(scene.outputs.front()).info().srs();
      const std::optional<int> epsg = srs.epsg();
      std::string key = epsg ? "EPSG_" + std::to_string(*epsg) : srs.name();
      for (char& c : key)
        if (!std::isalnum(static_cast<unsigned char>(c)))
          c = '_';
      by_crs[key].push_back(scene.outputs.front());
    }
  // Those of an earlier, smaller set of CRSs go.
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("mosaic", 0) == 0 &&
        entry.path().extension() == ".vrt")
      fs::remove(entry.path());
  std::vector<std::string> written;
  for (const auto& [crs, masks] : by_crs) {
    const std::string path = dir + (by_crs.size() == 1 ? "/mosaic.vrt" : "/mosaic-" + crs + ".vrt");
    PendingFile pending(path);
    std::vector<const char*> names;
    for (const std::string& mask : masks)
      names.push_back(mask.c_str());
    geo::clear_gdal_error();
    GDALDatasetH vrt = GDALBuildVRT(pending.temp_path().c_str(), static_cast<int>(names.size()),
                                    nullptr, names.data(), nullptr, nullptr);
    if (vrt == nullptr)
      throw Error(path + ": cannot build the mosaic: " + geo::last_gdal_error());
    GDALClose(vrt);
    pending.commit();
    written.push_back(path);
  }
  return written;
}

// Every part's outcomes so far, in one index, in the order of the list.
std::vector<SceneOutcome> merge_parts(const std::string& dir,
                                      const std::vector<RegionScene>& listed) {
  std::vector<SceneOutcome> all;
  std::vector<fs::path> parts;
  for (const auto& entry : fs::directory_iterator(dir + "/parts"))
    if (entry.path().extension() == ".json")
      parts.push_back(entry.path());
  std::sort(parts.begin(), parts.end());
  for (const fs::path& part : parts)
    for (const nlohmann::json& scene : nlohmann::json::parse(read_file(part.string())))
      all.push_back(outcome_from(scene));
  std::map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < listed.size(); ++i)
    position.emplace(listed[i].name, i);
  const auto place = [&](const SceneOutcome& scene) {
    const auto found = position.find(scene.name);
    return found == position.end() ? listed.size() : found->second;
  };
  std::stable_sort(all.begin(), all.end(), [&](const SceneOutcome& a, const SceneOutcome& b) {
    return place(a) < place(b);
  });
  return all;
}

}  // namespace

Part parse_part(const std::string& text) {
  if (text.empty())
    return {};
  const std::vector<std::string> numbers = text::split(text, '/');
  if (numbers.size() == 2) {
    const std::int64_t index = text::parse_int(numbers[0], "--part");
    const std::int64_t count = text::parse_int(numbers[1], "--part");
    if (count >= 1 && index >= 1 && index <= count && count <= 1000000)
      return {static_cast<int>(index - 1), static_cast<int>(count)};
  }
  throw UsageError("--part " + text + ": give I/N with 1 <= I <= N (e.g. 3/8)");
}

std::vector<RegionScene> read_region_scenes(const std::string& list) {
  std::vector<RegionScene> scenes;
  if (fs::is_directory(list)) {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(list))
      if (entry.is_regular_file() && is_raster_name(entry.path()))
        found.push_back(entry.path());
    std::sort(found.begin(), found.end());
    for (const fs::path& path : found)
      scenes.push_back({path.stem().string(), path.string(), 0});
    if (scenes.empty())
      throw Error(list + ": holds no raster (.tif, .tiff, .vrt, .jp2, .img)");
  } else {
    const CsvTable table = CsvTable::read(list, {"image", "name"}, {"image"});
    for (const CsvRow& row : table.rows()) {
      const std::string image = table.resolve(row.cell("image"));
      const std::string name =
          row.cell("name").empty() ? fs::path(image).stem().string() : row.cell("name");
      if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
        throw Error(row.where + ": '" + name + "' cannot name a scene's files");
      scenes.push_back({name, image, 0});
    }
  }
  std::map<std::string, std::string> seen;
  for (RegionScene& scene : scenes) {
    if (!seen.emplace(scene.name, scene.image).second)
      throw Error(list + ": two scenes named " + scene.name + " (" + seen[scene.name] + ", " +
                  scene.image + "): give each a name (a name column)");
    scene.pixels = pixels_of(scene.image);
  }
  return scenes;
}

std::vector<int> balance(const std::vector<std::int64_t>& weights, int parts) {
  std::vector<std::size_t> order(weights.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return weights[a] > weights[b]; });
  std::vector<std::int64_t> load(static_cast<std::size_t>(parts), 0);
  std::vector<int> owner(weights.size(), 0);
  for (const std::size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    owner[i] = static_cast<int>(lightest);
    // An unreadable scene weighs one pixel, so that several do not all land on one part.
    load[static_cast<std::size_t>(lightest)] += std::max<std::int64_t>(weights[i], 1);
  }
  return owner;
}

RegionResult predict_region(const PipelineOptions& options, const ModelSpec& spec,
                            WindowModel& model, comm::Communicator& world) {
  const Stopwatch clock;
  const Part part = parse_part(options.part);
  const std::vector<RegionScene> all = read_region_scenes(options.scenes);
  std::vector<std::int64_t> pixels;
  for (const RegionScene& scene : all)
    pixels.push_back(scene.pixels);
  const std::vector<int> part_of = balance(pixels, part.count);
  std::vector<std::size_t> ours;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (part_of[i] == part.index)
      ours.push_back(i);
  std::vector<std::int64_t> our_pixels;
  for (const std::size_t i : ours)
    our_pixels.push_back(all[i].pixels);
  const std::vector<int> rank_of = balance(our_pixels, world.size());

  const std::string part_name =
      "part-" + std::to_string(part.index + 1) + "-of-" + std::to_string(part.count);
  std::unique_ptr<OutputLock> lock;
  comm::prepare_on_root(world, [&] {
    prepare_region(options, spec, all);
    lock = std::make_unique<OutputLock>(options.out + "/parts/" + part_name);
  });

  const int threads = comm::threads_per_rank(options.threads, world);
  std::vector<SceneOutcome> mine;
  std::int64_t done_pixels = 0, my_pixels = 0;
  for (std::size_t k = 0; k < ours.size(); ++k)
    if (rank_of[k] == world.rank())
      my_pixels += all[ours[k]].pixels;
  for (std::size_t k = 0; k < ours.size(); ++k) {
    if (rank_of[k] != world.rank())
      continue;
    const RegionScene& scene = all[ours[k]];
    mine.push_back(predict_scene(options, spec, model, scene, threads));
    done_pixels += scene.pixels;
    const SceneOutcome& outcome = mine.back();
    if (log::level() >= log::Level::info)
      log::write_info(
          (world.size() > 1 ? "rank " + std::to_string(world.rank()) + ": " : "") + "scene " +
          scene.name + " " + outcome.status + " (" + std::to_string(mine.size()) + " scenes, " +
          std::to_string(my_pixels > 0 ? 100 * done_pixels / my_pixels : 100) +
          "% of this rank's pixels)" + (outcome.error.empty() ? "" : ": " + outcome.error));
  }

  nlohmann::json mine_json = nlohmann::json::array();
  for (const SceneOutcome& outcome : mine)
    mine_json.push_back(to_json(outcome));
  const std::vector<std::string> gathered = world.allgather_strings(mine_json.dump());
  RegionResult result;
  if (world.rank() == 0) {
    std::map<std::string, SceneOutcome> by_name;
    for (const std::string& rank_json : gathered)
      for (const nlohmann::json& scene : nlohmann::json::parse(rank_json))
        by_name.emplace(scene.at("scene").get<std::string>(), outcome_from(scene));
    nlohmann::json part_json = nlohmann::json::array();
    for (const std::size_t i : ours) {
      result.scenes.push_back(by_name.at(all[i].name));
      part_json.push_back(to_json(result.scenes.back()));
    }
    write_file(options.out + "/parts/" + part_name + ".json", part_json.dump(2) + "\n");
    const std::vector<SceneOutcome> region = merge_parts(options.out, all);
    nlohmann::json index = {{"settings", settings_of(options, spec)},
                            {"scenes_listed", all.size()},
                            {"scenes", nlohmann::json::array()}};
    for (const SceneOutcome& scene : region)
      index["scenes"].push_back(to_json(scene));
    result.index = options.out + "/" + kIndexName;
    write_file(result.index, index.dump(2) + "\n");
    result.mosaics = write_mosaics(options.out, region);
  }
  world.barrier();
  result.seconds = clock.seconds();
  return result;
}

std::string describe(const RegionResult& result) {
  std::map<std::string, int> counts;
  std::string failures;
  for (const SceneOutcome& scene : result.scenes) {
    ++counts[scene.status];
    if (scene.status == "failed")
      failures += "failed: " + scene.name + ": " + scene.error + "\n";
  }
  std::string line = "region: " + std::to_string(result.scenes.size()) + " scenes (" +
                     std::to_string(counts["done"]) + " predicted, " +
                     std::to_string(counts["kept"]) + " kept from an earlier run, " +
                     std::to_string(counts["failed"]) + " failed) in " +
                     options::show(result.seconds) + " s: " + result.index;
  for (const std::string& mosaic : result.mosaics)
    line += "\nmosaic: " + mosaic;
  return line + "\n" + failures;
}

}  // namespace satunet::predict
