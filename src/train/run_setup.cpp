#include "train/run_setup.hpp"

#include <nlohmann/json.hpp>
#include <vector>

#include "common/error.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "model/transfer.hpp"
#include "report/run_directory.hpp"
#include "train/multi_tensor_adamw.hpp"

namespace satunet::train {
namespace {

std::vector<double> class_weights_from(const TrainOptions& options,
                                       const shards::Manifest& manifest) {
  switch (options.class_weights.kind) {
    case ClassWeights::Kind::none:
      return {};
    case ClassWeights::Kind::inverse_frequency:
      return model::inverse_frequency_weights(manifest.class_pixels.at("train"));
    case ClassWeights::Kind::given:
      break;
  }
  const std::vector<double>& weights = options.class_weights.values;
  if (weights.size() != manifest.classes.size())
    throw UsageError("--class-weights has " + std::to_string(weights.size()) +
                     " values for the dataset's " + std::to_string(manifest.classes.size()) +
                     " classes");
  return weights;
}

// A resumed or fine-tuned run keeps its checkpoint's model: options asking for another one are
// refused rather than silently ignored (options left at their defaults ask for nothing).
void check_kept_model(const TrainOptions& options, const std::string& origin,
                      const model::UNetOptions& saved) {
  const auto given = nlohmann::json::parse(options.model.to_json());
  const auto defaults = nlohmann::json::parse(model::UNetOptions().to_json());
  const auto kept = nlohmann::json::parse(saved.to_json());
  std::vector<std::string> conflicts;
  for (const auto& [key, value] : given.items())
    if (key != "in_channels" && key != "classes" && value != defaults.at(key) &&
        value != kept.at(key))
      conflicts.push_back(key + " " + value.dump() + " (the checkpoint has " + kept.at(key).dump() +
                          ")");
  if (!conflicts.empty())
    throw UsageError(origin + " keeps the checkpoint's model; asked for " +
                     text::join(conflicts, ", "));
}

StartingModel resumed_model(const TrainOptions& options, const data::ShardDataset& train_set,
                            const std::string& resume) {
  StartingModel start;
  start.resumed.emplace(model::load_checkpoint(resume));
  const auto& meta = start.resumed->meta;
  if (meta.model.in_channels() != train_set.bands() || meta.model.classes() != train_set.classes())
    throw Error(resume + ": a model of " + std::to_string(meta.model.in_channels()) +
                " bands and " + std::to_string(meta.model.classes()) + " classes cannot train on " +
                options.data + " (" + std::to_string(train_set.bands()) + " bands, " +
                std::to_string(train_set.classes()) + " classes)");
  check_kept_model(options, "--resume " + resume, meta.model);
  start.net = start.resumed->model;
  return start;
}

// How the encoder's first layer came from the file, for the log.
std::string first_layer_origin(const model::EncoderWeights& loaded, std::size_t bands) {
  if (!loaded.selected.empty())
    return "; first layer on its bands " + text::join(loaded.selected, ",");
  if (loaded.adapted)
    return "; first layer derived from its RGB weights for " + std::to_string(bands) + " bands";
  return "";
}

}  // namespace

void check_labelled_pixels(const TrainOptions& options, const shards::Manifest& manifest) {
  const auto& pixels = manifest.class_pixels;
  const auto train = pixels.find("train");
  std::int64_t labelled = 0;
  if (train != pixels.end())
    for (std::int64_t count : train->second)
      labelled += count;
  if (labelled == 0)
    throw JobError(options.data +
                   ": the train split has no labelled pixel (every label is nodata): nothing "
                   "to learn");
}

StartingModel starting_model(const TrainOptions& options, const data::ShardDataset& train_set) {
  const std::string resume = options.resume == "last"
                                 ? report::RunDirectory(options.out).last_checkpoint()
                                 : options.resume;
  if (!resume.empty())
    return resumed_model(options, train_set, resume);
  std::optional<model::LoadedCheckpoint> start;
  model::UNetOptions architecture = options.model;
  if (!options.init_from.empty()) {
    start.emplace(model::load_checkpoint(options.init_from));
    check_kept_model(options, "--init-from " + options.init_from, start->meta.model);
    architecture = start->meta.model;
  }
  // Seeded after the checkpoint is loaded (building its model draws from the generator
  // too): the same initial weights on every rank, and what --init-from does not take over
  // starts as a run without it would.
  torch::manual_seed(options.seed);
  StartingModel made;
  made.net = model::UNet(architecture.in_channels(train_set.bands()).classes(train_set.classes()));
  if (!options.encoder_weights.empty()) {
    std::vector<std::string> bands;
    for (const shards::BandStats& band : train_set.manifest().bands)
      bands.push_back(band.name);
    const model::EncoderWeights loaded =
        made.net->load_encoder_weights(options.encoder_weights, bands);
    log::info("train: ", loaded.tensors, " encoder tensors from ", options.encoder_weights,
              first_layer_origin(loaded, bands.size()));
  }
  if (!start)
    return made;
  const model::WeightTransfer transfer =
      model::transfer_weights(start->model, start->meta.classes, made.net,
                              train_set.manifest().classes, options.init_parts, options.init_from);
  log::info("train: ", transfer.tensors, " weight tensors (",
            options::enum_name(options.init_parts), ") from ", options.init_from,
            transfer.head_initialised ? "; its classes differ: the head starts afresh" : "");
  return made;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                        model::UNet& net) {
  if (options.optimizer == Optimizer::adamw)
    return std::make_unique<MultiTensorAdamW>(
        net->parameters(),
        torch::optim::AdamWOptions(options.lr).weight_decay(options.weight_decay));
  return std::make_unique<torch::optim::SGD>(net->parameters(),
                                             torch::optim::SGDOptions(options.lr)
                                                 .momentum(0.9)
                                                 .nesterov(true)
                                                 .weight_decay(options.weight_decay));
}

model::LossOptions loss_options(const TrainOptions& options, const shards::Manifest& manifest) {
  model::LossOptions loss = options.loss;
  loss.class_weights = class_weights_from(options, manifest);
  return loss;
}

}  // namespace satunet::train
