#include "train/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "comm/placement.hpp"
#include "common/files.hpp"
#include "common/hash.hpp"
#include "common/labels.hpp"
#include "common/log.hpp"
#include "common/output_lock.hpp"
#include "common/progress.hpp"
#include "common/stop_signals.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "data/dataset.hpp"
#include "data/loader.hpp"
#include "data/sampler.hpp"
#include "model/checkpoint.hpp"
#include "model/losses.hpp"
#include "model/runtime.hpp"
#include "model/torch_compat.hpp"
#include "model/transfer.hpp"
#include "model/unet.hpp"
#include "report/run_report.hpp"
#include "scoring/confusion_matrix.hpp"
#include "train/multi_tensor_adamw.hpp"
#include "train/optimizer_state.hpp"
#include "train/reducer.hpp"
#include "train/schedule.hpp"

namespace satunet::train {
namespace fs = std::filesystem;
namespace {

struct Position {
  std::int64_t epoch = 0;       // the epoch being run (or the next one)
  std::int64_t epoch_step = 0;  // optimizer steps done in it
  std::int64_t step = 0;        // optimizer steps done in all
  double best_iou = -1;
};

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

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    group.options().set_lr(lr);
}

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

class Run {
 public:
  Run(const TrainOptions& options, comm::Communicator& world)
      : options_(options), world_(world), train_set_(options.data, "train") {
    check_labelled_pixels();
    prepare_run_directory();
    model::set_threads(comm::threads_per_rank(options.threads, world));
    model::keep_freed_memory();
    model::choose_algorithms(options.deterministic);
    const comm::Placement placement =
        comm::place(options.backend, options.device, world, model::cuda_devices());
    if (placement.on_gpu)
      device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(placement.gpu));
    bf16_ = model::bf16_autocast(options.precision, placement.on_gpu);
    comm_ = comm::make_communicator(placement, world);
    const auto& manifest = train_set_.manifest();
    if (manifest.tiles_per_split.count("val") && manifest.tiles_per_split.at("val") > 0)
      val_set_.emplace(options.data, "val");
    checkpoint_dir_ = options.out + "/checkpoints";
    build_model();
    net_->to(device_);
    reducer_ = std::make_unique<GradientReducer>(*net_, *comm_, options.bucket_mb);
    reducer_->check_same_buckets();
    optimizer_ = make_optimizer(options, net_);
    adamw_ = dynamic_cast<MultiTensorAdamW*>(optimizer_.get());
    if (resumed_)
      restore_resumed_state();
    else
      reducer_->broadcast_from_root();
    model::LossOptions loss = options.loss;
    loss.class_weights = class_weights_from(options, manifest);
    loss_ = std::make_unique<model::SegmentationLoss>(loss);
  }

