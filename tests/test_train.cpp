#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/hash.hpp"
#include "dist/mpi_communicator.hpp"
#include "model/checkpoint.hpp"
#include "model/losses.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"
#include "tiling/tiler.hpp"
#include "train/reducer.hpp"
#include "train/trainer.hpp"

namespace satunet::train {
namespace {
namespace fs = std::filesystem;

// A dataset of 64 px tiles from a generated scene, made once per directory (rank 0 makes it).
std::string shared_dataset(dist::MpiCommunicator& world, const std::string& name,
                           std::int64_t size = 384) {
  const std::string base = std::string(SATUNET_TEST_TMP) + "/" + name;
  if (world.rank() == 0) {
    fs::remove_all(base);
    synth::SynthOptions scene;
    scene.out_dir = base + "/scene";
    scene.size = size;
    scene.seed = 3;
    synth::synthesize(scene);
    tiling::TileOptions tiles;
    tiles.scenes = {{scene.out_dir + "/scene.tif",
                     "",
                     {{"building", scene.out_dir + "/buildings.geojson"},
                      {"road", scene.out_dir + "/roads.geojson"}}}};
    tiles.width_field = "width_m";
    tiles.tile = 64;
    tiles.overlap = 0;
    tiles.val_fraction = 0.15;
    tiles.split_block = 2;
    tiles.out_dir = base + "/dataset";
    dist::MpiCommunicator self(MPI_COMM_SELF);
    tiling::tile_dataset(tiles, self);
  }
  world.barrier();
  return base;
}

TrainOptions tiny(const std::string& data, const std::string& out) {
  TrainOptions options;
  options.data = data;
  options.out = out;
  options.model.base(4).depth(2);
  options.batch = 4;
  options.max_steps = 6;
  options.lr = 0.003;
  options.schedule = "constant";
  options.threads = 1;
  options.prefetch = 2;
  return options;
}

std::uint64_t weights_hash(model::UNet& net) {
  std::uint64_t digest = 0;
  std::vector<torch::Tensor> state = net->parameters();
  for (const torch::Tensor& buffer : net->buffers())
    state.push_back(buffer);
  for (const torch::Tensor& tensor : state) {
    const torch::Tensor values = tensor.contiguous();
    const auto* bytes = static_cast<const unsigned char*>(values.data_ptr());
    for (std::int64_t i = 0; i < values.numel() * values.element_size(); ++i)
      digest = hash(digest, bytes[i]);
  }
  return digest;
}

void expect_same_weights(const std::string& a, const std::string& b) {
  auto first = model::load_checkpoint(a);
  auto second = model::load_checkpoint(b);
  const auto one = first.model->named_parameters();
  const auto two = second.model->named_parameters();
  for (const auto& item : one)
    EXPECT_TRUE(torch::equal(item.value(), two[item.key()])) << item.key();
  for (const auto& item : first.model->named_buffers())
    EXPECT_TRUE(torch::equal(item.value(), second.model->named_buffers()[item.key()]))
        << item.key();
}

}  // namespace

TEST(MpiTrain, ReplicasStayBitwiseIdentical) {
  dist::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiTrain.replicas.np" + std::to_string(world.size()));
  TrainOptions options = tiny(base + "/dataset", base + "/run");
  options.augment = data::AugmentOptions::standard();
  options.model.dropout(0.2);
  const TrainResult result = train(options, world);
  EXPECT_EQ(result.steps, 6);
  // Every rank's replica in memory, hashed and compared: they must agree to the bit.
  EXPECT_TRUE(result.replicas_identical);
  std::uint64_t digest = result.weights_digest;
  std::vector<std::uint64_t> all(static_cast<std::size_t>(world.size()));
  world.allgather(&digest, sizeof digest, all.data());
  for (int rank = 1; rank < world.size(); ++rank)
    EXPECT_EQ(all[static_cast<std::size_t>(rank)], all[0]);
  // And the checkpoint holds that replica.
  auto saved = model::load_checkpoint(base + "/run/checkpoints/last.pt").model;
  EXPECT_NE(weights_hash(saved), 0u);
}

TEST(MpiTrain, ReducedGradientsEqualOneRankWithTheWholeBatch) {
  dist::MpiCommunicator world;
  const int per_rank = 2;
  const int total = per_rank * world.size();
  torch::manual_seed(5);
  const torch::Tensor images = torch::randn({total, 3, 32, 32});
  const torch::Tensor labels = torch::randint(0, 3, {total, 32, 32}, torch::kLong);
  // Group norm: per sample, so a rank's half-batch sees what the whole batch sees.
  const auto options = model::UNetOptions().base(4).depth(2).norm(model::Norm::group).groups(2);
  torch::manual_seed(1);
  model::UNet distributed(options);
  torch::manual_seed(1);
  model::UNet reference(options);
  GradientReducer reducer(*distributed, world, 0.001, 0.0005);  // several small buckets
  EXPECT_GT(reducer.buckets(), 2);
  const auto mine = torch::indexing::Slice(world.rank() * per_rank, (world.rank() + 1) * per_rank);
  reducer.prepare(true);
  model::ce_loss(distributed->forward(images.index({mine})), labels.index({mine})).backward();
  reducer.finish();
  model::ce_loss(reference->forward(images), labels).backward();
  const auto expected = reference->named_parameters();
  for (const auto& item : distributed->named_parameters())
    EXPECT_TRUE(torch::allclose(item.value().grad(), expected[item.key()].grad(), 1e-5, 1e-6))
        << item.key() << " differs by "
        << (item.value().grad() - expected[item.key()].grad()).abs().max().item<double>();
}

TEST(Train, SameSeedTwiceGivesIdenticalCheckpoints) {
  dist::MpiCommunicator self(MPI_COMM_SELF);
  const std::string base = shared_dataset(self, "Train.seed");
  train(tiny(base + "/dataset", base + "/a"), self);
  train(tiny(base + "/dataset", base + "/b"), self);
  expect_same_weights(base + "/a/checkpoints/last.pt", base + "/b/checkpoints/last.pt");
  TrainOptions other = tiny(base + "/dataset", base + "/c");
  other.seed = 2;
  train(other, self);
  auto a = model::load_checkpoint(base + "/a/checkpoints/last.pt");
  auto c = model::load_checkpoint(base + "/c/checkpoints/last.pt");
  EXPECT_NE(weights_hash(a.model), weights_hash(c.model));
}

TEST(Train, ResumeContinuesExactlyWhereItStopped) {
  dist::MpiCommunicator self(MPI_COMM_SELF);
  const std::string base = shared_dataset(self, "Train.resume");
  TrainOptions straight = tiny(base + "/dataset", base + "/straight");
  straight.max_steps = 8;
  straight.checkpoint_every = 3;
  straight.augment = data::AugmentOptions::standard();
  train(straight, self);
  TrainOptions first = straight;
  first.out = base + "/resumed";
  first.max_steps = 3;
  train(first, self);
  TrainOptions second = first;
  second.max_steps = 8;
  second.resume = "last";
  const TrainResult result = train(second, self);
  EXPECT_EQ(result.steps, 8);
  expect_same_weights(base + "/straight/checkpoints/last.pt",
                      base + "/resumed/checkpoints/last.pt");
}

TEST(TrainCli, BadOptionsAndNoGpu) {
  dist::MpiCommunicator self(MPI_COMM_SELF);
  const std::string base = shared_dataset(self, "TrainCli.options", 256);
  const std::string data = base + "/dataset";
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"train", "--data",  data, "--out",       base + "/run", "--base",
                                  "4",     "--depth", "2",  "--max-steps", "1",           "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  auto bad = run({"--optimizer", "rmsprop"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--optimizer must be adamw or sgd (got 'rmsprop')"), std::string::npos)
      << bad.err;
  bad = run({"--norm", "layer"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--norm must be one of batch, group, none"), std::string::npos) << bad.err;
  const auto nccl = run({"--backend", "nccl"});
  EXPECT_EQ(nccl.exit_code, 1);
  EXPECT_NE(nccl.err.find("--backend nccl: "), std::string::npos) << nccl.err;
  const auto missing =
      test::run_satunet({"train", "--data", base + "/nothing", "--out", base + "/x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(base + "/nothing/manifest.json: no manifest"), std::string::npos)
      << missing.err;
}

TEST(TrainCli, SigtermWritesACheckpointExitsZeroAndResumes) {
  dist::MpiCommunicator self(MPI_COMM_SELF);
  const std::string base = shared_dataset(self, "TrainCli.signal", 384);
  const std::string out = base + "/run";
  const pid_t child = fork();
  if (child == 0) {
    freopen((base + "/stdout").c_str(), "w", stdout);
    freopen((base + "/stderr").c_str(), "w", stderr);
    for (const char* name : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"})
      unsetenv(name);
    execl(SATUNET_BINARY, SATUNET_BINARY, "train", "--data", (base + "/dataset").c_str(), "--out",
          out.c_str(), "--base", "4", "--depth", "2", "--batch", "2", "--max-steps", "100000",
          "--threads", "1", nullptr);
    _exit(127);
  }
  // Wait until training runs (config.json is written just before the first step).
  for (int i = 0; i < 600 && !fs::exists(out + "/config.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(kill(child, SIGTERM), 0);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << test::file_bytes(base + "/stderr");
  const std::string said = test::file_bytes(base + "/stdout");
  EXPECT_NE(said.find("stopped by signal 15 at step "), std::string::npos) << said;
  EXPECT_NE(said.find("the job can be requeued"), std::string::npos) << said;
  const auto checkpoint = model::load_checkpoint(out + "/checkpoints/last.pt");
  const std::int64_t stopped_at = checkpoint.meta.step;
  EXPECT_GT(stopped_at, 0);
  const auto resumed = test::run_satunet(
      {"train", "--data", base + "/dataset", "--out", out, "--base", "4", "--depth", "2", "--batch",
       "2", "--max-steps", std::to_string(stopped_at + 3), "--threads", "1", "--resume", "-q"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(model::load_checkpoint(out + "/checkpoints/last.pt").meta.step, stopped_at + 3);
}

}  // namespace satunet::train

namespace satunet::train {

TEST(MpiLearn, TinyModelSegmentsBuildingsAndRoads) {
  dist::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiLearn.np" + std::to_string(world.size()), 2048);
  TrainOptions options = tiny(base + "/dataset", base + "/run");
  options.model.base(8).depth(3);
  options.batch = 8;
  options.max_steps = 0;
  options.epochs = 10;
  options.lr = 0.005;
  options.schedule = "cosine";
  options.augment = data::AugmentOptions::standard();
  const TrainResult result = train(options, world);
  ASSERT_EQ(result.last_val_iou.size(), 3u);
  EXPECT_GE(result.last_val_iou[1], 0.7) << "building IoU on val";
  EXPECT_GE(result.last_val_iou[2], 0.7) << "road IoU on val";
  if (world.rank() == 0) {
    // metrics.csv: a header and one row per epoch, the loss falling.
    std::ifstream metrics(base + "/run/metrics.csv");
    std::string line;
    std::vector<double> losses;
    std::getline(metrics, line);
    EXPECT_EQ(
        line.rfind(
            "epoch,step,loss,lr,samples_per_s,data_wait_pct,comm_wait_pct,val_iou_background", 0),
        0u);
    while (std::getline(metrics, line))
      losses.push_back(std::stod(line.substr(line.find(',', line.find(',') + 1) + 1)));
    ASSERT_EQ(losses.size(), 10u);
    EXPECT_LT(losses.back(), losses.front() / 2);
    EXPECT_TRUE(fs::exists(base + "/run/checkpoints/best.pt"));
    EXPECT_TRUE(fs::exists(base + "/run/config.json"));
  }
}

}  // namespace satunet::train
