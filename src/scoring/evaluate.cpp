#include "scoring/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "comm/communicator.hpp"
#include "common/csv_table.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "common/options.hpp"
#include "common/progress.hpp"
#include "common/text.hpp"
#include "geo/gdal.hpp"
#include "geo/labels.hpp"
#include "geo/metric_plane.hpp"
#include "geo/raster.hpp"
#include "geo/strip_reader.hpp"
#include "geo/vector.hpp"
#include "scoring/error_map.hpp"

namespace satunet::scoring {
namespace {

std::vector<std::string> class_names(const EvaluateOptions& options,
                                     const geo::RasterInfo& prediction) {
  if (!options.classes.empty())
    return options.classes;
  if (!prediction.bands.front().categories.empty())
    return prediction.bands.front().categories;
  throw UsageError(prediction.path + " has no class names: give --classes");
}

constexpr int kNotScored = -1;

// The class an option names for a kind of scoring: "auto" takes `usual` where it is among the
// classes, "none" turns it off.
int scored_class(const std::string& choice, const std::string& option, const std::string& usual,
                 const std::vector<std::string>& classes) {
  if (choice == "none")
    return kNotScored;
  if (choice == "auto")
    return std::find(classes.begin(), classes.end(), usual) == classes.end()
               ? kNotScored
               : class_index(classes, usual, option);
  return class_index(classes, choice, option);
}

std::vector<SceneToScore> scenes_of(const EvaluateOptions& options) {
  if (options.scenes.empty())
    return {{options.prediction, options.truth, options.truth_labels, options.predicted_objects,
             options.errors, options.road_graph}};
  const CsvTable table =
      CsvTable::read(options.scenes,
                     {"pred", "truth", "labels", "pred_objects", "errors", "road_graph"}, {"pred"});
  std::vector<SceneToScore> scenes;
  for (const CsvRow& row : table.rows()) {
    SceneToScore scene;
    scene.prediction = table.resolve(row.cell("pred"));
    scene.truth = table.resolve(row.cell("truth"));
    for (const LabelFile& file : parse_label_files(row.cell("labels"), row.where)) {
      if (file.class_name.empty())
        throw Error(row.where + ": labels are CLASS=FILE, not '" + file.path + "'");
      scene.truth_labels.emplace_back(file.class_name, table.resolve(file.path));
    }
    if (scene.truth.empty() == scene.truth_labels.empty())
      throw Error(row.where + ": give the truth in one of the columns truth or labels");
    scene.predicted_objects = table.resolve(row.cell("pred_objects"));
    scene.errors = table.resolve(row.cell("errors"));
    scene.road_graph = table.resolve(row.cell("road_graph"));
    scenes.push_back(scene);
  }
  return scenes;
}

// Inputs exist and outputs may be written, for every scene, before any is scored.
void check_files(const std::vector<SceneToScore>& scenes, const std::string& json, bool overwrite) {
  std::vector<std::string> inputs;
  for (const SceneToScore& scene : scenes) {
    for (const std::string& path : {scene.prediction, scene.truth, scene.predicted_objects})
      inputs.push_back(path);
    for (const auto& [name, path] : scene.truth_labels)
      inputs.push_back(path);
  }
  for (const std::string& path : inputs)
    if (!path.empty() && !geo::exists(path))
      throw Error(path + ": no such file");
  // Every output against every scene's inputs, and against each other.
  std::vector<std::string> outputs = {json};
  for (const SceneToScore& scene : scenes)
    for (const std::string& output : {scene.errors, scene.road_graph})
      outputs.push_back(output);
  check_distinct_outputs(outputs);
  for (const std::string& output : outputs)
    if (!output.empty())
      check_output_path(output, overwrite, inputs);
}

// What every scene is scored with.
struct Setup {
  const EvaluateOptions& options;
  std::vector<std::string> classes;
  int object_class = kNotScored;
  int road_class = kNotScored;
};

// The truth of one scene as class rows on the prediction's grid: a raster read as stored, or
// vectors rasterized.
std::unique_ptr<geo::SceneLabels> truth_of(const SceneToScore& scene, const geo::RasterInfo& grid,
                                           const Setup& setup) {
  if (!scene.truth.empty())
    return std::make_unique<geo::SceneLabels>(scene.truth, grid, setup.classes, "the prediction");
  if (!grid.georeferenced())
    throw Error(grid.path + ": vector truth needs a georeferenced prediction");
  std::vector<geo::VectorLabelSource> sources;
  for (const auto& [name, path] : scene.truth_labels)
    sources.push_back({path, class_index(setup.classes, name, "--truth-labels"), "", {}});
  return std::make_unique<geo::SceneLabels>(
      geo::VectorLabels(sources, grid, setup.classes,
                        setup.options.line_widths.by_class(setup.classes), false),
      grid);
}

// One side's footprints as object ids, strip by strip: connected components of the class in
// the class rows, or features burnt one by one where they come as vectors (touching
// footprints stay two).
class ObjectIds {
 public:
  ObjectIds(std::int64_t width, int object_class, const geo::VectorLabels* instances)
      : width_(width), class_(object_class), instances_(instances), components_(width) {}