  TrainResult execute() {
    install_stop_signals();
    const data::DistributedSampler sampler(train_set_.size(), world_.rank(), world_.size(),
                                           options_.seed);
    data::StreamingLoader loader(train_set_, sampler, options_.batch, options_.prefetch,
                                 options_.augment, options_.seed);
    const std::int64_t steps_per_epoch = loader.steps_per_epoch() / options_.accumulate;
    if (steps_per_epoch < 1)
      throw Error(options_.data + ": " + std::to_string(sampler.per_rank()) +
                  " train tiles per rank make no optimizer step of --batch " +
                  std::to_string(options_.batch) + " x --accumulate " +
                  std::to_string(options_.accumulate));
    total_steps_ = options_.max_steps > 0 ? options_.max_steps : options_.epochs * steps_per_epoch;
    realign_resumed_epoch(steps_per_epoch);
    prepare_outputs();
    log::info("train: ", net_->options().describe(), ", ", net_->parameter_count(), " parameters; ",
              world_.size(), " replicas (", comm_->backend(), "), ", reducer_->buckets(),
              " gradient buckets; ", steps_per_epoch, " steps per epoch, ", total_steps_,
              " in all");
    TrainResult result;
    Stopwatch clock;
    while (position_.step < total_steps_) {
      loader.start_epoch(position_.epoch, position_.epoch_step * options_.accumulate);
      const std::int64_t epochs = (total_steps_ + steps_per_epoch - 1) / steps_per_epoch;
      Progress progress(
          "epoch " + std::to_string(position_.epoch + 1) + "/" + std::to_string(epochs),
          steps_per_epoch, "steps");
      progress.set(position_.epoch_step);
      epoch_losses_ = {};
      const double data_wait_before = loader.wait_seconds();
      const double comm_wait_before = reducer_->communication_wait_seconds();
      clock.restart();
      const std::int64_t first_step = position_.epoch_step;
      while (position_.epoch_step < steps_per_epoch && position_.step < total_steps_) {
        train_step(loader);
        ++position_.step;
        ++position_.epoch_step;
        progress.advance();
        if (static_cast<std::int64_t>(pending_.size()) >= options_.log_every)
          read_back_steps();
        if (stop_agreed()) {
          result.last_checkpoint = save_checkpoint("last.pt");
          result.stopped_by_signal = true;
          result.steps = position_.step;
          return result;
        }
        if (options_.checkpoint_every > 0 && position_.step % options_.checkpoint_every == 0)
          result.last_checkpoint = save_checkpoint("last.pt");
      }
      read_back_steps();
      progress.finish();
      const bool epoch_done = position_.epoch_step == steps_per_epoch;
      const double seconds = clock.seconds();
      const std::int64_t samples = (position_.epoch_step - first_step) * options_.batch *
                                   options_.accumulate * world_.size();
      EpochRecord record{position_.epoch,
                         position_.step,
                         world_.sum(epoch_losses_.sum) / world_.size() /
                             std::max<std::int64_t>(1, epoch_losses_.steps),
                         current_lr_,
                         samples / std::max(seconds, 1e-9),
                         100 * (loader.wait_seconds() - data_wait_before) / std::max(seconds, 1e-9),
                         100 * (reducer_->communication_wait_seconds() - comm_wait_before) /
                             std::max(seconds, 1e-9),
                         {},
                         std::numeric_limits<double>::quiet_NaN()};
      if (epoch_done) {
        ++position_.epoch;
        position_.epoch_step = 0;
        ++result.epochs_done;
      }
      const bool finished = position_.step >= total_steps_;
      if (val_set_ && (finished || (epoch_done && position_.epoch % options_.val_every == 0))) {
        const Validation validation = validate_model();
        const scoring::ConfusionMatrix& matrix = validation.matrix;
        record.val_loss = validation.loss;
        record.iou.clear();
        for (int c = 0; c < matrix.classes(); ++c)
          record.iou.push_back(matrix.iou(c));
        record.mean_foreground_iou = matrix.mean_foreground_iou();
        result.last_val_iou = record.iou;
        if (world_.rank() == 0)
          log::info("validation after step ", position_.step, ":\n",
                    matrix.table(train_set_.manifest().classes));
        if (record.mean_foreground_iou > position_.best_iou) {
          position_.best_iou = record.mean_foreground_iou;
          save_checkpoint("best.pt");
        }
      }
      write_metrics(record);
      if (options_.report && !record.iou.empty() && !finished)
        write_report();
      if (epoch_done || finished)
        result.last_checkpoint = save_checkpoint("last.pt");
    }
    result.steps = position_.step;
    result.best_mean_foreground_iou = position_.best_iou;
    compare_replicas(result);
    write_report();
    return result;
  }

 private:
  struct EpochRecord {
    std::int64_t epoch, step;
    double loss, lr, samples_per_second, data_wait_percent, comm_wait_percent;
    std::vector<double> iou;
    double mean_foreground_iou = std::numeric_limits<double>::quiet_NaN();
    double val_loss = std::numeric_limits<double>::quiet_NaN();
  };

  struct Validation {
    scoring::ConfusionMatrix matrix;
    double loss = 0;  // mean over the valid pixels of all val tiles
  };

  // What a place in an epoch depends on.
  struct Layout {
    int ranks = 0;
    int batch = 0;
    int accumulate = 0;
    bool operator==(const Layout& other) const {
      return ranks == other.ranks && batch == other.batch && accumulate == other.accumulate;
    }
  };

  // A step as the device leaves it, read back by the host once per --log-every steps.
  struct PendingStep {
    std::int64_t step = 0, epoch = 0;
    double lr = 0;
    torch::Tensor loss_and_nonfinite;  // float32 [2] on the device: the loss, 1 if not finite
  };

  struct EpochLosses {
    double sum = 0;  // of the finite steps' losses
    std::int64_t steps = 0;
  };

  // Nothing to learn from a split whose every label is ignored: refused rather than "trained"
  // to a loss of 0.
  void check_labelled_pixels() const {
    const auto& pixels = train_set_.manifest().class_pixels;
    const auto train = pixels.find("train");
    std::int64_t labelled = 0;
    if (train != pixels.end())
      for (std::int64_t count : train->second)
        labelled += count;
    if (labelled == 0)
      throw JobError(options_.data +
                     ": the train split has no labelled pixel (every label is nodata): nothing "
                     "to learn");
  }

