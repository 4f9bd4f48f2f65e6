#pragma once
// `satunet predict`: a trained model over a whole scene in overlapping windows, spread over
// the ranks, into a prediction directory (prediction.json + one HDF5 shard per rank).
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/placement.hpp"
#include "common/options.hpp"
#include "model/model_options.hpp"
#include "shards/prediction.hpp"

namespace satunet::predict {

struct PredictOptions {
  std::string checkpoint;
  std::string image;
  std::string out;
  int tile = 0;      // 0: the checkpoint's tile size
  int overlap = -1;  // -1: a quarter of the tile
  int batch = 8;
  shards::Blend blend = shards::Blend::gaussian;  // recorded for the stitcher
  shards::Tta tta = shards::Tta::none;
  shards::ProbabilityEncoding encoding = shards::ProbabilityEncoding::uint8;
  shards::Compression compress = shards::Compression::deflate(1);
  std::vector<int> bands;  // 1-based; empty: every band but alpha (as satunet tile)
  int threads = 0;         // LibTorch threads per rank; 0: cores per node / ranks per node
  comm::Device device = comm::Device::automatic;
  model::Precision precision = model::Precision::automatic;
  bool overwrite = false;
  std::string stitch_to;     // a class map to stitch into when done (rank 0)
  std::string command_line;  // recorded in prediction.json
};

const options::Table<PredictOptions>& predict_option_table();

struct PredictResult {
  std::int64_t windows = 0;  // in the whole scene
  std::int64_t pixels = 0;   // of the scene
  double seconds = 0;
};

// Checks option values that need no file (UsageError).
void validate(const PredictOptions& options);

// Collective over `comm`: every rank calls it; when it returns, the directory is complete.
PredictResult predict(const PredictOptions& options, comm::Communicator& comm);

}  // namespace satunet::predict
