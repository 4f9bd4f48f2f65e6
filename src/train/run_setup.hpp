#pragma once
// What a run starts from: a train split with something to learn, the model (resumed, started
// from another run's weights, or new), its optimizer and its loss.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "data/dataset.hpp"
#include "model/checkpoint.hpp"
#include "model/losses.hpp"
#include "model/unet.hpp"
#include "shards/manifest.hpp"
#include "train/train_options.hpp"

namespace satunet::train {

// Nothing to learn from a split whose every label is ignored: refused rather than "trained"
// to a loss of 0.
void check_labelled_pixels(const TrainOptions& options, const shards::Manifest& manifest);

struct StartingModel {
  model::UNet net{nullptr};
  // --resume's checkpoint (its model is `net`), for its training state; none for a new run.
  std::optional<model::LoadedCheckpoint> resumed;
};

// --resume's model (RUN/checkpoints/last.pt for "last"); else a new one, seeded alike on
// every rank, with --init-from's or --encoder-weights' weights. A checkpoint's model is kept:
// options asking for another one are usage errors.
StartingModel starting_model(const TrainOptions& options, const data::ShardDataset& train_set);

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                        model::UNet& net);

// --loss with its class weights: --class-weights' own, or the train split's inverse frequencies.
model::LossOptions loss_options(const TrainOptions& options, const shards::Manifest& manifest);

}  // namespace satunet::train
