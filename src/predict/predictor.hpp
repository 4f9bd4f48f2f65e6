#pragma once
// `satunet predict`: a trained model over a whole scene in overlapping windows, spread over
// the ranks, into a prediction directory (prediction.json + one HDF5 shard per rank) or, with
// --stitch-to, straight into a class map. The checkpoint is the pipeline's model
// (pipeline.hpp), on the CPU or on the rank's GPU.
#include <string>

#include "comm/communicator.hpp"
#include "comm/placement.hpp"
#include "common/options.hpp"
#include "model/model_options.hpp"
#include "predict/pipeline.hpp"
#include "predict/region.hpp"
#include "shards/prediction.hpp"

namespace satunet::predict {

struct PredictOptions : PipelineOptions {
  std::string checkpoint;
  shards::Tta tta = shards::Tta::none;
  comm::Device device = comm::Device::automatic;
  model::Precision precision = model::Precision::automatic;
};

const options::Table<PredictOptions>& predict_option_table();

// Checks option values that need no file (UsageError).
void validate(const PredictOptions& options);

// Collective over `comm`: every rank calls it; when it returns, the outputs are complete.
PredictResult predict(const PredictOptions& options, comm::Communicator& comm);
// The same for many scenes (--scenes): the model loaded once per rank.
RegionResult predict_region(const PredictOptions& options, comm::Communicator& comm);

}  // namespace satunet::predict
