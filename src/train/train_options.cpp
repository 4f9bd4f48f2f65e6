#include "train/train_options.hpp"

#include <algorithm>

namespace satunet::train {

void parse(const std::string& text, const std::string& option, ClassWeights& value) {
  value = {};
  if (text == "none")
    return;
  if (text == "auto") {
    value.kind = ClassWeights::Kind::inverse_frequency;
    return;
  }
  value.kind = ClassWeights::Kind::given;
  options::parse(text, option, value.values);
  for (double weight : value.values)
    if (weight < 0)
      throw UsageError(option + ": weights must not be negative (got '" + text + "')");
  // Every pixel would weigh nothing: a loss of 0 that trains nothing.
  if (std::none_of(value.values.begin(), value.values.end(), [](double w) { return w > 0; }))
    throw UsageError(option + ": at least one weight must be positive (got '" + text + "')");
}

std::string show(const ClassWeights& value) {
  switch (value.kind) {
    case ClassWeights::Kind::none:
      return "none";
    case ClassWeights::Kind::inverse_frequency:
      return "auto";
    case ClassWeights::Kind::given:
      return options::show(value.values);
  }
  return "?";
}

const options::Table<TrainOptions>& train_option_table() {
  using O = TrainOptions;
  static const auto table =
      options::Table<O>()
          .value("data", &O::data, "dataset directory from satunet tile", "DATASET")
          .required()
          .value("out", &O::out,
                 "run directory: checkpoints/{last,best}.pt, metrics.csv, config.json", "RUN")
          .required()
          .value_at(
              "base", [](O & o) -> auto& { return o.model.base(); },
              "channels of the first U-Net level (doubled per level)")
          .value_at(
              "depth", [](O & o) -> auto& { return o.model.depth(); }, "U-Net levels")
          .value_at(
              "norm", [](O & o) -> auto& { return o.model.norm(); }, "batch, group or none")
          .value_at(
              "upsampling", [](O & o) -> auto& { return o.model.upsampling(); },
              "transpose or bilinear")
          .value_at(
              "block", [](O & o) -> auto& { return o.model.block(); }, "plain or residual")
          .flag_with(
              "attention", [](O& o) { o.model.attention(true); },
              "attention gates on the skip connections")
          .value_at(
              "encoder", [](O & o) -> auto& { return o.model.encoder(); },
              "plain (the U-Net's own levels), resnet18, resnet34 or resnet50 (torchvision's "
              "layout under segmentation_models.pytorch's decoder, --base 16 as its widths)")
          .value("encoder-weights", &O::encoder_weights,
                 "pretrained weights for the ResNet encoder: a torchvision state dict "
                 "(README: getting and converting ImageNet's or TorchGeo's SSL4EO-S12); a file "
                 "that names its bands gives each of the dataset's bands its own, RGB ones are "
                 "derived for other band counts",
                 "FILE")
          .value("freeze-encoder-steps", &O::freeze_encoder_steps,
                 "optimizer steps that leave the encoder's weights as they start (its batch-norm "
                 "statistics still adapt)")
          .at_least(0)
          .value_at(
              "dropout", [](O & o) -> auto& { return o.model.dropout(); },
              "dropout at the bottleneck")
          .value("epochs", &O::epochs, "epochs to train")
          .at_least(0)
          .value("max-steps", &O::max_steps, "optimizer steps to train (0: --epochs decides)")
          .at_least(0)
          .meaning(0, "--epochs decides")
          .value("batch", &O::batch, "tiles per rank per micro-batch")
          .at_least(1)
          .value("optimizer", &O::optimizer, "adamw or sgd (Nesterov momentum 0.9)")
          .value("lr", &O::lr, "learning rate")
          .above(0)
          .value("weight-decay", &O::weight_decay, "weight decay")
          .at_least(0)
          .value("ema", &O::ema,
                 "keep an exponential moving average of the weights with this decay (e.g. "
                 "0.999): validation scores it, checkpoints hold it as their model")
          .at_least(0)
          .below(1)
          .meaning(0, "no average")
          .value("schedule", &O::schedule, "cosine, poly or constant")
          .value("warmup", &O::warmup, "linear warm-up steps")
          .at_least(0)
          .flag("scale-lr", &O::scale_lr, "multiply the learning rate by the number of ranks")
          .value("accumulate", &O::accumulate,
                 "micro-batches per optimizer step (gradients synchronised on the last)")
          .at_least(1)
          .value_at(
              "loss", [](O & o) -> auto& { return o.loss.kind; }, "ce, dice, ce+dice or focal")
          .value("class-weights", &O::class_weights,
                 "none, auto (inverse pixel frequency of the train split) or a list")
          .value_at(
              "cldice", [](O & o) -> auto& { return o.loss.cldice_weight; },
              "add clDice of every class but the first with this weight: thin, connected "
              "predictions of thin structures (roads); 0: none")
          .at_least(0)
          .value_at(
              "cldice-iterations", [](O & o) -> auto& { return o.loss.cldice_iterations; },
              "clDice's soft-skeleton depth: about the widest half-width, in pixels")
          .in_range(1, 100)
          .flag_with(
              "augment",
              [](O& o) {
                const auto standard = data::AugmentOptions::standard();
                o.augment.flips = standard.flips;
                o.augment.rotations = standard.rotations;
                o.augment.brightness = standard.brightness;
                o.augment.contrast = standard.contrast;
              },
              "flips, quarter turns, brightness and contrast")
          .value_at(
              "augment-colour", [](O & o) -> auto& { return o.augment.colour; },
              "colour jitter C: per band x U(1-C, 1+C) + U(-C, C), saturation x U(1-C, 1+C)")
          .at_least(0)
          .below(1)
          .value_at(
              "augment-scale", [](O & o) -> auto& { return o.augment.scale; },
              "zoom S: by (1+S)^U(-1,1) about a random point, the outside ignored")
          .in_range(0, 3, "zooms up to 4x in and out")
          .value("seed", &O::seed, "seed of weights, order and augmentation")
          .include(comm::threads_option_table(), [](O& o) -> int& { return o.threads; })
          .value("backend", &O::backend,
                 "auto, mpi or nccl (auto: nccl when LibTorch has CUDA and NCCL is built)")
          .value("device", &O::device,
                 "auto (the backend's: GPUs for nccl, CPUs for mpi), cpu or cuda (with --backend "
                 "mpi: ranks may share a GPU, gradients reduced through host memory)")
          .value("precision", &O::precision,
                 "auto (bf16 autocast on GPUs, float32 on CPUs), fp32 or bf16 (GPUs only)")
          .value("bucket-mb", &O::bucket_mb, "gradient bucket size in MB")
          .above(0)
          .value("val-every", &O::val_every, "validate every N epochs")
          .at_least(1)
          .value("checkpoint-every", &O::checkpoint_every,
                 "write last.pt every N steps too (0: at epoch ends only)")
          .at_least(0)
          .meaning(0, "at epoch ends only")
          .value("log-every", &O::log_every,
                 "read the losses back from the device and write steps.csv every N steps (and "
                 "at each epoch's end): the only time a step waits for a GPU")
          .at_least(1)
          .value("resume", &O::resume,
                 "continue from a checkpoint (alone: RUN/checkpoints/last.pt)", "CHECKPOINT")
          .implicit("last")
          .value("init-from", &O::init_from,
                 "start a new run from another run's weights (its architecture; a new class "
                 "list starts the head afresh)",
                 "CHECKPOINT")
          .value("init-parts", &O::init_parts,
                 "what --init-from takes over: all, or encoder (the contracting path and the "
                 "bottleneck)")
          .flag("deterministic", &O::deterministic,
                "deterministic kernels only, cuDNN's autotuner off: a run repeats bitwise on the "
                "same GPU (slower there; CPU runs repeat either way)")
          .value("on-nonfinite", &O::on_nonfinite,
                 "a step whose loss or gradients are not finite: stop (keeping the last finite "
                 "checkpoints) or skip it on every rank")
          .flag("overwrite", &O::overwrite, "replace an earlier run in --out")
          .flag("report", &O::report,
                "write RUN/report.html at every validation too (it is written at the end)")
          .value("prefetch", &O::prefetch, "batches read ahead per rank")
          .at_least(1);
  return table;
}

void validate(const TrainOptions& options) {
  train_option_table().check(options);
  // The rules between options.
  if (options.epochs < 1 && options.max_steps < 1)
    throw UsageError("--epochs must be at least 1");
  if (options.overwrite && !options.resume.empty())
    throw UsageError("--overwrite replaces a run, --resume continues it: give one");
  if (!options.init_from.empty() && !options.resume.empty())
    throw UsageError("--init-from starts a new run, --resume continues one: give one");
  if (!options.encoder_weights.empty()) {
    if (options.model.encoder() == model::Encoder::plain)
      throw UsageError(
          "--encoder-weights needs a ResNet --encoder (resnet18, resnet34 or "
          "resnet50)");
    if (!options.init_from.empty() || !options.resume.empty())
      throw UsageError("--encoder-weights starts a new run from pretrained weights: not with " +
                       std::string(options.resume.empty() ? "--init-from" : "--resume"));
  }
  options.model.validate();
}

}  // namespace satunet::train