  // One job writes a run directory at a time (rank 0 holds its lock for the whole run), and an
  // earlier run in it is continued (--resume), replaced (--overwrite) or refused.
  void prepare_run_directory() {
    comm::prepare_on_root(world_, [&] {
      lock_.emplace(options_.out);
      check_earlier_run();
      // Ours alone now: what a killed run was writing is of no use.
      remove_abandoned_temporaries(options_.out);
      remove_abandoned_temporaries(options_.out + "/checkpoints");
    });
  }

  void check_earlier_run() const {
    const std::string& out = options_.out;
    const bool earlier = file_exists(out + "/checkpoints/last.pt") ||
                         file_exists(out + "/metrics.csv") ||
                         file_exists(out + "/checkpoints/best.pt");
    if (!earlier || !options_.resume.empty())
      return;
    if (!options_.overwrite)
      throw Error(out +
                  ": holds a training run already; --resume continues it, --overwrite replaces it");
    std::error_code ignored;
    for (const char* part :
         {"checkpoints", "report", "metrics.csv", "steps.csv", "config.json", "report.html"})
      std::filesystem::remove_all(out + "/" + part, ignored);
  }

  void build_model() {
    const std::string resume =
        options_.resume == "last" ? checkpoint_dir_ + "/last.pt" : options_.resume;
    if (!resume.empty()) {
      loaded_.emplace(model::load_checkpoint(resume));
      const auto& meta = loaded_->meta;
      if (meta.model.in_channels() != train_set_.bands() ||
          meta.model.classes() != train_set_.classes())
        throw Error(resume + ": a model of " + std::to_string(meta.model.in_channels()) +
                    " bands and " + std::to_string(meta.model.classes()) +
                    " classes cannot train on " + options_.data + " (" +
                    std::to_string(train_set_.bands()) + " bands, " +
                    std::to_string(train_set_.classes()) + " classes)");
      check_kept_model("--resume " + resume, meta.model);
      net_ = loaded_->model;
      resumed_ = true;
      return;
    }
    std::optional<model::LoadedCheckpoint> start;
    model::UNetOptions architecture = options_.model;
    if (!options_.init_from.empty()) {
      start.emplace(model::load_checkpoint(options_.init_from));
      check_kept_model("--init-from " + options_.init_from, start->meta.model);
      architecture = start->meta.model;
    }
    // Seeded after the checkpoint is loaded (building its model draws from the generator
    // too): the same initial weights on every rank, and what --init-from does not take over
    // starts as a run without it would.
    torch::manual_seed(options_.seed);
    net_ = model::UNet(architecture.in_channels(train_set_.bands()).classes(train_set_.classes()));
    if (!options_.encoder_weights.empty()) {
      const model::EncoderWeights loaded = net_->load_encoder_weights(options_.encoder_weights);
      log::info("train: ", loaded.tensors, " encoder tensors from ", options_.encoder_weights,
                loaded.adapted ? "; first layer derived from its RGB weights for " +
                                     std::to_string(train_set_.bands()) + " bands"
                               : "");
    }
    if (!start)
      return;
    const model::WeightTransfer transfer = model::transfer_weights(
        start->model, start->meta.classes, net_, train_set_.manifest().classes, options_.init_parts,
        options_.init_from);
    log::info("train: ", transfer.tensors, " weight tensors (",
              options::enum_name(options_.init_parts), ") from ", options_.init_from,
              transfer.head_initialised ? "; its classes differ: the head starts afresh" : "");
  }

  // A resumed or fine-tuned run keeps its checkpoint's model: options asking for another one are
  // refused rather than silently ignored (options left at their defaults ask for nothing).
  void check_kept_model(const std::string& origin, const model::UNetOptions& saved) const {
    const auto given = nlohmann::json::parse(options_.model.to_json());
    const auto defaults = nlohmann::json::parse(model::UNetOptions().to_json());
    const auto kept = nlohmann::json::parse(saved.to_json());
    std::vector<std::string> conflicts;
    for (const auto& [key, value] : given.items())
      if (key != "in_channels" && key != "classes" && value != defaults.at(key) &&
          value != kept.at(key))
        conflicts.push_back(key + " " + value.dump() + " (the checkpoint has " +
                            kept.at(key).dump() + ")");
    if (!conflicts.empty())
      throw UsageError(origin + " keeps the checkpoint's model; asked for " +
                       text::join(conflicts, ", "));
  }

