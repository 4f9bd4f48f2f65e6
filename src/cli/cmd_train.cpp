#include <iostream>

#include "cli/command.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "dist/mpi_communicator.hpp"
#include "train/signals.hpp"
#include "train/trainer.hpp"

namespace satunet::cli {
namespace {

train::TrainOptions train_options(const po::variables_map& values) {
  train::TrainOptions options;
  auto text = [&](const char* name) { return string_option(values, name); };
  options.data = text("data");
  options.out = text("out");
  options.model.base(values["base"].as<int>())
      .depth(values["depth"].as<int>())
      .norm(model::parse_norm(text("norm")))
      .upsampling(model::parse_upsampling(text("upsampling")))
      .block(model::parse_block(text("block")))
      .attention(values["attention"].as<bool>())
      .dropout(values["dropout"].as<double>());
  options.epochs = values["epochs"].as<std::int64_t>();
  options.max_steps = values["max-steps"].as<std::int64_t>();
  options.batch = values["batch"].as<int>();
  options.optimizer = text("optimizer");
  options.lr = values["lr"].as<double>();
  options.weight_decay = values["weight-decay"].as<double>();
  options.schedule = text("schedule");
  options.warmup = values["warmup"].as<std::int64_t>();
  options.scale_lr = values["scale-lr"].as<bool>();
  options.accumulate = values["accumulate"].as<int>();
  options.loss.kind = model::parse_loss(text("loss"));
  options.class_weights = text("class-weights");
  if (values["augment"].as<bool>())
    options.augment = data::AugmentOptions::standard();
  options.seed = values["seed"].as<std::uint64_t>();
  options.threads = values["threads"].as<int>();
  options.backend = text("backend");
  options.bucket_mb = values["bucket-mb"].as<double>();
  options.val_every = values["val-every"].as<std::int64_t>();
  options.checkpoint_every = values["checkpoint-every"].as<std::int64_t>();
  options.resume = text("resume");
  options.deterministic = values["deterministic"].as<bool>();
  options.prefetch = values["prefetch"].as<int>();
  options.command_line = invocation();
  return options;
}

}  // namespace

Command train_command() {
  Command command;
  command.name = "train";
  command.summary = "train a U-Net on a dataset, one replica per rank (mpirun -n N)";
  command.usage = "--data DATASET --out RUN [options]";
  command.needs_mpi = true;
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    const train::TrainOptions d;
    // clang-format off
    options.add_options()
        ("data", po::value<std::string>()->value_name("DATASET"), "dataset directory from satunet tile")
        ("out", po::value<std::string>()->value_name("RUN"),
         "run directory: checkpoints/{last,best}.pt, metrics.csv, config.json")
        ("base", po::value<int>()->default_value(static_cast<int>(d.model.base())),
         "channels of the first U-Net level (doubled per level)")
        ("depth", po::value<int>()->default_value(static_cast<int>(d.model.depth())), "U-Net levels")
        ("norm", po::value<std::string>()->default_value("batch"), "batch, group or none")
        ("upsampling", po::value<std::string>()->default_value("transpose"), "transpose or bilinear")
        ("block", po::value<std::string>()->default_value("plain"), "plain or residual")
        ("attention", po::bool_switch(), "attention gates on the skip connections")
        ("dropout", po::value<double>()->default_value(d.model.dropout()), "dropout at the bottleneck")
        ("epochs", po::value<std::int64_t>()->default_value(d.epochs), "epochs to train")
        ("max-steps", po::value<std::int64_t>()->default_value(d.max_steps),
         "optimizer steps to train (0: --epochs decides)")
        ("batch", po::value<int>()->default_value(d.batch), "tiles per rank per micro-batch")
        ("optimizer", po::value<std::string>()->default_value(d.optimizer), "adamw or sgd (Nesterov momentum 0.9)")
        ("lr", po::value<double>()->default_value(d.lr), "learning rate")
        ("weight-decay", po::value<double>()->default_value(d.weight_decay), "weight decay")
        ("schedule", po::value<std::string>()->default_value(d.schedule), "cosine, poly or constant")
        ("warmup", po::value<std::int64_t>()->default_value(d.warmup), "linear warm-up steps")
        ("scale-lr", po::bool_switch(), "multiply the learning rate by the number of ranks")
        ("accumulate", po::value<int>()->default_value(d.accumulate),
         "micro-batches per optimizer step (gradients synchronised on the last)")
        ("loss", po::value<std::string>()->default_value("ce"), "ce, dice, ce+dice or focal")
        ("class-weights", po::value<std::string>()->default_value(d.class_weights),
         "none, auto (inverse pixel frequency of the train split) or a list")
        ("augment", po::bool_switch(), "flips, quarter turns, brightness and contrast")
        ("seed", po::value<std::uint64_t>()->default_value(d.seed), "seed of weights, order and augmentation")
        ("threads", po::value<int>()->default_value(d.threads),
         "LibTorch threads per rank; 0: cores per node / ranks per node")
        ("backend", po::value<std::string>()->default_value(d.backend),
         "auto, mpi or nccl (auto: nccl when LibTorch has CUDA and NCCL is built)")
        ("bucket-mb", po::value<double>()->default_value(d.bucket_mb), "gradient bucket size in MB")
        ("val-every", po::value<std::int64_t>()->default_value(d.val_every), "validate every N epochs")
        ("checkpoint-every", po::value<std::int64_t>()->default_value(d.checkpoint_every),
         "write last.pt every N steps too (0: at epoch ends only)")
        ("resume", po::value<std::string>()->implicit_value("last")->value_name("CHECKPOINT"),
         "continue from a checkpoint (alone: RUN/checkpoints/last.pt)")
        ("deterministic", po::bool_switch(), "LibTorch's deterministic algorithms only")
        ("prefetch", po::value<int>()->default_value(d.prefetch), "batches read ahead per rank");
    // clang-format on
  };
  command.run = [](const po::variables_map& values) {
    const train::TrainOptions options = train_options(values);
    train::validate(options);
    dist::MpiCommunicator world;
    const train::TrainResult result = train::train(options, world);
    if (world.rank() == 0) {
      if (result.stopped_by_signal) {
        std::cout << "stopped by signal " << train::stop_signal() << " at step " << result.steps
                  << "; checkpoint " << result.last_checkpoint
                  << "; the job can be requeued (satunet train ... --resume)\n";
      } else {
        std::cout << "trained " << result.steps << " steps; checkpoints in " << options.out
                  << "/checkpoints; metrics in " << options.out << "/metrics.csv\n";
      }
    }
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
