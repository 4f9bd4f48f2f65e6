// `satunet evaluate`'s options: their table (each with its limits) and the rules between them.
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "geo/vector.hpp"
#include "scoring/evaluate.hpp"

namespace satunet::scoring {

const options::Table<EvaluateOptions>& evaluate_option_table() {
  using O = EvaluateOptions;
  static const auto table =
      options::Table<O>()
          .value("pred", &O::prediction, "predicted class map (255 = nodata)", "MASK.tif")
          .value("truth", &O::truth, "true class map on the same grid", "TRUTH.tif")
          .repeated("truth-labels", &O::truth_labels,
                    "true labels as vectors (any OGR format and CRS), rasterized onto the "
                    "prediction's grid",
                    "CLASS=FILE")
          .value("scenes", &O::scenes,
                 "a test set instead: CSV with columns pred and truth or labels (CLASS=FILE;...), "
                 "optional pred_objects, errors, road_graph; spread over the ranks",
                 "FILE.csv")
          .value("classes", &O::classes,
                 "class names in id order (default: the prediction's category names)", "a,b,c")
          .include(geo::line_width_option_table(),
                   [](O& o) -> geo::LineWidthOptions& { return o.line_widths; })
          .value("objects", &O::objects,
                 "class scored as objects (footprints matched one to one): a class name, auto "
                 "(building, if present) or none",
                 "CLASS")
          .value("pred-objects", &O::predicted_objects,
                 "predicted footprints as polygons (any OGR format and CRS) instead of the "
                 "mask's connected components",
                 "FILE")
          .value_at(
              "match-iou", [](O& o) -> double& { return o.object_options.match_iou; },
              "footprints match at this IoU or more (SpaceNet: 0.5)")
          .above(0)
          .at_most(1)
          .value_at(
              "min-area", [](O& o) -> double& { return o.object_options.min_area_m2; },
              "footprints smaller than this, in square metres, are left out on both sides")
          .at_least(0)
          .value("roads", &O::roads,
                 "class scored as a road graph (APLS): a class name, auto (road, if present) or "
                 "none",
                 "CLASS")
          .value_at(
              "spur", [](O& o) -> double& { return o.road_options.spur_m; },
              "prune dead-end road edges shorter than this, in metres")
          .at_least(0)
          .value_at(
              "apls-step", [](O& o) -> double& { return o.road_options.apls.step_m; },
              "APLS control points every this many metres along the roads (SpaceNet: 50)")
          .above(0)
          .value_at(
              "apls-snap", [](O& o) -> double& { return o.road_options.apls.snap_m; },
              "APLS control points snap to the other graph within this many metres (SpaceNet: 4)")
          .above(0)
          .value("road-graph", &O::road_graph,
                 "write both road graphs (lines with graph and length_m) here", "FILE.gpkg")
          .value("errors", &O::errors,
                 "write a map of true positives, false positives and false negatives per class",
                 "FILE.tif")
          .flag("overwrite", &O::overwrite, "replace existing output files")
          .value("json", &O::json, "also write the scores as JSON", "FILE");
  return table;
}

void validate(const EvaluateOptions& options) {
  evaluate_option_table().check(options);
  // The rules between options.
  if (options.scenes.empty()) {
    if (options.prediction.empty())
      throw UsageError("give --pred MASK.tif, or --scenes FILE.csv");
    if (options.truth.empty() == options.truth_labels.empty())
      throw UsageError("give the truth as --truth RASTER or as --truth-labels CLASS=FILE");
  } else {
    const bool per_scene = !options.prediction.empty() || !options.truth.empty() ||
                           !options.truth_labels.empty() || !options.predicted_objects.empty() ||
                           !options.errors.empty() || !options.road_graph.empty();
    if (per_scene)
      throw UsageError(
          "--scenes lists every scene's files (columns pred, truth, labels, "
          "pred_objects, errors, road_graph): give none of them as options too");
  }
  if (!options.classes.empty())
    check_class_names(options.classes, "--classes");
  if (!options.road_graph.empty())
    geo::vector_driver_for(options.road_graph);
  check_distinct_outputs({options.errors, options.road_graph, options.json});
}

}  // namespace satunet::scoring
