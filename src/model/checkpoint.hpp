#pragma once
// Checkpoints: one LibTorch archive holding the weights, the model's options, the class names
// and band statistics of the dataset (so that `predict` needs nothing but the checkpoint and a
// scene), and the training state. Written atomically (temporary name, fsync, rename).
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/pixel_size_range.hpp"
#include "model/unet.hpp"

namespace satunet::model {

constexpr int64_t kCheckpointSchemaVersion = 1;

struct BandNormalisation {
  std::string name;
  double mean = 0;
  double std = 1;
  // The pixel type the model was trained on ("uint8", ...; see geo::data_type_name): its
  // normalisation fits no other. "" in checkpoints written before it was recorded.
  std::string dtype;
};

struct CheckpointMeta {
  UNetOptions model;
  std::vector<std::string> classes;
  std::vector<BandNormalisation> bands;
  int64_t epoch = 0;  // of training: the epoch being run, and optimizer steps done
  int64_t step = 0;
  int tile_size = 0;
  // The ground sample distances of its training scenes; none where they were not
  // georeferenced, and in checkpoints written before it was recorded.
  std::optional<PixelSizeRange> pixel_size;
  std::string created_by;
  // The rest of the trainer's state, as JSON the trainer alone writes and reads
  // (train::TrainingState); carried here as it is.
  std::string training;
  // With --ema the weights are an average of this many updates (the live ones are kept in
  // the kWeightAverage archive, for resuming); none for the weights as trained.
  std::optional<int64_t> averaged_updates;
};

// The archive of a checkpoint written with --ema: its "live" weights and the "updates" count.
constexpr const char* kWeightAverage = "ema";
constexpr const char* kAveragedUpdates = "updates";

// Optional parts a trainer adds: its optimizer (and anything else) as named sub-archives.
struct CheckpointExtras {
  std::vector<std::pair<std::string, torch::serialize::OutputArchive*>> archives;
};

void save_checkpoint(const std::string& path, UNet& model, const CheckpointMeta& meta,
                     const CheckpointExtras& extras = {});

struct LoadedCheckpoint {
  UNet model{nullptr};
  CheckpointMeta meta;
  torch::serialize::InputArchive archive;  // for the trainer's extras
};

// Rebuilds the model from the file alone. Throws "<path>: ..." for missing or corrupt files
// and for checkpoints of another schema.
LoadedCheckpoint load_checkpoint(const std::string& path);

}  // namespace satunet::model
