#include "train/trainer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "comm/placement.hpp"
#include "common/labels.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "common/stop_signals.hpp"
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
#include "report/run_directory.hpp"
#include "scoring/confusion_matrix.hpp"
#include "train/multi_tensor_adamw.hpp"
#include "train/reducer.hpp"
#include "train/run_outputs.hpp"
#include "train/run_setup.hpp"
#include "train/schedule.hpp"
#include "train/training_state.hpp"
#include "train/weight_average.hpp"

namespace satunet::train {
namespace {

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    group.options().set_lr(lr);
}

class Run {
 public:
  Run(const TrainOptions& options, comm::Communicator& world)
      : options_(options),
        world_(world),
        train_set_(options.data, "train"),
        outputs_(options, world, train_set_.manifest().classes) {
    check_labelled_pixels(options, train_set_.manifest());
    outputs_.claim();
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
    StartingModel start = starting_model(options, train_set_);
    net_ = start.net;
    loaded_ = std::move(start.resumed);
    net_->to(device_);
    reducer_ = std::make_unique<GradientReducer>(*net_, *comm_, options.bucket_mb);
    reducer_->check_same_buckets();
    optimizer_ = make_optimizer(options, net_);
    adamw_ = dynamic_cast<MultiTensorAdamW*>(optimizer_.get());
    // The average starts at the first weights every rank has: a resumed checkpoint's model (its
    // average, where it kept one), or rank 0's.
    if (loaded_) {
      start_average();
      restore_resumed_state();
    } else {
      reducer_->broadcast_from_root();
      start_average();
    }
    loss_ = std::make_unique<model::SegmentationLoss>(loss_options(options, manifest));
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
    outputs_.start(
        {net_->options().to_json(), comm_->backend(), device_.str(), bf16_, total_steps_},
        loaded_.has_value());
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
          result.last_checkpoint = save_checkpoint(outputs_.directory().last_checkpoint());
          result.stopped_by_signal = true;
          result.steps = position_.step;
          return result;
        }
        if (options_.checkpoint_every > 0 && position_.step % options_.checkpoint_every == 0)
          result.last_checkpoint = save_checkpoint(outputs_.directory().last_checkpoint());
      }
      read_back_steps();
      progress.finish();
      const bool epoch_done = position_.epoch_step == steps_per_epoch;
      const double seconds = clock.seconds();
      const std::int64_t samples = (position_.epoch_step - first_step) * options_.batch *
                                   options_.accumulate * world_.size();
      report::EpochMetrics record;
      record.epoch = position_.epoch + 1;
      record.step = position_.step;
      record.loss = world_.sum(epoch_losses_.sum) / world_.size() /
                    std::max<std::int64_t>(1, epoch_losses_.steps);
      record.lr = current_lr_;
      record.samples_per_second = samples / std::max(seconds, 1e-9);
      record.data_wait_percent =
          100 * (loader.wait_seconds() - data_wait_before) / std::max(seconds, 1e-9);
      record.comm_wait_percent = 100 * (reducer_->communication_wait_seconds() - comm_wait_before) /
                                 std::max(seconds, 1e-9);
      record.skipped_steps = skipped_steps_;
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
          save_checkpoint(outputs_.directory().best_checkpoint());
        }
      }
      outputs_.append(record);
      if (options_.report && !record.iou.empty() && !finished)
        outputs_.write_report();
      if (epoch_done || finished)
        result.last_checkpoint = save_checkpoint(outputs_.directory().last_checkpoint());
    }
    result.steps = position_.step;
    result.best_mean_foreground_iou = position_.best_iou;
    compare_replicas(result);
    outputs_.write_report();
    return result;
  }

 private:
  struct Validation {
    scoring::ConfusionMatrix matrix;
    double loss = 0;  // mean over the valid pixels of all val tiles
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

  // The training state of --resume's checkpoint: the optimizer's, the generator's, the
  // running statistics and the buckets' order restored, and where the run stands.
  void restore_resumed_state() {
    const TrainingState state =
        restore_training_checkpoint(*loaded_, training_parts(), options_.resume);
    position_ = state.position;
    saved_layout_ = state.layout;
    log::info("train: resuming ", options_.resume, " at step ", position_.step, " (epoch ",
              position_.epoch + 1, ", step ", position_.epoch_step, " in it)");
  }

  TrainingParts training_parts() {
    return {net_, *optimizer_, *reducer_, world_, average_ ? &*average_ : nullptr};
  }

  void start_average() {
    if (options_.ema > 0)
      average_.emplace(net_, options_.ema);
  }

  // Runs `body` with the weights validation and checkpoints see: --ema's average, or the live
  // ones.
  template <typename Body>
  void with_scored_weights(Body body) {
    if (average_)
      average_->with_average_in_model(body);
    else
      body();
  }

  // A checkpoint's place in its epoch means that place only with the same ranks, batch and
  // accumulation; with others (or past the end of the new, shorter epoch) training goes on
  // from the start of the next epoch.
  void realign_resumed_epoch(std::int64_t steps_per_epoch) {
    if (!loaded_ || position_.epoch_step == 0)
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
    } else if (nonfinite.item<float>() != 0) {
      // Elsewhere the host decides whether to step; on a CPU there is no queue to wait for.
      read_back_steps();  // stops the run, or counts the step as skipped
      return;
    } else {
      optimizer_->step();
    }
    if (average_)
      average_->update();
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
      outputs_.append(report::StepMetrics{pending_[i].step, pending_[i].epoch,
                                          losses[i] / world_.size(), pending_[i].lr});
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
      with_scored_weights([&] {
        validation = validate_averaged();
        outputs_.write_validation_tiles(net_, device_, *val_set_, position_.step);
      });
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

  // The model's buffers hold the statistics averaged over the ranks (for inference); each
  // rank's own go beside them, for a resume on as many ranks to continue exactly.
  std::string save_checkpoint(const std::string& path) {
    read_back_steps();  // a checkpoint holds only steps the host has judged finite
    const torch::Tensor own = reducer_->flat_statistics();
    torch::Tensor every_rank = torch::empty({world_.size(), own.numel()});
    world_.allgather(own.data_ptr(), static_cast<std::size_t>(own.numel()) * sizeof(float),
                     every_rank.data_ptr());
    with_averaged_statistics([&] {
      check_finite_state(path);
      if (world_.rank() == 0)
        with_scored_weights([&] {
          write_training_checkpoint(path, train_set_.manifest(), training_state(), training_parts(),
                                    every_rank);
        });
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

  TrainingState training_state() const {
    TrainingState state;
    state.position = position_;
    state.layout = {world_.size(), options_.batch, options_.accumulate};
    state.seed = options_.seed;
    state.command_line = options_.command_line;
    return state;
  }

  const TrainOptions& options_;
  comm::Communicator& world_;
  data::ShardDataset train_set_;
  RunOutputs outputs_;
  std::optional<data::ShardDataset> val_set_;
  torch::Device device_{torch::kCPU};
  bool bf16_ = false;
  std::unique_ptr<comm::Communicator> comm_;
  std::optional<model::LoadedCheckpoint> loaded_;  // --resume's checkpoint
  model::UNet net_{nullptr};
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  MultiTensorAdamW* adamw_ = nullptr;     // optimizer_, when it is AdamW
  std::optional<WeightAverage> average_;  // --ema
  std::vector<PendingStep> pending_;      // steps the host has not read back yet
  EpochLosses epoch_losses_;
  std::unique_ptr<model::SegmentationLoss> loss_;
  Position position_;
  Layout saved_layout_;             // of the run that wrote loaded_
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
