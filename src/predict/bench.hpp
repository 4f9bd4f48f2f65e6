#pragma once
// `satunet bench predict`: the prediction pipeline that `satunet predict` runs (reading,
// normalising, batching, blending into the class map or writing shards), with a model that
// costs nothing, so that its own speed shows: the most scene pixels per second it can feed a
// GPU with. No LibTorch.
#include "comm/communicator.hpp"
#include "common/options.hpp"
#include "predict/pipeline.hpp"

namespace satunet::predict {

struct PredictBenchOptions : PipelineOptions {
  int classes = 3;    // the identity model's: its first `classes` input bands
  std::string jsonl;  // records of the measurements; "": none
};

const options::Table<PredictBenchOptions>& predict_bench_option_table();
void validate(const PredictBenchOptions& options);  // throws UsageError

// Collective over `comm`; rank 0 prints predict's line ("predicted N windows (M Mpx) in S s
// ...") and the pipeline's rate, and with --jsonl appends them as the records
// "pipeline.seconds" (s) and "pipeline.rate" (scene Mpx/s), with the configuration
// (common/bench_record.hpp).
void run_predict_bench(const PredictBenchOptions& options, comm::Communicator& comm);

}  // namespace satunet::predict
