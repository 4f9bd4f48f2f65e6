#pragma once
// `satunet predict --scenes LIST --out DIR`: a region of many scenes in one job. Scenes go whole
// to ranks, balanced by pixels; each rank predicts its scenes one after another, each blended
// straight into DIR/masks/NAME.tif (with DIR/probabilities/NAME.tif and DIR/polygons/NAME.gpkg
// as --products asks). A scene that fails is recorded with its error and the job goes on
// (--fail-fast stops it); a rerun keeps the scenes whose outputs are complete and redoes the
// others; --part I/N predicts one part of N (a SLURM job array's task), parts side by side in
// one DIR. DIR/index.json lists every scene of every part done so far (status, seconds,
// windows, outputs, error) and DIR/mosaic*.vrt mosaics the masks, one per CRS. Nothing here
// includes LibTorch: the model comes as the pipeline's WindowModel.
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "predict/pipeline.hpp"

namespace satunet::predict {

struct Part {
  int index = 0;  // 0-based
  int count = 1;
};
// --part "I/N" (I 1-based); "" is the whole region, part 1 of 1. UsageError for anything else.
Part parse_part(const std::string& text);

struct RegionScene {
  std::string name;  // its outputs' file name stem
  std::string image;
  std::int64_t pixels = 0;  // 0 where its header could not be read: it fails in its turn
};

// The scenes of --scenes: a CSV (column image, optional name; paths relative to the CSV) or a
// folder's rasters (.tif, .tiff, .vrt, .jp2, .img), in name order.
std::vector<RegionScene> read_region_scenes(const std::string& list);

// For each weight, the part (0 .. parts - 1) it goes to: largest first, each to the part with
// the least so far (ties to the lowest index). The same answer on every rank and every run.
std::vector<int> balance(const std::vector<std::int64_t>& weights, int parts);

struct SceneOutcome {
  std::string name;
  std::string image;
  std::string status;  // "done", "kept" (complete from an earlier run) or "failed"
  double seconds = 0;
  std::int64_t windows = 0;
  std::vector<std::string> outputs;
  std::string error;
};

struct RegionResult {
  std::vector<SceneOutcome> scenes;  // of this job (its part), in list order; on rank 0
  std::string index;                 // DIR/index.json
  std::vector<std::string> mosaics;
  double seconds = 0;
};

// Collective over `world`. Throws only for what ends the job (bad options, a stop signal, a
// failure with --fail-fast); failed scenes are in the result.
RegionResult predict_region(const PipelineOptions& options, const ModelSpec& spec,
                            WindowModel& model, comm::Communicator& world);

// "region: N scenes ..." and the failures, one line each.
std::string describe(const RegionResult& result);

}  // namespace satunet::predict
