// Two questions about training, each answered side by side in one run:
//  1. the streaming loader against the same loop fed from batches held in memory;
//  2. the bucketed, overlapped gradient synchronisation against one all-reduce of all
//     gradients as a single flat buffer.
// Run under mpirun; rank 0 prints, and with --jsonl FILE appends the records "loader.rate" and
// "memory.rate" (samples/s), "step.compute", "step.reducer", "synchronisation.cost" and
// "flat_allreduce.time" (ms) (common/bench_record.hpp).
//   satunet_bench_train [--jsonl FILE] DATASET [STEPS]
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "comm/mpi_communicator.hpp"
#include "common/bench_record.hpp"
#include "common/timer.hpp"
#include "data/loader.hpp"
#include "model/losses.hpp"
#include "model/unet.hpp"
#include "train/reducer.hpp"

namespace {

using satunet::Stopwatch;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

torch::Tensor images_of(satunet::data::Batch& batch, int bands, int tile) {
  return torch::from_blob(batch.images.data(), {batch.size, bands, tile, tile}, torch::kFloat32);
}
torch::Tensor labels_of(satunet::data::Batch& batch, int tile) {
  return torch::from_blob(batch.labels.data(), {batch.size, tile, tile}, torch::kUInt8)
      .to(torch::kLong);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string jsonl;
  try {
    jsonl = satunet::bench::take_jsonl_option(args);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "satunet_bench_train: %s\n", error.what());
    return 2;
  }
  if (args.empty()) {
    std::fprintf(stderr, "usage: satunet_bench_train [--jsonl FILE] DATASET [STEPS]\n");
    return 2;
  }
  const int steps = args.size() > 1 ? std::stoi(args[1]) : 60;
  satunet::comm::MpiRuntime mpi;
  satunet::comm::MpiCommunicator world;
  satunet::model::set_threads(1);
  const satunet::bench::RecordFile records(world.rank() == 0 ? jsonl : std::string());
  const satunet::data::ShardDataset dataset(args[0], "train");
  const int tile = dataset.tile_size(), bands = dataset.bands(), batch_size = 8;
  torch::manual_seed(1);
  satunet::model::UNet net(
      satunet::model::UNetOptions().in_channels(bands).classes(dataset.classes()).base(8).depth(3));
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(1e-3));
  auto step = [&](satunet::data::Batch& batch) {
    optimizer.zero_grad();
    satunet::model::ce_loss(net->forward(images_of(batch, bands, tile)), labels_of(batch, tile))
        .backward();
    optimizer.step();
  };

  // 1. Loader against memory, on this rank's share.
  const satunet::data::DistributedSampler sampler(dataset.size(), world.rank(), world.size(), 1);
  satunet::data::StreamingLoader loader(dataset, sampler, batch_size, 2,
                                        satunet::data::AugmentOptions::standard(), 1);
  const int loader_steps =
      static_cast<int>(std::min<std::int64_t>(steps, loader.steps_per_epoch()));
  std::vector<satunet::data::Batch> in_memory(static_cast<std::size_t>(loader_steps));
  loader.start_epoch(0);
  for (auto& batch : in_memory)
    loader.next(batch);
  world.barrier();
  Stopwatch clock;
  for (auto& batch : in_memory)
    step(batch);
  const double memory_seconds = clock.seconds();
  loader.start_epoch(1);
  clock.restart();
  satunet::data::Batch batch;
  for (int i = 0; i < loader_steps && loader.next(batch); ++i)
    step(batch);
  const double loader_seconds = clock.seconds();

  // 2. Synchronisation: compute alone, with the reducer, and one flat all-reduce.
  satunet::data::Batch& sample = in_memory.front();
  std::vector<double> compute, reduced, flat;
  satunet::train::GradientReducer reducer(*net, world, 25.0);
  std::int64_t elements = 0;
  for (const auto& parameter : net->parameters())
    elements += parameter.numel();
  std::vector<float> buffer(static_cast<std::size_t>(elements));
  for (int repeat = 0; repeat < 15; ++repeat) {
    net->zero_grad();
    world.barrier();
    clock.restart();
    satunet::model::ce_loss(net->forward(images_of(sample, bands, tile)), labels_of(sample, tile))
        .backward();
    compute.push_back(clock.seconds());

    net->zero_grad();
    world.barrier();
    clock.restart();
    const torch::Tensor loss = satunet::model::ce_loss(net->forward(images_of(sample, bands, tile)),
                                                       labels_of(sample, tile));
    reducer.prepare(true);
    loss.backward();
    reducer.finish();
    reduced.push_back(clock.seconds());

    world.barrier();
    clock.restart();
    world.allreduce_sum(buffer.data(), buffer.size(), satunet::comm::DataType::float32);
    flat.push_back(clock.seconds());
  }
  const double sync = std::max(0.0, median(reduced) - median(compute));
  if (world.rank() == 0) {
    const double samples = static_cast<double>(loader_steps) * batch_size;
    std::printf(
        "loader vs memory (%d steps of %d tiles, rank 0): %.1f vs %.1f samples/s, ratio %.3f (goal "
        ">= 0.95)\n",
        loader_steps, batch_size, samples / loader_seconds, samples / memory_seconds,
        memory_seconds / loader_seconds);
    std::printf(
        "gradients: %lld floats in %d buckets; step %.1f ms of compute, %.1f ms with the reducer\n",
        static_cast<long long>(elements), reducer.buckets(), median(compute) * 1e3,
        median(reduced) * 1e3);
    std::printf(
        "synchronisation cost %.2f ms vs one flat all-reduce %.2f ms: ratio %.2f (goal <= 1.1)\n",
        sync * 1e3, median(flat) * 1e3, sync / median(flat));
    const nlohmann::json configuration = {{"ranks", world.size()},
                                          {"steps", loader_steps},
                                          {"batch", batch_size},
                                          {"tile", tile},
                                          {"base", 8},
                                          {"depth", 3},
                                          {"threads", 1},
                                          {"gradients", elements},
                                          {"buckets", reducer.buckets()}};
    records.write("train", "loader.rate", samples / loader_seconds, "samples/s", configuration);
    records.write("train", "memory.rate", samples / memory_seconds, "samples/s", configuration);
    records.write("train", "step.compute", median(compute) * 1e3, "ms", configuration);
    records.write("train", "step.reducer", median(reduced) * 1e3, "ms", configuration);
    records.write("train", "synchronisation.cost", sync * 1e3, "ms", configuration);
    records.write("train", "flat_allreduce.time", median(flat) * 1e3, "ms", configuration);
  }
  return 0;
}