  // A checkpoint without (whole) training state, say one written by another tool, is an error
  // naming it rather than LibTorch's or the JSON library's message.
  void restore_resumed_state() {
    try {
      restore_training_state();
    } catch (const c10::Error& error) {
      throw Error(options_.resume + ": cannot resume from it: " + error.what_without_backtrace());
    } catch (const nlohmann::json::exception& error) {
      throw Error(options_.resume + ": cannot resume from it: " + error.what());
    }
    if (position_.epoch < 0 || position_.epoch_step < 0 || position_.step < 0)
      throw Error(options_.resume + ": cannot resume from it: a negative step or epoch");
  }

  void restore_training_state() {
    auto& archive = loaded_->archive;
    torch::serialize::InputArchive optimizer_state, rng;
    archive.read("optimizer", optimizer_state);
    load_optimizer_state(*optimizer_, net_->parameters(), optimizer_state);
    archive.read("rng", rng);
    torch::Tensor state;
    rng.read("cpu", state);
    restore_generator(state);
    restore_own_statistics(archive);
    torch::serialize::InputArchive buckets;
    torch::Tensor order;
    if (archive.try_read("buckets", buckets) && buckets.try_read("arrival_order", order) &&
        order.numel() > 0)
      reducer_->restore_arrival_order(std::vector<std::int64_t>(
          order.data_ptr<std::int64_t>(), order.data_ptr<std::int64_t>() + order.numel()));
    const auto training = nlohmann::json::parse(loaded_->meta.training);
    position_.epoch = training.at("epoch");
    position_.epoch_step = training.at("epoch_step");
    position_.step = training.at("step");
    position_.best_iou = training.at("best_iou");
    saved_layout_ = {training.value("world_size", 0), training.value("batch", 0),
                     training.value("accumulate", 0)};
    log::info("train: resuming ", options_.resume, " at step ", position_.step, " (epoch ",
              position_.epoch + 1, ", step ", position_.epoch_step, " in it)");
  }

  // A checkpoint's place in its epoch means that place only with the same ranks, batch and
  // accumulation; with others (or past the end of the new, shorter epoch) training goes on
  // from the start of the next epoch.
  void realign_resumed_epoch(std::int64_t steps_per_epoch) {
    if (!resumed_ || position_.epoch_step == 0)
      return;
    const Layout now{world_.size(), options_.batch, options_.accumulate};
    if (saved_layout_ == now && position_.epoch_step < steps_per_epoch)
      return;
    log::info("train: the checkpoint stopped ", position_.epoch_step, " steps into epoch ",
              position_.epoch + 1, " with ", saved_layout_.ranks, " ranks, batch ",
              saved_layout_.batch, ", accumulate ", saved_layout_.accumulate, "; this run (",
              now.ranks, ", ", now.batch, ", ", now.accumulate,
              ") goes on from the start of epoch ", position_.epoch + 2);
    ++position_.epoch;
    position_.epoch_step = 0;
  }

  // Each rank continues from its own running statistics where the checkpoint has them for as
  // many ranks; else (another rank count, an older checkpoint) from their average.
  void restore_own_statistics(torch::serialize::InputArchive& archive) {
    torch::serialize::InputArchive statistics;
    torch::Tensor of_ranks;
    if (archive.try_read("statistics", statistics) && statistics.try_read("of_ranks", of_ranks) &&
        of_ranks.dim() == 2 && of_ranks.size(0) == world_.size()) {
      reducer_->load_flat_statistics(of_ranks[world_.rank()]);
      return;
    }
    log::info("train: ", options_.resume, " holds no running statistics for ", world_.size(),
              " ranks: every rank resumes from their average");
  }

  void prepare_outputs() {
    if (world_.rank() == 0) {
      ensure_directory(checkpoint_dir_);
      nlohmann::json config = {{"command_line", options_.command_line},
                               {"data", options_.data},
                               {"model", nlohmann::json::parse(net_->options().to_json())},
                               {"world_size", world_.size()},
                               {"backend", comm_->backend()},
                               {"device", device_.str()},
                               {"precision", bf16_ ? "bf16 autocast" : "fp32"},
                               {"batch_per_rank", options_.batch},
                               {"accumulate", options_.accumulate},
                               {"optimizer", options::enum_name(options_.optimizer)},
                               {"lr", options_.lr},
                               {"weight_decay", options_.weight_decay},
                               {"schedule", options::enum_name(options_.schedule)},
                               {"warmup", options_.warmup},
                               {"scale_lr", options_.scale_lr},
                               {"loss", options::enum_name(options_.loss.kind)},
                               {"class_weights", show(options_.class_weights)},
                               {"seed", options_.seed},
                               {"init_from", options_.init_from},
                               {"init_parts", options::enum_name(options_.init_parts)},
                               {"encoder_weights", options_.encoder_weights},
                               {"freeze_encoder_steps", options_.freeze_encoder_steps},
                               {"total_steps", total_steps_}};
      write_file(options_.out + "/config.json", config.dump(2) + "\n");
      const std::string metrics = options_.out + "/metrics.csv";
      if (!resumed_ || !file_exists(metrics)) {
        std::string header = "epoch,step,loss,lr,samples_per_s,data_wait_pct,comm_wait_pct";
        for (const std::string& name : train_set_.manifest().classes)
          header += ",val_iou_" + name;
        write_file(metrics, header + ",val_mean_foreground_iou,val_loss,skipped_steps\n");
      }
      const std::string steps = options_.out + "/steps.csv";
      if (!resumed_ || !file_exists(steps))
        write_file(steps, "step,epoch,loss,lr\n");
    }
    world_.barrier();
  }

