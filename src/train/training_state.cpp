#include "train/training_state.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "train/multi_tensor_adamw.hpp"
#include "train/optimizer_state.hpp"
#include "train/reducer.hpp"
#include "train/weight_average.hpp"

namespace satunet::train {
namespace {

torch::Tensor generator_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void restore_generator(const torch::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// Each rank continues from its own running statistics where the checkpoint has them for as
// many ranks; else (another rank count, an older checkpoint) from their average.
void restore_own_statistics(torch::serialize::InputArchive& archive, const TrainingParts& parts,
                            const std::string& origin) {
  torch::serialize::InputArchive statistics;
  torch::Tensor of_ranks;
  if (archive.try_read("statistics", statistics) && statistics.try_read("of_ranks", of_ranks) &&
      of_ranks.dim() == 2 && of_ranks.size(0) == parts.world.size()) {
    parts.reducer.load_flat_statistics(of_ranks[parts.world.rank()]);
    return;
  }
  log::info("train: ", origin, " holds no running statistics for ", parts.world.size(),
            " ranks: every rank resumes from their average");
}

// A checkpoint of a run with --ema holds the average as its model: training goes on from the
// live weights beside it, and the average (which this run's starts from) keeps its count.
void restore_weights(torch::serialize::InputArchive& archive, const TrainingParts& parts,
                     const std::string& origin) {
  const std::int64_t updates = restore_live_weights(archive, parts.net);
  if (updates < 0)
    return;
  if (parts.average)
    parts.average->set_updates(updates);
  else
    log::info("train: ", origin, " holds an average of the weights (--ema); without --ema this ",
              "run goes on from the live weights and keeps no average");
}

TrainingState restore_parts(model::LoadedCheckpoint& loaded, const TrainingParts& parts,
                            const std::string& origin) {
  auto& archive = loaded.archive;
  restore_weights(archive, parts, origin);
  torch::serialize::InputArchive optimizer_state, rng;
  archive.read("optimizer", optimizer_state);
  load_optimizer_state(parts.optimizer, parts.net->parameters(), optimizer_state);
  archive.read("rng", rng);
  torch::Tensor state;
  rng.read("cpu", state);
  restore_generator(state);
  restore_own_statistics(archive, parts, origin);
  torch::serialize::InputArchive buckets;
  torch::Tensor order;
  if (archive.try_read("buckets", buckets) && buckets.try_read("arrival_order", order) &&
      order.numel() > 0)
    parts.reducer.restore_arrival_order(std::vector<std::int64_t>(
        order.data_ptr<std::int64_t>(), order.data_ptr<std::int64_t>() + order.numel()));
  return TrainingState::load(loaded.meta);
}

}  // namespace

void TrainingState::save(model::CheckpointMeta& meta) const {
  meta.epoch = position.epoch;
  meta.step = position.step;
  meta.training =
      nlohmann::json{{"epoch_step", position.epoch_step}, {"best_iou", position.best_iou},
                     {"world_size", layout.ranks},        {"batch", layout.batch},
                     {"accumulate", layout.accumulate},   {"seed", seed},
                     {"command_line", command_line}}
          .dump();
}

TrainingState TrainingState::load(const model::CheckpointMeta& meta) {
  const auto training = nlohmann::json::parse(meta.training);
  TrainingState state;
  state.position = {meta.epoch, training.at("epoch_step").get<std::int64_t>(), meta.step,
                    training.at("best_iou").get<double>()};
  state.layout = {training.value("world_size", 0), training.value("batch", 0),
                  training.value("accumulate", 0)};
  state.seed = training.value("seed", std::uint64_t{0});
  state.command_line = training.value("command_line", "");
  return state;
}

void write_training_checkpoint(const std::string& path, const shards::Manifest& dataset,
                               const TrainingState& state, const TrainingParts& parts,
                               const torch::Tensor& statistics_of_ranks) {
  model::UNet& net = parts.net;
  model::CheckpointMeta meta;
  meta.model = net->options();
  meta.classes = dataset.classes;
  for (const auto& band : dataset.bands)
    meta.bands.push_back({band.name, band.mean, band.std, band.dtype});
  meta.tile_size = dataset.tile_size;
  meta.pixel_size = dataset.pixel_size_range();
  meta.created_by = std::string("satunet ") + SATUNET_VERSION;
  state.save(meta);
  torch::serialize::OutputArchive optimizer_state, rng, statistics, buckets, average;
  if (auto* adamw = dynamic_cast<MultiTensorAdamW*>(&parts.optimizer))
    adamw->write_back_steps();
  save_optimizer_state(parts.optimizer, net->parameters(), optimizer_state);
  rng.write("cpu", generator_state());
  statistics.write("of_ranks", statistics_of_ranks);
  buckets.write("arrival_order", torch::tensor(parts.reducer.arrival_order(), torch::kInt64));
  model::CheckpointExtras extras{{{"optimizer", &optimizer_state},
                                  {"rng", &rng},
                                  {"statistics", &statistics},
                                  {"buckets", &buckets}}};
  if (parts.average) {
    parts.average->write(average);
    extras.archives.emplace_back(model::kWeightAverage, &average);
  }
  model::save_checkpoint(path, net, meta, extras);
}

TrainingState restore_training_checkpoint(model::LoadedCheckpoint& loaded,
                                          const TrainingParts& parts, const std::string& origin) {
  TrainingState state;
  try {
    state = restore_parts(loaded, parts, origin);
  } catch (const c10::Error& error) {
    throw Error(origin + ": cannot resume from it: " + error.what_without_backtrace());
  } catch (const nlohmann::json::exception& error) {
    throw Error(origin + ": cannot resume from it: " + error.what());
  }
  const Position& position = state.position;
  if (position.epoch < 0 || position.epoch_step < 0 || position.step < 0)
    throw Error(origin + ": cannot resume from it: a negative step or epoch");
  return state;
}

}  // namespace satunet::train
