#pragma once
// What a run writes into its directory beside the checkpoints (report::RunDirectory names the
// files): rank 0 takes the directory, writes config.json, a row of metrics.csv per epoch, a
// row of steps.csv per step, the validation tiles and the report page; on the other ranks the
// calls do nothing, apart from taking part in the collective ones.
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "common/output_directory.hpp"
#include "data/dataset.hpp"
#include "model/unet.hpp"
#include "report/run_directory.hpp"
#include "train/train_options.hpp"

namespace satunet::train {

// What config.json records of a run beside its options.
struct RunFacts {
  std::string model;    // UNetOptions::to_json, with the dataset's bands and classes
  std::string backend;  // the gradients' communicator
  std::string device;
  bool bf16 = false;
  std::int64_t total_steps = 0;
};

class RunOutputs {
 public:
  RunOutputs(const TrainOptions& options, comm::Communicator& world,
             std::vector<std::string> classes);

  const report::RunDirectory& directory() const { return directory_; }

  // Collective. One job writes a run directory at a time (rank 0 holds its lock for the whole
  // run), and an earlier run in it is continued (--resume), replaced (--overwrite: refused
  // when an input of the run lies in what it would remove) or refused.
  void claim();
  // Collective: the checkpoints' folder, config.json, and metrics.csv and steps.csv begun (a
  // resumed run appends to those it has).
  void start(const RunFacts& facts, bool resumed) const;

  void append(const report::EpochMetrics& row) const;
  void append(const report::StepMetrics& row) const;
  // The val tiles with the most foreground among a few evenly spread ones, with the prediction
  // of `net` (in eval mode), for the report after `step`. Training goes on without them when
  // they cannot be written.
  void write_validation_tiles(model::UNet& net, const torch::Device& device,
                              const data::ShardDataset& val, std::int64_t step) const;
  // The report page. A report that cannot be written does not stop training.
  void write_report() const;

 private:
  bool writes() const { return world_.rank() == 0; }

  const TrainOptions& options_;
  comm::Communicator& world_;
  std::vector<std::string> classes_;
  report::RunDirectory directory_;
  std::optional<OutputDirectory> out_;  // rank 0's, for the whole run
};

}  // namespace satunet::train