  // One optimizer step: `accumulate` micro-batches, gradients synchronised on the last. Nothing
  // in it waits for the device: its loss and whether its gradients are finite stay there until
  // read_back_steps.
  void train_step(data::StreamingLoader& loader) {
    current_lr_ =
        learning_rate(options_.schedule, options_.lr * (options_.scale_lr ? world_.size() : 1),
                      position_.step, total_steps_, options_.warmup);
    set_learning_rate(*optimizer_, current_lr_);
    optimizer_->zero_grad();
    net_->train();
    torch::Tensor loss_total;
    for (int micro = 0; micro < options_.accumulate; ++micro) {
      data::Batch batch;
      if (!loader.next(batch))
        throw Error("the loader ran out of batches mid-epoch");
      const int tile = train_set_.tile_size();
      const torch::Tensor images = to_device(
          batch.images.data(), {batch.size, train_set_.bands(), tile, tile}, torch::kFloat32);
      const torch::Tensor labels =
          to_device(batch.labels.data(), {batch.size, tile, tile}, torch::kUInt8).to(torch::kLong);
      const torch::Tensor loss = forward_loss(images, labels) / options_.accumulate;
      reducer_->prepare(micro == options_.accumulate - 1);
      loss.backward();
      reducer_->finish();
      loss_total = micro == 0 ? loss.detach() : loss_total + loss.detach();
    }
    const torch::Tensor nonfinite = nonfinite_gradients();
    pending_.push_back({position_.step + 1, position_.epoch, current_lr_,
                        torch::stack({loss_total.to(torch::kFloat32), nonfinite})});
    if (position_.step < options_.freeze_encoder_steps)
      leave_encoder_as_it_is();
    if (adamw_ && adamw_->skips_on_device()) {
      adamw_->step_unless(nonfinite);
      return;
    }
    // Elsewhere the host decides whether to step; on a CPU there is no queue to wait for.
    if (nonfinite.item<float>() != 0) {
      read_back_steps();  // stops the run, or counts the step as skipped
      return;
    }
    optimizer_->step();
  }

  // A batch's host memory as a tensor on the training device. To a GPU through pinned memory,
  // without waiting: a copy from pageable memory would first wait for every kernel queued (the
  // previous step's), leaving the GPU idle while the host queues the next. LibTorch's caching
  // host allocator keeps the pinned block until its copy is done.
  torch::Tensor to_device(void* data, at::IntArrayRef sizes, torch::ScalarType type) const {
    const torch::Tensor host = torch::from_blob(data, sizes, type);
    if (!device_.is_cuda())
      return host;
    torch::Tensor pinned =
        torch::empty(sizes, torch::TensorOptions().dtype(type).pinned_memory(true));
    pinned.copy_(host);
    return pinned.to(device_, /*non_blocking=*/true);
  }

  // Without a gradient the optimizer passes a parameter by: no update, no weight decay, no
  // moments (they start when the encoder does). Every rank drops the same ones.
  void leave_encoder_as_it_is() {
    for (auto& item : net_->named_parameters())
      if (model::is_encoder_tensor(item.key()))
        item.value().mutable_grad() = torch::Tensor();
    if (position_.step + 1 == options_.freeze_encoder_steps)
      log::info("train: the encoder trains from step ", position_.step + 2);
  }

