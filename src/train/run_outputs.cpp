#include "train/run_outputs.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "common/log.hpp"
#include "report/run_report.hpp"

namespace satunet::train {

RunOutputs::RunOutputs(const TrainOptions& options, comm::Communicator& world,
                       std::vector<std::string> classes)
    : options_(options), world_(world), classes_(std::move(classes)), directory_(options.out) {}

void RunOutputs::claim() {
  comm::prepare_on_root(world_, [&] {
    const TrainOptions& o = options_;
    const Earlier earlier = !o.resume.empty() ? Earlier::continue_
                            : o.overwrite     ? Earlier::replace
                                              : Earlier::refuse;
    out_.emplace(directory_.path(), report::RunDirectory::product(), earlier,
                 std::vector<std::string>{o.data, o.init_from, o.encoder_weights});
    // Ours alone now: what a killed run was writing is of no use.
    out_->clear();
  });
}

void RunOutputs::start(const RunFacts& facts, bool resumed) const {
  if (writes()) {
    ensure_directory(directory_.checkpoints());
    const TrainOptions& o = options_;
    const nlohmann::json config = {{"command_line", o.command_line},
                                   {"data", o.data},
                                   {"model", nlohmann::json::parse(facts.model)},
                                   {"world_size", world_.size()},
                                   {"backend", facts.backend},
                                   {"device", facts.device},
                                   {"precision", facts.bf16 ? "bf16 autocast" : "fp32"},
                                   {"batch_per_rank", o.batch},
                                   {"accumulate", o.accumulate},
                                   {"optimizer", options::enum_name(o.optimizer)},
                                   {"lr", o.lr},
                                   {"weight_decay", o.weight_decay},
                                   {"schedule", options::enum_name(o.schedule)},
                                   {"warmup", o.warmup},
                                   {"scale_lr", o.scale_lr},
                                   {"loss", options::enum_name(o.loss.kind)},
                                   {"cldice", o.loss.cldice_weight},
                                   {"class_weights", show(o.class_weights)},
                                   {"seed", o.seed},
                                   {"init_from", o.init_from},
                                   {"init_parts", options::enum_name(o.init_parts)},
                                   {"encoder_weights", o.encoder_weights},
                                   {"freeze_encoder_steps", o.freeze_encoder_steps},
                                   {"total_steps", facts.total_steps}};
    write_file(directory_.config(), config.dump(2) + "\n");
    directory_.start_logs(classes_, resumed);
  }
  world_.barrier();
}

void RunOutputs::append(const report::EpochMetrics& row) const {
  if (writes())
    directory_.append(row, classes_);
}

void RunOutputs::append(const report::StepMetrics& row) const {
  if (writes())
    directory_.append(row);
}

void RunOutputs::write_validation_tiles(model::UNet& net, const torch::Device& device,
                                        const data::ShardDataset& val, std::int64_t step) const {
  if (!writes())
    return;
  constexpr std::int64_t kTiles = 6, kCandidates = 48;
  const int tile = val.tile_size();
  const std::size_t plane = static_cast<std::size_t>(tile) * tile;
  std::vector<float> image(plane * val.bands());
  std::vector<std::pair<std::int64_t, std::int64_t>> candidates;  // -foreground, index
  const std::int64_t looked_at = std::min(kCandidates, val.size());
  std::vector<std::uint8_t> labels(plane);
  for (std::int64_t c = 0; c < looked_at; ++c) {
    const std::int64_t index = c * val.size() / looked_at;
    val.read(index, image.data(), labels.data());
    candidates.emplace_back(
        -std::count_if(labels.begin(), labels.end(),
                       [](std::uint8_t l) { return l != 0 && l != kIgnoreLabel; }),
        index);
  }
  std::sort(candidates.begin(), candidates.end());
  const std::int64_t count = std::min(kTiles, looked_at);
  std::vector<report::ValidationTile> tiles(static_cast<std::size_t>(count));
  std::vector<float> images(plane * val.bands() * tiles.size());
  for (std::int64_t t = 0; t < count; ++t) {
    report::ValidationTile& item = tiles[static_cast<std::size_t>(t)];
    item.index = candidates[static_cast<std::size_t>(t)].second;
    item.truth.resize(plane);
    val.read(item.index, images.data() + t * plane * val.bands(), item.truth.data());
    item.image.assign(images.begin() + t * plane * val.bands(),
                      images.begin() + (t + 1) * plane * val.bands());
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor prediction =
      net->forward(torch::from_blob(images.data(), {count, val.bands(), tile, tile}).to(device))
          .argmax(1)
          .to(torch::kCPU, torch::kUInt8)
          .contiguous();
  for (std::int64_t t = 0; t < count; ++t) {
    const std::uint8_t* predicted = prediction.data_ptr<std::uint8_t>() + t * plane;
    tiles[static_cast<std::size_t>(t)].prediction.assign(predicted, predicted + plane);
  }
  try {
    report::write_validation_tiles(directory_.path(), step, val.bands(), tile, classes_, tiles);
  } catch (const Error& error) {
    log::warn("train: validation tiles for the report not written: ", error.what());
  }
}

void RunOutputs::write_report() const {
  if (!writes())
    return;
  try {
    const report::ReportResult written = report::write_run_report({directory_.path(), ""});
    log::info("train: report ", written.html);
  } catch (const Error& error) {
    log::warn("train: report not written: ", error.what());
  }
}

}  // namespace satunet::train