  // `classes`: the strip's class rows, everything not judged already kIgnoreLabel.
  void read(std::int64_t row, std::int64_t rows, const std::vector<std::uint8_t>& classes,
            std::vector<std::int32_t>& ids) {
    ids.resize(classes.size());
    if (instances_) {
      instances_->rasterize_instances({0, row, width_, rows}, class_, ids.data());
      // A footprint is where the class map says so: a road drawn over it, or nodata, cuts it.
      for (std::size_t i = 0; i < ids.size(); ++i)
        if (classes[i] != class_)
          ids[i] = 0;
      return;
    }
    inside_.resize(static_cast<std::size_t>(width_));
    for (std::int64_t y = 0; y < rows; ++y) {
      const std::size_t start = static_cast<std::size_t>(y * width_);
      for (std::size_t x = 0; x < inside_.size(); ++x)
        inside_[x] = classes[start + x] == class_;
      components_.label_row(inside_.data(), ids.data() + start);
    }
  }
  std::int32_t root(std::int32_t id) { return instances_ ? id : components_.root(id); }

 private:
  std::int64_t width_;
  int class_;
  const geo::VectorLabels* instances_;
  ComponentLabeller components_;
  std::vector<std::uint8_t> inside_;
};

std::optional<geo::VectorLabels> predicted_footprints(const SceneToScore& scene,
                                                      const geo::RasterInfo& grid,
                                                      const Setup& setup) {
  if (scene.predicted_objects.empty() || setup.object_class == kNotScored)
    return std::nullopt;
  return geo::VectorLabels({{scene.predicted_objects, setup.object_class, "", {}}}, grid,
                           setup.classes, {}, false);
}

std::vector<std::string> classes_of(const Setup& setup, const geo::RasterInfo& prediction) {
  std::vector<std::string> found = class_names(setup.options, prediction);
  if (found != setup.classes)
    throw Error(prediction.path + ": classes " + text::join(found, ",") +
                " differ from the first scene's " + text::join(setup.classes, ",") +
                " (--classes names them for every scene)");
  return found;
}

// A pixel not judged on one side (kIgnoreLabel: nodata) is judged on neither.
void judge_together(std::vector<std::uint8_t>& truth, std::vector<std::uint8_t>& predicted) {
  for (std::size_t i = 0; i < truth.size(); ++i)
    if (predicted[i] == kIgnoreLabel || truth[i] == kIgnoreLabel)
      predicted[i] = truth[i] = kIgnoreLabel;
}

// Pixels, objects and the error map in one pass over the rows.
SceneScores score_pixels_and_objects(const SceneToScore& scene, const geo::Raster& prediction,
                                     geo::SceneLabels& truth, const Setup& setup,
                                     const std::optional<geo::MetricPlane>& plane) {
  const geo::RasterInfo& info = prediction.info();
  const std::int64_t width = info.width;
  SceneScores scores{scene.prediction, ConfusionMatrix(static_cast<int>(setup.classes.size())),
                     std::nullopt, std::nullopt};
  geo::ClassRaster predicted_reader(scene.prediction, setup.classes);
  std::unique_ptr<ErrorMapWriter> errors;
  if (!scene.errors.empty())
    errors = std::make_unique<ErrorMapWriter>(scene.errors, info, setup.classes);
  const std::optional<geo::VectorLabels> footprints = predicted_footprints(scene, info, setup);
  std::optional<ObjectIds> truth_objects, predicted_objects;
  ObjectOverlaps overlaps;
  if (setup.object_class != kNotScored) {
    truth_objects.emplace(width, setup.object_class, truth.vectors());
    predicted_objects.emplace(width, setup.object_class, footprints ? &*footprints : nullptr);
  }
  std::vector<std::uint8_t> predicted, truths;
  std::vector<std::int32_t> truth_ids, predicted_ids;
  Progress progress("evaluate", info.height, "rows");
  for (std::int64_t row = 0; row < info.height; row += setup.options.strip_rows) {
    const std::int64_t rows = std::min(setup.options.strip_rows, info.height - row);
    predicted_reader.read(row, rows, predicted);
    truth.read(row, rows, truths);
    judge_together(truths, predicted);
    scores.matrix.add(truths.data(), predicted.data(), truths.size());
    if (errors)
      errors->add_rows(row, rows, truths.data(), predicted.data());
    if (truth_objects) {
      truth_objects->read(row, rows, truths, truth_ids);
      predicted_objects->read(row, rows, predicted, predicted_ids);
      for (std::int64_t y = 0; y < rows; ++y) {
        const auto start = static_cast<std::size_t>(y * width);
        overlaps.add_row(truth_ids.data() + start, predicted_ids.data() + start, width,
                         plane->pixel_area_m2(row + y));
      }
    }
    progress.advance(rows);
  }
  progress.finish();
  if (errors)
    errors->commit();
  if (truth_objects)
    scores.objects = overlaps.score([&](std::int32_t id) { return truth_objects->root(id); },
                                    [&](std::int32_t id) { return predicted_objects->root(id); },
                                    setup.options.object_options);
  return scores;
}

RoadScore score_road_graphs(const SceneToScore& scene, const geo::Raster& prediction,
                            geo::SceneLabels& truth, const Setup& setup,
                            const geo::MetricPlane& plane) {
  const geo::RasterInfo& info = prediction.info();
  const RoadOptions& options = setup.options.road_options;
  geo::ClassRaster predicted_reader(scene.prediction, setup.classes);
  const RoadGraphs graphs = road_graphs_of(
      [&](std::int64_t row, std::int64_t rows, std::vector<std::uint8_t>& truths,
          std::vector<std::uint8_t>& predicted) {
        predicted_reader.read(row, rows, predicted);
        truth.read(row, rows, truths);
        // So that a road the truth draws across the scene's nodata is not missed there.
        judge_together(truths, predicted);
      },
      setup.road_class, info.width, info.height, plane, options.spur_m);
  if (!scene.road_graph.empty())
    write_road_graphs(scene.road_graph, graphs.truth, graphs.proposal, plane);
  return score_roads(graphs.truth, graphs.proposal, options);
}

SceneScores score_scene(const SceneToScore& scene, const Setup& setup) {
  const geo::Raster prediction = geo::Raster::open(scene.prediction);
  const geo::RasterInfo& info = prediction.info();
  classes_of(setup, info);
  const bool on_the_ground = setup.object_class != kNotScored || setup.road_class != kNotScored;
  if (on_the_ground && !info.georeferenced())
    throw Error(scene.prediction +
                ": objects and roads are scored on the ground, and this class map is not "
                "georeferenced (--objects none --roads none score its pixels alone)");
  std::optional<geo::MetricPlane> plane;
  if (on_the_ground)
    plane.emplace(info);
  const std::unique_ptr<geo::SceneLabels> truth = truth_of(scene, info, setup);
  SceneScores scores = score_pixels_and_objects(scene, prediction, *truth, setup, plane);
  if (scores.matrix.total() == 0)
    throw Error((scene.truth.empty() ? scene.prediction : scene.truth) +
                ": no pixel is judged: every pixel is nodata here or in the prediction " +
                scene.prediction);
  if (setup.road_class != kNotScored)
    scores.roads = score_road_graphs(scene, prediction, *truth, setup, *plane);
  return scores;
}

}  // namespace

namespace {

// Several scenes' road scores: APLS as the mean over scenes, lengths and junctions summed.
RoadScore road_total(const std::vector<SceneScores>& scenes) {
  RoadScore total;
  double apls = 0, forward = 0, backward = 0;
  int count = 0;
  TopologyScore& t = total.topology;
  t = {};
  for (const SceneScores& scene : scenes) {
    const RoadScore& s = *scene.roads;
    apls += s.apls.apls;
    forward += s.apls.truth_to_proposal;
    backward += s.apls.proposal_to_truth;
    ++count;
    total.apls.truth_control_points += s.apls.truth_control_points;
    total.apls.proposal_control_points += s.apls.proposal_control_points;
    total.apls.truth_paths += s.apls.truth_paths;
    total.apls.proposal_paths += s.apls.proposal_paths;
    t.truth_junctions += s.topology.truth_junctions;
    t.proposal_junctions += s.topology.proposal_junctions;
    t.matched_junctions += s.topology.matched_junctions;
    t.truth_length_m += s.topology.truth_length_m;
    t.proposal_length_m += s.topology.proposal_length_m;
    t.correct_length_m += s.topology.correct_length_m;
    t.matched_truth_length_m += s.topology.matched_truth_length_m;
  }
  total.apls.apls = apls / count;
  total.apls.truth_to_proposal = forward / count;
  total.apls.proposal_to_truth = backward / count;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : std::nan(""); };
  t.junction_precision =
      ratio(static_cast<double>(t.matched_junctions), static_cast<double>(t.proposal_junctions));
  t.junction_recall =
      ratio(static_cast<double>(t.matched_junctions), static_cast<double>(t.truth_junctions));
  t.correctness = ratio(t.correct_length_m, t.proposal_length_m);
  t.completeness = ratio(t.matched_truth_length_m, t.truth_length_m);
  return total;
}

// The classes every scene is scored with, from the first prediction (or --classes).
Setup make_setup(const EvaluateOptions& options, const std::vector<SceneToScore>& scenes) {
  Setup setup{options, {}, kNotScored, kNotScored};
  const geo::Raster first = geo::Raster::open(scenes.front().prediction);
  setup.classes = class_names(options, first.info());
  setup.object_class = scored_class(options.objects, "--objects", "building", setup.classes);
  setup.road_class = scored_class(options.roads, "--roads", "road", setup.classes);
  for (const SceneToScore& scene : scenes)
    if (!scene.predicted_objects.empty() && setup.object_class == kNotScored)
      throw UsageError(scene.predicted_objects +
                       ": predicted footprints, but no class is scored as objects (--objects)");
  return setup;
}

// Every rank's scenes (JSON arrays of {index, scores}) put back in order and added up.
Evaluation assemble(const Setup& setup, std::size_t scenes,
                    const std::vector<std::string>& gathered) {
  Evaluation result;
  result.classes = setup.classes;
  result.match_iou = setup.options.object_options.match_iou;
  if (setup.object_class != kNotScored)
    result.object_class = setup.classes[static_cast<std::size_t>(setup.object_class)];
  if (setup.road_class != kNotScored)
    result.road_class = setup.classes[static_cast<std::size_t>(setup.road_class)];
  result.scenes.resize(scenes);
  for (const std::string& text : gathered)
    for (const nlohmann::json& entry : nlohmann::json::parse(text))
      result.scenes[entry.at("index").get<std::size_t>()] =
          SceneScores::from_json(entry.at("scores"));
  result.matrix = ConfusionMatrix(static_cast<int>(setup.classes.size()));
  for (const SceneScores& scene : result.scenes) {
    result.matrix.merge(scene.matrix);
    if (scene.objects) {
      if (!result.objects)
        result.objects.emplace();
      result.objects->merge(*scene.objects);
    }
  }
  if (setup.road_class != kNotScored)
    result.roads = road_total(result.scenes);
  return result;
}

}  // namespace