  // 1 (a float32 scalar on the device) when any gradient is not finite. The averaged gradients
  // are the same on every rank, so every rank decides alike without another collective; a
  // non-finite loss on any rank makes them non-finite everywhere.
  torch::Tensor nonfinite_gradients() {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> gradients;
    for (const torch::Tensor& parameter : net_->parameters())
      if (parameter.grad().defined())
        gradients.push_back(parameter.grad());
    if (device_.is_cuda()) {
      // One multi-tensor kernel (GradScaler's, scaling by 1).
      torch::Tensor found =
          torch::zeros({}, torch::TensorOptions().device(device_).dtype(torch::kFloat32));
      if (!gradients.empty())
        at::_amp_foreach_non_finite_check_and_unscale_(gradients, found, torch::ones_like(found));
      return found;
    }
    torch::Tensor total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64));
    for (const torch::Tensor& gradient : gradients)
      total += gradient.sum(torch::kFloat64);
    return torch::isfinite(total).logical_not().to(torch::kFloat32);
  }

  // The pending steps' losses and verdicts, read from the device in one copy (the host's one
  // wait for it in a log interval): counted into the epoch and written to steps.csv (the mean
  // over the ranks); a step whose gradients were not finite ends the run (--on-nonfinite stop:
  // the checkpoints keep the last finite step) or is counted as skipped. Collective: every rank
  // holds the same steps.
  void read_back_steps() {
    if (pending_.empty())
      return;
    std::vector<torch::Tensor> parts;
    for (const PendingStep& step : pending_)
      parts.push_back(step.loss_and_nonfinite);
    const torch::Tensor values = torch::stack(parts).to(torch::kCPU, torch::kFloat64).contiguous();
    const double* value = values.data_ptr<double>();
    std::vector<double> losses(pending_.size());
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const bool nonfinite = value[2 * i + 1] != 0;
      losses[i] = nonfinite ? std::numeric_limits<double>::quiet_NaN() : value[2 * i];
      if (nonfinite)
        drop_nonfinite_step(pending_[i], value[2 * i]);
      if (!std::isfinite(losses[i]))
        continue;
      epoch_losses_.sum += losses[i];
      ++epoch_losses_.steps;
    }
    world_.allreduce_sum(losses);
    for (std::size_t i = 0; i < pending_.size(); ++i)
      write_step(pending_[i], losses[i] / world_.size());
    pending_.clear();
  }

  void drop_nonfinite_step(const PendingStep& step, double loss) {
    if (options_.on_nonfinite == NonFinite::stop)
      throw JobError("training diverged at step " + std::to_string(step.step) + " (epoch " +
                     std::to_string(step.epoch + 1) +
                     "): the loss or the gradients are not finite (loss " + std::to_string(loss) +
                     "); the checkpoints keep the last finite step; lower --lr, or "
                     "--on-nonfinite skip");
    ++skipped_steps_;
    log::warn("train: step ", step.step,
              " skipped: the loss or the gradients are not "
              "finite");
  }

  // A digest of every weight and buffer, compared across ranks: replicas must agree bitwise.
  void compare_replicas(TrainResult& result) {
    std::uint64_t digest = 0;
    with_averaged_statistics([&] { digest = model::state_digest(*net_); });
    std::vector<std::uint64_t> all(static_cast<std::size_t>(world_.size()));
    world_.allgather(&digest, sizeof digest, all.data());
    result.weights_digest = digest;
    result.replicas_identical =
        std::all_of(all.begin(), all.end(), [&](std::uint64_t d) { return d == all[0]; });
    if (!result.replicas_identical)
      log::warn("replicas diverged: their weights differ from rank 0's");
  }

  // On CUDA the forward pass runs under bf16 autocast unless --precision fp32 (the loss in
  // float32 either way); on CPU in float32.
  torch::Tensor forward_loss(const torch::Tensor& images, const torch::Tensor& labels) {
    const model::compat::CudaBf16Autocast autocast(bf16_);
    return (*loss_)(net_->forward(images).to(torch::kFloat32), labels);
  }

  // One small all-reduce of host memory per step: every rank learns whether any was asked to
  // stop, so that all stop at the same step.
  bool stop_agreed() { return world_.sum(stop_requested() ? 1.0 : 0.0) > 0; }

  // Validation and its tiles for the report, on the averaged statistics.
  Validation validate_model() {
    Validation validation{scoring::ConfusionMatrix(val_set_->classes())};
    with_averaged_statistics([&] {
      validation = validate_averaged();
      write_validation_tiles();
    });
    return validation;
  }

  // Runs `body` (on every rank) with the running statistics averaged over the ranks, as
  // validation, replica digests and a checkpoint's inference weights see them, then puts back
  // each rank's own: whether a run validates or saves on the way must not change what it
  // trains with, or a resumed run could not match an uninterrupted one.
  template <typename Body>
  void with_averaged_statistics(Body body) {
    struct Restore {
      GradientReducer& reducer;
      torch::Tensor own;
      ~Restore() { reducer.load_flat_statistics(own); }
    } restore{*reducer_, reducer_->flat_statistics()};
    reducer_->average_buffers();
    body();
  }

  Validation validate_averaged() {
    net_->eval();
    torch::NoGradGuard no_grad;
    const data::ShardDataset& val = *val_set_;
    const int tile = val.tile_size();
    const std::size_t plane = static_cast<std::size_t>(tile) * tile;
    Validation validation{scoring::ConfusionMatrix(val.classes())};
    std::vector<double> loss_and_pixels{0, 0};
    std::vector<float> images;
    std::vector<std::uint8_t> labels;
    // Every val tile exactly once: rank r takes r, r + world, ...
    for (std::int64_t first = world_.rank(); first < val.size();
         first += static_cast<std::int64_t>(options_.batch) * world_.size()) {
      std::vector<std::int64_t> indices;
      for (std::int64_t i = first;
           i < val.size() && static_cast<int>(indices.size()) < options_.batch; i += world_.size())
        indices.push_back(i);
      const auto count = static_cast<std::int64_t>(indices.size());
      images.resize(plane * val.bands() * indices.size());
      labels.resize(plane * indices.size());
      for (std::size_t i = 0; i < indices.size(); ++i)
        val.read(indices[i], images.data() + i * plane * val.bands(), labels.data() + i * plane);
      const torch::Tensor logits = net_->forward(
          torch::from_blob(images.data(), {count, val.bands(), tile, tile}).to(device_));
      const torch::Tensor target =
          torch::from_blob(labels.data(), {count, tile, tile}, torch::kUInt8)
              .to(device_, torch::kLong);
      const auto valid = static_cast<double>(std::count_if(
          labels.begin(), labels.end(), [](std::uint8_t l) { return l != kIgnoreLabel; }));
      loss_and_pixels[0] += (*loss_)(logits.to(torch::kFloat32), target).item<double>() * valid;
      loss_and_pixels[1] += valid;
      const torch::Tensor prediction = logits.argmax(1).to(torch::kCPU, torch::kUInt8).contiguous();
      validation.matrix.add(labels.data(), prediction.data_ptr<std::uint8_t>(), labels.size());
    }
    world_.allreduce_sum(validation.matrix.counts());
    world_.allreduce_sum(loss_and_pixels);
    validation.loss = loss_and_pixels[0] / std::max(1.0, loss_and_pixels[1]);
    return validation;
  }

  // The val tiles with the most foreground among a few evenly spread ones, with the model's
  // prediction, for the report (rank 0; the model in eval mode).
  void write_validation_tiles() {
    if (world_.rank() != 0)
      return;
    constexpr std::int64_t kTiles = 6, kCandidates = 48;
    const data::ShardDataset& val = *val_set_;
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
        net_->forward(torch::from_blob(images.data(), {count, val.bands(), tile, tile}).to(device_))
            .argmax(1)
            .to(torch::kCPU, torch::kUInt8)
            .contiguous();
    for (std::int64_t t = 0; t < count; ++t) {
      const std::uint8_t* predicted = prediction.data_ptr<std::uint8_t>() + t * plane;
      tiles[static_cast<std::size_t>(t)].prediction.assign(predicted, predicted + plane);
    }
    try {
      report::write_validation_tiles(options_.out, position_.step, val.bands(), tile,
                                     train_set_.manifest().classes, tiles);
    } catch (const Error& error) {
      log::warn("train: validation tiles for the report not written: ", error.what());
    }
  }

  // The run's report page (rank 0). A report that cannot be written does not stop training.
  void write_report() {
    if (world_.rank() != 0)
      return;
    try {
      const report::ReportResult written = report::write_run_report({options_.out, ""});
      log::info("train: report ", written.html);
    } catch (const Error& error) {
      log::warn("train: report not written: ", error.what());
    }
  }

  void write_step(const PendingStep& step, double loss) {
    if (world_.rank() != 0)
      return;
    std::ofstream(options_.out + "/steps.csv", std::ios::app)
        << step.step << "," << step.epoch << "," << loss << "," << step.lr << "\n";
  }

  // The model's buffers hold the statistics averaged over the ranks (for inference); each
  // rank's own go beside them, for a resume on as many ranks to continue exactly.
  std::string save_checkpoint(const std::string& name) {
    read_back_steps();  // a checkpoint holds only steps the host has judged finite
    const std::string path = checkpoint_dir_ + "/" + name;
    const torch::Tensor own = reducer_->flat_statistics();
    torch::Tensor every_rank = torch::empty({world_.size(), own.numel()});
    world_.allgather(own.data_ptr(), static_cast<std::size_t>(own.numel()) * sizeof(float),
                     every_rank.data_ptr());
    with_averaged_statistics([&] {
      check_finite_state(path);
      if (world_.rank() == 0)
        write_checkpoint(path, every_rank);
    });
    world_.barrier();
    return path;
  }

  // Never a checkpoint of non-finite weights (the same on every rank, so all stop alike).
  void check_finite_state(const std::string& path) const {
    for (const auto& item : net_->named_parameters())
      if (!torch::isfinite(item.value()).all().item<bool>())
        throw JobError("training diverged by step " + std::to_string(position_.step) + ": " +
                       item.key() + " is not finite; " + path +
                       " keeps the last finite step; lower --lr");
  }

  void write_checkpoint(const std::string& path, const torch::Tensor& statistics_of_ranks) {
    model::CheckpointMeta meta;
    meta.model = net_->options();
    meta.classes = train_set_.manifest().classes;
    for (const auto& band : train_set_.manifest().bands)
      meta.bands.push_back({band.name, band.mean, band.std});
    meta.epoch = position_.epoch;
    meta.step = position_.step;
    meta.tile_size = train_set_.tile_size();
    meta.created_by = std::string("satunet ") + SATUNET_VERSION;
    meta.training = nlohmann::json{{"epoch", position_.epoch},
                                   {"epoch_step", position_.epoch_step},
                                   {"step", position_.step},
                                   {"best_iou", position_.best_iou},
                                   {"world_size", world_.size()},
                                   {"batch", options_.batch},
                                   {"accumulate", options_.accumulate},
                                   {"seed", options_.seed},
                                   {"command_line", options_.command_line}}
                        .dump();
    torch::serialize::OutputArchive optimizer_state, rng, statistics, buckets;
    if (adamw_)
      adamw_->write_back_steps();
    save_optimizer_state(*optimizer_, net_->parameters(), optimizer_state);
    rng.write("cpu", generator_state());
    statistics.write("of_ranks", statistics_of_ranks);
    buckets.write("arrival_order", torch::tensor(reducer_->arrival_order(), torch::kInt64));
    model::save_checkpoint(path, net_, meta,
                           {{{"optimizer", &optimizer_state},
                             {"rng", &rng},
                             {"statistics", &statistics},
                             {"buckets", &buckets}}});
  }

  void write_metrics(const EpochRecord& record) {
    if (world_.rank() != 0)
      return;
    std::ostringstream row;
    row.precision(6);
    row << record.epoch + 1 << "," << record.step << "," << record.loss << "," << record.lr << ","
        << record.samples_per_second << "," << record.data_wait_percent << ","
        << record.comm_wait_percent;
    for (std::size_t c = 0; c < train_set_.manifest().classes.size(); ++c)
      row << "," << (c < record.iou.size() ? std::to_string(record.iou[c]) : "");
    row << ","
        << (std::isnan(record.mean_foreground_iou) ? ""
                                                   : std::to_string(record.mean_foreground_iou))
        << "," << (std::isnan(record.val_loss) ? "" : std::to_string(record.val_loss)) << ","
        << skipped_steps_ << "\n";
    // Appending a line is all-or-nothing enough for a log; the file itself was made atomically.
    std::ofstream(options_.out + "/metrics.csv", std::ios::app) << row.str();
  }

  const TrainOptions& options_;
  comm::Communicator& world_;
  data::ShardDataset train_set_;
  std::optional<data::ShardDataset> val_set_;
  torch::Device device_{torch::kCPU};
  bool bf16_ = false;
  std::unique_ptr<comm::Communicator> comm_;
  std::string checkpoint_dir_;
  std::optional<model::LoadedCheckpoint> loaded_;
  bool resumed_ = false;
  model::UNet net_{nullptr};
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  MultiTensorAdamW* adamw_ = nullptr;  // optimizer_, when it is AdamW
  std::vector<PendingStep> pending_;   // steps the host has not read back yet
  EpochLosses epoch_losses_;
  std::unique_ptr<model::SegmentationLoss> loss_;
  Position position_;
  Layout saved_layout_;
  std::optional<OutputLock> lock_;  // rank 0's, for the whole run
  std::int64_t skipped_steps_ = 0;  // not finite, with --on-nonfinite skip
  std::int64_t total_steps_ = 0;
  double current_lr_ = 0;
};

}  // namespace

TrainResult train(const TrainOptions& options, comm::Communicator& world) {
  validate(options);
  Run run(options, world);
  return run.execute();
}

}  // namespace satunet::train