Evaluation evaluate(const EvaluateOptions& options, comm::Communicator& world) {
  validate(options);
  // Every raster is read once in strips, or twice for road graphs: GDAL's block cache would
  // only keep what is never read again.
  geo::set_gdal_cache_megabytes(64);
  std::vector<SceneToScore> scenes;
  auto prepare = [&] {
    scenes = scenes_of(options);
    check_files(scenes, options.json, options.overwrite);
  };
  comm::prepare_on_root(world, prepare);
  if (scenes.empty())
    prepare();  // the other ranks read the list once rank 0 found it good
  const Setup setup = make_setup(options, scenes);

  // Scene i on rank i mod N; every rank gets every result.
  const auto rank = static_cast<std::size_t>(world.rank());
  const auto ranks = static_cast<std::size_t>(world.size());
  nlohmann::json mine = nlohmann::json::array();
  for (std::size_t i = rank; i < scenes.size(); i += ranks)
    mine.push_back(
        {{"index", i}, {"scores", score_scene(scenes[i], setup).to_json(setup.classes)}});
  const std::vector<std::string> gathered = world.allgather_strings(mine.dump());
  Evaluation result = assemble(setup, scenes.size(), gathered);
  if (!options.json.empty() && rank == 0)
    write_file(options.json, result.to_json().dump(2) + "\n");
  return result;
}

}  // namespace satunet::scoring
