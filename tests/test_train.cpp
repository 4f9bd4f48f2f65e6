#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "comm/mpi_communicator.hpp"
#include "comm/single_process.hpp"
#include "comm/versions.hpp"
#include "common/hash.hpp"
#include "common/labels.hpp"
#include "common/timer.hpp"
#include "data/dataset.hpp"
#include "geo/gdal.hpp"
#include "model/checkpoint.hpp"
#include "model/checkpoint_info.hpp"
#include "model/losses.hpp"
#include "model/runtime.hpp"
#include "model/torch_compat.hpp"
#include "predict/predictor.hpp"
#include "report/run_directory.hpp"
#include "report/run_report.hpp"
#include "scoring/evaluate.hpp"
#include "stitch/stitcher.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"
#include "tiling/tiler.hpp"
#include "train/multi_tensor_adamw.hpp"
#include "train/optimizer_state.hpp"
#include "train/reducer.hpp"
#include "train/run_setup.hpp"
#include "train/trainer.hpp"
#include "train/training_state.hpp"

namespace satunet::train {
namespace {
namespace fs = std::filesystem;

// A dataset of 64 px tiles from a generated scene under the test directory `name`, made by
// rank 0 for all ranks; returns that directory (the dataset is in its dataset/).
std::string shared_dataset(comm::MpiCommunicator& world, const std::string& name,
                           std::int64_t size = 384) {
  const std::string base = std::string(SATUNET_TEST_TMP) + "/" + name;
  if (world.rank() == 0) {
    fs::remove_all(base);
    test::make_synthetic_dataset(base, size, 0.15, 2);
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
  options.schedule = Schedule::constant;
  options.threads = 1;
  options.prefetch = 2;
  return options;
}

// The same weights and buffers in two checkpoints.
void expect_same_weights(const std::string& a, const std::string& b) {
  const auto first = test::checkpoint_tensors(a);
  const auto second = test::checkpoint_tensors(b);
  for (const auto& [name, tensor] : first) {
    if (name.rfind("model.", 0) != 0)
      continue;
    const auto other = second.find(name);
    ASSERT_NE(other, second.end()) << name;
    EXPECT_TRUE(torch::equal(tensor, other->second)) << name;
  }
}

// `options` (its `out` a base directory) trained straight to `steps` into OUT/straight, and
// to `stop`, then resumed to `steps`, into OUT/resumed: validations, epoch ends and
// --checkpoint-every fall at other steps in the two runs.
void train_straight_and_resumed(TrainOptions options, std::int64_t stop, std::int64_t steps,
                                comm::Communicator& world) {
  options.deterministic = true;  // what promises a bitwise repeat on any device
  const std::string base = options.out;
  options.out = base + "/straight";
  options.max_steps = steps;
  train(options, world);
  options.out = base + "/resumed";
  options.max_steps = stop;
  train(options, world);
  options.max_steps = steps;
  options.resume = "last";
  const TrainResult resumed = train(options, world);
  EXPECT_EQ(resumed.steps, steps);
  EXPECT_TRUE(resumed.replicas_identical);
}

// Every tensor of two checkpoints equal to the byte, batch-norm statistics among them.
void expect_same_tensors(const std::string& expected_path, const std::string& path, int ranks) {
  const auto expected = test::checkpoint_tensors(expected_path);
  const auto actual = test::checkpoint_tensors(path);
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_EQ(expected.at("statistics.of_ranks").size(0), ranks);
  std::size_t statistics = 0;
  for (const auto& [name, tensor] : expected) {
    ASSERT_TRUE(actual.count(name)) << name;
    const torch::Tensor& other = actual.at(name);
    ASSERT_EQ(tensor.sizes(), other.sizes()) << name;
    ASSERT_EQ(tensor.scalar_type(), other.scalar_type()) << name;
    const torch::Tensor bytes = tensor.contiguous(), other_bytes = other.contiguous();
    EXPECT_EQ(std::memcmp(bytes.data_ptr(), other_bytes.data_ptr(),
                          static_cast<std::size_t>(bytes.numel() * bytes.element_size())),
              0)
        << name << " differs";
    statistics += name.find("running_") != std::string::npos;
  }
  EXPECT_GT(statistics, 0u) << "the model has batch-norm running statistics";
}

}  // namespace

TEST(MpiTrain, ReplicasStayBitwiseIdentical) {
  comm::MpiCommunicator world;
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
  EXPECT_NE(model::state_digest(*saved), 0u);
}

TEST(MpiTrain, ReducedGradientsEqualOneRankWithTheWholeBatch) {
  comm::MpiCommunicator world;
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

TEST(MpiTrain, ResumeEqualsAnUninterruptedRunInEveryTensor) {
  comm::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiTrain.resume.np" + std::to_string(world.size()));
  TrainOptions options = tiny(base + "/dataset", base);
  options.checkpoint_every = 3;
  options.augment = data::AugmentOptions::standard();
  options.model.dropout(0.1);
  train_straight_and_resumed(options, 5, 10, world);
  if (world.rank() == 0)
    expect_same_tensors(base + "/straight/checkpoints/last.pt",
                        base + "/resumed/checkpoints/last.pt", world.size());
}

TEST(MpiTrain, AResNetEncoderFrozenThenTrainedResumesBitwiseOnEveryRank) {
  comm::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiTrain.resnet.np" + std::to_string(world.size()), 256);
  TrainOptions options = tiny(base + "/dataset", base);
  options.model.encoder(model::Encoder::resnet18).base(2);
  options.freeze_encoder_steps = 3;  // the resumed run starts frozen, with no encoder moments
  options.checkpoint_every = 2;
  options.batch = 2;
  train_straight_and_resumed(options, 2, 5, world);
  if (world.rank() == 0)
    expect_same_tensors(base + "/straight/checkpoints/last.pt",
                        base + "/resumed/checkpoints/last.pt", world.size());
}

// The report's validation tiles are predicted with the running statistics averaged over the
// ranks (as validation and the checkpoints' model have them), not with rank 0's own. The
// final validation's tiles against last.pt, saved right after it: its model's buffers are the
// averaged statistics, and statistics.of_ranks holds rank 0's own.
TEST(MpiTrain, ReportTilesArePredictedWithTheStatisticsAveragedOverTheRanks) {
  comm::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiTrain.tiles.np" + std::to_string(world.size()));
  // Trained long enough for class boundaries in the tiles, where the statistics tip pixels.
  TrainOptions options = tiny(base + "/dataset", base + "/run");
  options.max_steps = 24;
  options.lr = 0.01;
  const TrainResult result = train(options, world);
  if (world.rank() != 0)
    return;
  const report::RunDirectory run(base + "/run");
  const auto index =
      nlohmann::json::parse(test::file_bytes(run.validation_tiles() + "/tiles.json"));
  ASSERT_EQ(index.at("step").get<std::int64_t>(), result.steps);
  const data::ShardDataset val(base + "/dataset", "val");
  const int tile = val.tile_size();
  const auto plane = static_cast<std::size_t>(tile * tile);
  std::vector<report::ValidationTile> tiles;
  std::vector<float> images;  // one batch, in the report's order, as the trainer predicted it
  std::vector<std::string> shown;
  for (const auto& entry : index.at("tiles")) {
    report::ValidationTile item;
    item.index = entry.at("index").get<std::int64_t>();
    item.image.resize(plane * val.bands());
    item.truth.resize(plane);
    val.read(item.index, item.image.data(), item.truth.data());
    images.insert(images.end(), item.image.begin(), item.image.end());
    tiles.push_back(std::move(item));
    shown.push_back(
        test::file_bytes(run.validation_tiles() + "/" + entry.at("prediction").get<std::string>()));
  }
  ASSERT_FALSE(tiles.empty());
  // The prediction images of `net` (with the statistics `flat`), drawn as the report draws them.
  auto drawn = [&](const std::string& name, const torch::Tensor* flat) {
    auto net = model::load_checkpoint(run.last_checkpoint()).model;
    comm::SingleProcessCommunicator alone;
    GradientReducer statistics(*net, alone, 25);
    if (flat)
      statistics.load_flat_statistics(*flat);
    net->eval();
    torch::NoGradGuard no_grad;
    const auto count = static_cast<std::int64_t>(tiles.size());
    const torch::Tensor prediction =
        net->forward(torch::from_blob(images.data(), {count, val.bands(), tile, tile}))
            .argmax(1)
            .to(torch::kUInt8)
            .contiguous();
    for (std::size_t t = 0; t < tiles.size(); ++t) {
      const std::uint8_t* predicted = prediction.data_ptr<std::uint8_t>() + t * plane;
      tiles[t].prediction.assign(predicted, predicted + plane);
    }
    const report::RunDirectory other(base + "/" + name);
    report::write_validation_tiles(other.path(), result.steps, val.bands(), tile,
                                   val.manifest().classes, tiles);
    std::vector<std::string> pngs;
    for (const auto& entry : index.at("tiles"))
      pngs.push_back(test::file_bytes(other.validation_tiles() + "/" +
                                      entry.at("prediction").get<std::string>()));
    return pngs;
  };
  EXPECT_TRUE(drawn("averaged", nullptr) == shown)
      << "the report's predictions are not those of the averaged statistics";
  const torch::Tensor rank0 =
      test::checkpoint_tensors(run.last_checkpoint()).at("statistics.of_ranks")[0];
  EXPECT_FALSE(drawn("rank0", &rank0) == shown)
      << "rank 0's own statistics predict the tiles alike: the test cannot tell them apart";
}

}  // namespace satunet::train

namespace satunet::train {

namespace {

// The checkpoint holds its training scenes' pixel size (0.5 m), and a scene of the same kind
// of ground at 0.25 m is predicted at 0.5 m: each window of the scene shrunk to the model's
// pixels and its probabilities grown back onto the scene's grid, which scores better than the
// scene as it is, whose roofs and roads are twice the size the model learnt.
void expect_finer_scenes_predicted_at_the_training_pixel_size(const std::string& checkpoint,
                                                              const std::string& base) {
  const std::optional<PixelSizeRange> trained = model::load_checkpoint(checkpoint).meta.pixel_size;
  ASSERT_TRUE(trained);
  EXPECT_DOUBLE_EQ(trained->min_m, 0.5);
  EXPECT_DOUBLE_EQ(trained->max_m, 0.5);
  EXPECT_NE(model::describe_checkpoint_file(checkpoint, false)
                .find("pixel size: 0.5 m on the ground (its training scenes')"),
            std::string::npos);
  synth::SynthOptions fine;
  fine.out_dir = base + "/fine";
  fine.size = 512;
  fine.seed = 7;
  fine.gsd = 0.25;
  fine.overwrite = true;
  const synth::SynthResult scene = synth::synthesize(fine);
  auto building_and_road_iou = [&](const std::string& pixel_size) {
    auto options = test::predict_options(checkpoint, scene.scene_path, base + "/fine-pred");
    parse(pixel_size, "--pixel-size", options.pixel_size);
    const std::string mask = base + "/fine-" + pixel_size + ".tif";
    test::predict_alone(options, mask);
    test::expect_same_grid(mask, scene.scene_path);
    scoring::EvaluateOptions evaluate;
    evaluate.prediction = mask;
    evaluate.truth = scene.truth_path;
    comm::SingleProcessCommunicator alone;
    const scoring::Evaluation scores = scoring::evaluate(evaluate, alone);
    return std::pair{scores.matrix.iou(1), scores.matrix.iou(2)};
  };
  const auto [native_building, native_road] = building_and_road_iou("native");
  const auto [building, road] = building_and_road_iou("auto");
  EXPECT_GE(building, native_building + 0.05);
  EXPECT_GE(road, native_road + 0.05);
  EXPECT_GE(building, 0.6);
  EXPECT_GE(road, 0.6);
}

}  // namespace

TEST(MpiLearn, TinyModelSegmentsBuildingsAndRoads) {
  comm::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiLearn.np" + std::to_string(world.size()), 2048);
  TrainOptions options = tiny(base + "/dataset", base + "/run");
  options.model.base(8).depth(3);
  options.batch = 8;
  options.max_steps = 0;
  options.epochs = 10;
  options.lr = 0.005;
  options.schedule = Schedule::cosine;
  options.augment = data::AugmentOptions::standard();
  const TrainResult result = train(options, world);
  ASSERT_EQ(result.last_val_iou.size(), 3u);
  EXPECT_GE(result.last_val_iou[1], 0.7) << "building IoU on val";
  EXPECT_GE(result.last_val_iou[2], 0.7) << "road IoU on val";
  if (world.rank() == 0) {
    // metrics.csv: a header and one row per epoch, the loss falling.
    const test::RunCsv metrics = test::read_run_csv(base + "/run/metrics.csv");
    EXPECT_EQ(metrics.columns,
              (std::vector<std::string>{"epoch", "step", "loss", "lr", "samples_per_s",
                                        "data_wait_pct", "comm_wait_pct", "val_iou_background",
                                        "val_iou_building", "val_iou_road",
                                        "val_mean_foreground_iou", "val_loss", "skipped_steps"}));
    const std::vector<double> losses = metrics.numbers("loss");
    ASSERT_EQ(losses.size(), 10u);
    EXPECT_LT(losses.back(), losses.front() / 2);
    EXPECT_TRUE(fs::exists(base + "/run/checkpoints/best.pt"));
    EXPECT_TRUE(fs::exists(base + "/run/config.json"));
  }

  // The whole scene through predict (on every rank) and stitch: the mask scores like the
  // validation tiles did.
  predict::PredictOptions prediction;
  prediction.checkpoint = base + "/run/checkpoints/best.pt";
  prediction.image = base + "/scene/scene.tif";
  prediction.out = base + "/pred";
  prediction.batch = 16;
  prediction.overwrite = true;
  predict::predict(prediction, world);
  if (world.rank() != 0)
    return;
  stitch::StitchOptions stitching;
  stitching.prediction = prediction.out;
  stitching.out = base + "/mask.tif";
  stitch::stitch(stitching);
  scoring::EvaluateOptions evaluate;
  evaluate.prediction = stitching.out;
  evaluate.truth = base + "/scene/truth.tif";
  comm::SingleProcessCommunicator alone;
  const scoring::Evaluation scores = scoring::evaluate(evaluate, alone);
  EXPECT_GE(scores.matrix.iou(1), 0.65) << "building IoU over the whole scene";
  EXPECT_GE(scores.matrix.iou(2), 0.65) << "road IoU over the whole scene";
  if (world.size() == 2)
    expect_finer_scenes_predicted_at_the_training_pixel_size(prediction.checkpoint, base);
}

}  // namespace satunet::train

namespace satunet::train {}  // namespace satunet::train

namespace satunet::train {
namespace {

// Every asynchronous all-reduce waits, on a background thread in submission order, until the
// test opens a gate: a reducer that waits for a bucket inside backward would hold backward up
// until the gate gives up, and one that launches buckets only after backward would have
// launched none by the time backward returns. Events, not clocks, so load cannot change them.
class GatedCommunicator : public comm::Communicator {
 public:
  explicit GatedCommunicator(comm::Communicator& inner) : inner_(inner) {}
  ~GatedCommunicator() override { open(); }
  int rank() const override { return inner_.rank(); }
  // Two ranks to the reducer, which would leave one replica's gradients alone; the sums are
  // the one process's own.
  int size() const override { return 2; }
  int local_rank() const override { return inner_.local_rank(); }
  int local_size() const override { return inner_.local_size(); }
  std::string backend() const override { return "gated"; }
  void allreduce_sum(void* data, std::size_t count, comm::DataType type) override {
    inner_.allreduce_sum(data, count, type);
  }
  std::shared_ptr<comm::Work> allreduce_sum_async(void* data, std::size_t count,
                                                  comm::DataType type) override {
    ++launched_;
    return std::make_shared<comm::JobWork>(worker_.submit([=] {
      wait_for_gate();
      inner_.allreduce_sum(data, count, type);
    }));
  }
  void broadcast(void* data, std::size_t bytes, int root) override {
    inner_.broadcast(data, bytes, root);
  }
  void allgather(const void* data, std::size_t bytes, void* out) override {
    inner_.allgather(data, bytes, out);
  }
  void barrier() override { inner_.barrier(); }

  int launched() const { return launched_; }
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  bool gave_up() const { return gave_up_; }

 private:
  void wait_for_gate() {
    std::unique_lock<std::mutex> lock(mutex_);
    // Far past any backward pass of the test's network, however loaded the machine; once given
    // up on, the gate stays open so that a failing reducer fails once, not once per bucket.
    if (!opened_.wait_for(lock, std::chrono::seconds(30), [&] { return open_; })) {
      gave_up_ = true;
      open_ = true;
    }
  }

  comm::Communicator& inner_;
  std::atomic<int> launched_{0};
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = true;
  std::atomic<bool> gave_up_{false};
  SerialWorker worker_;
};

}  // namespace

TEST(Train, CommunicationOverlapsBackward) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  model::set_threads(1);
  torch::manual_seed(1);
  model::UNet net(model::UNetOptions().base(8).depth(3).norm(model::Norm::none));
  const torch::Tensor images = torch::randn({2, 3, 64, 64});
  const torch::Tensor labels = torch::randint(0, 3, {2, 64, 64}, torch::kLong);
  GatedCommunicator gated(self);
  GradientReducer reducer(*net, gated, 0.02, 0.02);
  const int buckets = reducer.buckets();
  ASSERT_GE(buckets, 4);
  // The first step builds the buckets in arrival order; the second runs on them.
  for (int step = 0; step < 2; ++step) {
    net->zero_grad();
    const torch::Tensor loss = model::ce_loss(net->forward(images), labels);
    const int before = gated.launched();
    gated.close();
    reducer.prepare(true);
    loss.backward();
    const int during_backward = gated.launched() - before;
    gated.open();
    reducer.finish();
    EXPECT_FALSE(gated.gave_up()) << "step " << step << ": backward waited for a bucket";
    // The last bucket may go out from finish(); every other one while backward runs.
    EXPECT_GE(during_backward, buckets - 1) << "step " << step << " of " << buckets << " buckets";
  }
}

TEST(Train, ResumeContinuesExactlyWhereItStopped) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "Train.resume");
  TrainOptions options = tiny(base + "/dataset", base);
  options.checkpoint_every = 3;
  options.augment = data::AugmentOptions::standard();
  train_straight_and_resumed(options, 3, 8, self);
  expect_same_tensors(base + "/straight/checkpoints/last.pt", base + "/resumed/checkpoints/last.pt",
                      1);
}

// --ema: the checkpoint's model is the average, trained beside live weights that are those of a
// run without it; its n-th update folds in the weights with min(decay, (1 + n) / (10 + n)); a
// resumed run continues both to the bit.
TEST(Train, EmaCheckpointsHoldTheAverageOfLiveWeightsAndResumeExactly) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "Train.ema");
  const auto last = [&](const std::string& run) {
    return test::checkpoint_tensors(base + "/" + run + "/checkpoints/last.pt");
  };
  TrainOptions plain = tiny(base + "/dataset", base + "/plain");
  plain.max_steps = 3;
  train(plain, self);
  TrainOptions averaged = plain;
  averaged.ema = 0.5;
  for (const std::int64_t steps : {2, 3}) {
    averaged.out = base + "/ema" + std::to_string(steps);
    averaged.max_steps = steps;
    train(averaged, self);
  }
  const auto without = last("plain"), two = last("ema2"), three = last("ema3");
  EXPECT_EQ(three.at("ema.updates").item<std::int64_t>(), 3);
  const double decay = 4.0 / 13;  // the third update's, under 0.5
  std::size_t parameters = 0;
  for (const auto& [name, live] : three) {
    if (name.rfind("ema.live.", 0) != 0)
      continue;
    ++parameters;
    const std::string model_name = "model." + name.substr(9);
    EXPECT_TRUE(torch::equal(live, without.at(model_name))) << name;
    const torch::Tensor expected = decay * two.at(model_name) + (1 - decay) * live;
    EXPECT_TRUE(torch::allclose(three.at(model_name), expected, 1e-5, 1e-6)) << model_name;
    EXPECT_FALSE(torch::equal(three.at(model_name), live)) << model_name;
  }
  EXPECT_GT(parameters, 0u);

  averaged.out = base + "/resume";
  averaged.checkpoint_every = 2;
  train_straight_and_resumed(averaged, 3, 6, self);
  expect_same_tensors(base + "/resume/straight/checkpoints/last.pt",
                      base + "/resume/resumed/checkpoints/last.pt", 1);
  EXPECT_EQ(last("resume/resumed").at("ema.updates").item<std::int64_t>(), 6);

  // `satunet info` says which weights a checkpoint holds.
  const auto info = test::run_satunet({"info", base + "/ema3/checkpoints/last.pt"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("weights:    the average of 3 updates (--ema); the live weights are "
                          "kept for --resume"),
            std::string::npos)
      << info.out;
  const auto json = test::run_satunet({"info", "--json", base + "/ema3/checkpoints/last.pt"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out).at("averaged_updates"), 3);
  const auto plain_info = test::run_satunet({"info", base + "/plain/checkpoints/last.pt"});
  EXPECT_EQ(plain_info.out.find("weights:"), std::string::npos) << plain_info.out;
}

TEST(Train, SameSeedTwiceGivesIdenticalCheckpoints) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "Train.seed");
  train(tiny(base + "/dataset", base + "/a"), self);
  train(tiny(base + "/dataset", base + "/b"), self);
  expect_same_weights(base + "/a/checkpoints/last.pt", base + "/b/checkpoints/last.pt");
  TrainOptions other = tiny(base + "/dataset", base + "/c");
  other.seed = 2;
  train(other, self);
  auto a = model::load_checkpoint(base + "/a/checkpoints/last.pt");
  auto c = model::load_checkpoint(base + "/c/checkpoints/last.pt");
  EXPECT_NE(model::state_digest(*a.model), model::state_digest(*c.model));
}

// The host reads the losses back once per --log-every steps: steps.csv and the epoch losses
// are those of a run that reads them after every step.
TEST(Train, StepsReadBackInBatchesAreTheStepsOfEachStep) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "Train.logevery");
  TrainOptions every = tiny(base + "/dataset", base + "/every");
  every.log_every = 1;
  every.max_steps = 7;
  train(every, self);
  TrainOptions batched = every;
  batched.out = base + "/batched";
  batched.log_every = 3;
  train(batched, self);
  EXPECT_EQ(test::file_bytes(base + "/batched/steps.csv"),
            test::file_bytes(base + "/every/steps.csv"));
  const test::RunCsv steps = test::read_run_csv(base + "/every/steps.csv");
  EXPECT_EQ(steps.columns, (std::vector<std::string>{"step", "epoch", "loss", "lr"}));
  ASSERT_EQ(steps.rows.size(), 7u);
  for (int step = 1; step <= 7; ++step) {
    EXPECT_EQ(steps.rows[step - 1].at("step"), std::to_string(step));
    EXPECT_TRUE(std::isfinite(steps.numbers("loss")[step - 1])) << "step " << step;
  }
  EXPECT_EQ(test::read_run_csv(base + "/every/metrics.csv").numbers("loss"),
            test::read_run_csv(base + "/batched/metrics.csv").numbers("loss"));
  expect_same_weights(base + "/every/checkpoints/last.pt", base + "/batched/checkpoints/last.pt");
}

// The multi-tensor AdamW takes the steps LibTorch's AdamW takes, to the bit, with parameters
// that have no gradient for a while (a frozen encoder), and carries on alike from a saved state.
TEST(Train, MultiTensorAdamWStepsAsLibTorchsAdamWToTheBit) {
  torch::manual_seed(3);
  const std::vector<std::vector<std::int64_t>> shapes = {{8, 4, 3, 3}, {8}, {16, 8, 3, 3}, {5}};
  std::vector<torch::Tensor> theirs, ours;
  for (const auto& shape : shapes) {
    const torch::Tensor start = torch::randn(shape);
    theirs.push_back(start.clone().requires_grad_());
    ours.push_back(start.clone().requires_grad_());
  }
  const auto options = torch::optim::AdamWOptions(0.01).weight_decay(0.05);
  torch::optim::AdamW reference(theirs, options);
  auto multi = std::make_unique<MultiTensorAdamW>(ours, options);
  auto step_both = [&](int step) {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const bool frozen = i == 0 && step < 2;
      const torch::Tensor gradient = torch::randn(shapes[i]) * static_cast<double>(i + 1);
      theirs[i].mutable_grad() = frozen ? torch::Tensor() : gradient.clone();
      ours[i].mutable_grad() = frozen ? torch::Tensor() : gradient.clone();
    }
    reference.step();
    multi->step();
  };
  auto expect_equal = [&](const std::string& when) {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(torch::equal(theirs[i], ours[i]))
          << when << ": parameter " << i << " differs by "
          << (theirs[i] - ours[i]).abs().max().item<double>();
      const auto key = model::compat::optimizer_state_key(reference, theirs[i]);
      const auto& state =
          static_cast<const torch::optim::AdamWParamState&>(*reference.state().at(key));
      const auto& mine = static_cast<const torch::optim::AdamWParamState&>(
          *multi->state().at(model::compat::optimizer_state_key(*multi, ours[i])));
      EXPECT_EQ(state.step(), mine.step()) << when << ": parameter " << i;
      EXPECT_TRUE(torch::equal(state.exp_avg_sq(), mine.exp_avg_sq())) << when << ": " << i;
    }
  };
  for (int step = 0; step < 5; ++step)
    step_both(step);
  expect_equal("after 5 steps");
  // Saved and loaded as a checkpoint does it, into a fresh optimizer.
  torch::serialize::OutputArchive saved;
  save_optimizer_state(*multi, ours, saved);
  std::stringstream bytes;
  saved.save_to(bytes);
  torch::serialize::InputArchive loaded;
  loaded.load_from(bytes);
  multi = std::make_unique<MultiTensorAdamW>(ours, options);
  load_optimizer_state(*multi, ours, loaded);
  for (int step = 5; step < 8; ++step)
    step_both(step);
  expect_equal("resumed");
  EXPECT_FALSE(multi->skips_on_device()) << "parameters on the CPU step on the host's word";
}

TEST(Train, OneReplicaKeepsItsGradientsWhereBackwardLeftThem) {
  comm::SingleProcessCommunicator alone;
  torch::manual_seed(2);
  model::UNet net(model::UNetOptions().base(4).depth(2));
  GradientReducer reducer(*net, alone, 0.001, 0.0005);
  const torch::Tensor images = torch::randn({2, 3, 32, 32});
  const torch::Tensor labels = torch::randint(0, 3, {2, 32, 32}, torch::kLong);
  for (int step = 0; step < 2; ++step) {
    net->zero_grad();
    reducer.prepare(true);
    model::ce_loss(net->forward(images), labels).backward();
    std::vector<std::pair<void*, torch::Tensor>> before;
    for (const torch::Tensor& parameter : net->parameters())
      before.emplace_back(parameter.grad().data_ptr(), parameter.grad().clone());
    reducer.finish();
    std::size_t i = 0;
    for (const torch::Tensor& parameter : net->parameters()) {
      EXPECT_EQ(parameter.grad().data_ptr(), before[i].first) << "parameter " << i;
      EXPECT_TRUE(torch::equal(parameter.grad(), before[i].second)) << "parameter " << i;
      ++i;
    }
  }
  EXPECT_TRUE(reducer.arrival_order().empty()) << "no bucket was filled, so none was rebuilt";
  EXPECT_EQ(reducer.communication_wait_seconds(), 0);
}

// A checkpoint's training state: epoch and step once, as the checkpoint's own (`satunet info`
// shows them), the rest as JSON; the JSON of earlier satunet, which repeats them, reads alike;
// a checkpoint without training state is refused for --resume, naming it.
TEST(Train, TrainingStateIsWrittenOnceAndReadBack) {
  TrainingState state;
  state.position = {3, 2, 17, 0.25};
  state.layout = {2, 4, 1};
  state.seed = 9;
  state.command_line = "satunet train --data d";
  model::CheckpointMeta meta;
  state.save(meta);
  EXPECT_EQ(meta.epoch, 3);
  EXPECT_EQ(meta.step, 17);
  const auto json = nlohmann::json::parse(meta.training);
  EXPECT_FALSE(json.contains("epoch") || json.contains("step")) << meta.training;
  auto expect_state = [&](const TrainingState& back) {
    EXPECT_EQ(back.position.epoch, 3);
    EXPECT_EQ(back.position.epoch_step, 2);
    EXPECT_EQ(back.position.step, 17);
    EXPECT_EQ(back.position.best_iou, 0.25);
    EXPECT_TRUE(back.layout == state.layout);
    EXPECT_EQ(back.seed, 9u);
    EXPECT_EQ(back.command_line, state.command_line);
  };
  expect_state(TrainingState::load(meta));
  model::CheckpointMeta earlier;
  earlier.epoch = 3;
  earlier.step = 17;
  earlier.training =
      R"({"accumulate":1,"batch":4,"best_iou":0.25,"command_line":"satunet train --data d",)"
      R"("epoch":3,"epoch_step":2,"seed":9,"step":17,"world_size":2})";
  expect_state(TrainingState::load(earlier));

  const std::string path = test::make_checkpoint(test::fresh_directory("state") + "/a.pt", 3);
  auto loaded = model::load_checkpoint(path);
  comm::SingleProcessCommunicator alone;
  GradientReducer reducer(*loaded.model, alone, 25);
  const auto optimizer = make_optimizer(TrainOptions(), loaded.model);
  test::expect_error(
      [&] {
        restore_training_checkpoint(loaded, {loaded.model, *optimizer, reducer, alone}, path);
      },
      path + ": cannot resume from it: ");
}

}  // namespace satunet::train

namespace satunet::train {}  // namespace satunet::train

namespace satunet::train {
namespace {}  // namespace

// Two ranks on one GPU (NCCL refuses that; MPI reduces the gradients through host memory)
// train replicas identical to the bit.
TEST(MpiTrainGpu, RanksSharingOneGpuReduceThroughTheHostAsIdenticalReplicas) {
  if (model::cuda_devices() == 0)
    GTEST_SKIP() << "no CUDA device: training on a GPU cannot run here";
  comm::MpiCommunicator world;
  const std::string base =
      shared_dataset(world, "MpiTrainGpu.shared.np" + std::to_string(world.size()));
  TrainOptions options = tiny(base + "/dataset", base + "/run");
  options.backend = comm::Backend::mpi;
  options.device = comm::Device::cuda;
  options.model.base(8).depth(3);
  options.max_steps = 8;
  const TrainResult result = train(options, world);
  EXPECT_EQ(result.steps, 8);
  EXPECT_TRUE(result.replicas_identical);
  const auto config = nlohmann::json::parse(test::file_bytes(base + "/run/config.json"));
  EXPECT_EQ(config["device"], "cuda:0");
  EXPECT_EQ(config["backend"], "mpi");
}

// LibTorch 2.x's fused AdamW on the GPU takes the multi-tensor AdamW's steps on the CPU (to
// float rounding), and leaves a step whose gradients are flagged not finite undone on the
// device: weights, moments and step counts as if it had not been asked for.
TEST(TrainGpu, FusedAdamWStepsAsOnTheCpuAndSkipsAFlaggedStepOnTheDevice) {
  if (model::cuda_devices() == 0)
    GTEST_SKIP() << "no CUDA device: the fused AdamW cannot run here";
  if (!model::compat::kFusedAdamW)
    GTEST_SKIP() << "LibTorch 1.x has no fused AdamW";
  torch::manual_seed(4);
  const std::vector<std::vector<std::int64_t>> shapes = {{16, 8, 3, 3}, {16}, {3, 16, 1, 1}};
  std::vector<torch::Tensor> on_cpu, on_gpu;
  for (const auto& shape : shapes) {
    const torch::Tensor start = torch::randn(shape);
    on_cpu.push_back(start.clone().requires_grad_());
    on_gpu.push_back(start.to(torch::kCUDA).requires_grad_());
  }
  const auto options = torch::optim::AdamWOptions(0.01).weight_decay(0.05);
  MultiTensorAdamW host(on_cpu, options), fused(on_gpu, options);
  ASSERT_TRUE(fused.skips_on_device());
  const auto flag = [](float value) { return torch::full({}, value, torch::kCUDA); };
  for (int step = 0; step < 5; ++step) {
    const bool flagged = step == 2;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      torch::Tensor gradient = torch::randn(shapes[i]);
      on_cpu[i].mutable_grad() = gradient.clone();
      if (flagged && i == 1)
        gradient[0] = std::numeric_limits<float>::quiet_NaN();
      on_gpu[i].mutable_grad() = gradient.to(torch::kCUDA);
    }
    if (!flagged)
      host.step();
    fused.step_unless(flag(flagged ? 1.0f : 0.0f));
  }
  fused.write_back_steps();
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const torch::Tensor back = on_gpu[i].detach().cpu();
    EXPECT_TRUE(torch::allclose(back, on_cpu[i], 1e-5, 1e-6))
        << "parameter " << i << " differs by " << (back - on_cpu[i]).abs().max().item<double>();
    const auto& state = static_cast<const torch::optim::AdamWParamState&>(
        *fused.state().at(model::compat::optimizer_state_key(fused, on_gpu[i])));
    EXPECT_EQ(state.step(), 4) << "the flagged step is not counted";
  }
}

TEST(TrainGpu, LossFallsAndTheCheckpointPredictsAlikeOnTheCpu) {
  if (model::cuda_devices() == 0)
    GTEST_SKIP() << "no CUDA device: training on a GPU cannot run here";
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainGpu", 512);
  TrainOptions options = tiny(base + "/dataset", base + "/run");
  options.model.base(8).depth(3);
  options.max_steps = 0;
  options.epochs = 6;
  options.batch = 8;
  const TrainResult result = train(options, self);
  EXPECT_TRUE(result.replicas_identical);
  const auto config = nlohmann::json::parse(test::file_bytes(base + "/run/config.json"));
  EXPECT_EQ(config["device"], "cuda:0");
  EXPECT_EQ(config["backend"], comm::nccl_built() ? "nccl" : "mpi");
  EXPECT_EQ(config["precision"], "bf16 autocast");
  const auto losses = test::read_run_csv(base + "/run/metrics.csv").numbers("loss");
  ASSERT_EQ(losses.size(), 6u);
  EXPECT_LT(losses.back(), losses.front() * 0.8) << "the loss falls under bf16 autocast";

  // Written on the GPU, the checkpoint loads on the CPU (load_checkpoint maps to it) and
  // predicts there the mask the GPU predicts in float32.
  const std::string checkpoint = base + "/run/checkpoints/last.pt";
  EXPECT_TRUE(model::load_checkpoint(checkpoint).model->parameters().front().is_cpu());
  auto prediction = test::predict_options(checkpoint, base + "/scene/scene.tif", base + "/cpu");
  prediction.device = comm::Device::cpu;
  test::predict_alone(prediction, base + "/cpu.tif");
  prediction.device = comm::Device::cuda;
  prediction.precision = model::Precision::fp32;
  prediction.out = base + "/cuda";
  test::predict_alone(prediction, base + "/cuda.tif");
  const auto cpu = test::read_band_u8(base + "/cpu.tif");
  const auto cuda = test::read_band_u8(base + "/cuda.tif");
  std::size_t differ = 0;
  for (std::size_t i = 0; i < cpu.size(); ++i)
    differ += cpu[i] != cuda[i];
  EXPECT_LE(differ, cpu.size() / 1000) << differ << " of " << cpu.size() << " pixels differ";
}

}  // namespace satunet::train

// Hostile or careless use of `satunet train`: each case once ended in a hang, a crash, silent
// nonsense or a destroyed run.
namespace satunet::train {
namespace {

std::vector<std::string> train_args(const std::string& base, const std::string& out,
                                    std::vector<std::string> extra) {
  std::vector<std::string> args{"train",   "--data", base + "/dataset", "--out", out, "--base", "4",
                                "--depth", "2",      "--threads",       "1",     "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The last row of a run's metrics.csv, by column name.
std::map<std::string, std::string> last_metrics(const std::string& run) {
  const test::RunCsv metrics = test::read_run_csv(run + "/metrics.csv");
  return metrics.rows.empty() ? std::map<std::string, std::string>() : metrics.rows.back();
}

void expect_finite_checkpoint(const std::string& path) {
  const auto checkpoint = model::load_checkpoint(path);
  for (const auto& item : checkpoint.model->named_parameters())
    EXPECT_TRUE(torch::isfinite(item.value()).all().item<bool>()) << path << ": " << item.key();
}

}  // namespace

TEST(TrainCli, ResumingWithAShorterEpochEnds) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.shorter");
  const std::string out = base + "/run";
  ASSERT_EQ(
      test::run_satunet(train_args(base, out, {"--batch", "1", "--max-steps", "12"})).exit_code, 0);
  // 12 batches of one into an epoch; with batches of 8 an epoch is only a few steps long.
  const auto larger =
      test::run_satunet(train_args(base, out, {"--resume", "--batch", "8", "--max-steps", "17"}));
  ASSERT_EQ(larger.exit_code, 0) << larger.err;
  EXPECT_EQ(model::load_checkpoint(out + "/checkpoints/last.pt").meta.step, 17);
  // And on twice the ranks.
  const auto wider = test::run_satunet_ranks(
      2, train_args(base, out, {"--resume", "--batch", "4", "--max-steps", "22"}));
  ASSERT_EQ(wider.exit_code, 0) << wider.err;
  EXPECT_EQ(model::load_checkpoint(out + "/checkpoints/last.pt").meta.step, 22);
  EXPECT_LE(test::read_run_csv(out + "/metrics.csv").rows.size(), 29u)
      << "a row per epoch, not a row per turn of a loop";
}

TEST(TrainCli, ARunIsContinuedOrReplacedOnlyWhenAskedAndByOneJobAtATime) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.existing", 256);
  const std::string out = base + "/run";
  ASSERT_EQ(test::run_satunet(train_args(base, out, {"--max-steps", "2"})).exit_code, 0);
  const std::string last = test::file_bytes(out + "/checkpoints/last.pt");
  EXPECT_EQ(model::load_checkpoint(out + "/checkpoints/last.pt").meta.bands.at(0).dtype, "uint8")
      << "the pixel type it was trained on, for predict to check";
  const std::string metrics = test::file_bytes(out + "/metrics.csv");

  test::expect_failure(test::run_satunet(train_args(base, out, {"--max-steps", "2"})), 1,
                       out +
                           ": holds a training run already; --resume continues it, "
                           "--overwrite replaces it");
  test::expect_failure(
      test::run_satunet(train_args(base, out, {"--max-steps", "2", "--resume", "--overwrite"})), 2,
      "--overwrite replaces a run, --resume continues it: give one");
  test::expect_failure(
      test::run_satunet({"train", "--data", base + "/dataset", "--out", out, "--resume", "--base",
                         "16", "--depth", "2", "--max-steps", "4", "-q"}),
      2, "keeps the checkpoint's model; asked for base 16 (the checkpoint has 4)");
  // --overwrite never removes an input of the run it starts.
  test::expect_failure(
      test::run_satunet(train_args(
          base, out,
          {"--max-steps", "2", "--overwrite", "--init-from", out + "/checkpoints/last.pt"})),
      1,
      out + "/checkpoints/last.pt: an input of this command inside " + out +
          "/checkpoints, which --overwrite would replace; copy it elsewhere first");
  EXPECT_EQ(test::file_bytes(out + "/checkpoints/last.pt"), last) << "left as it was";
  EXPECT_EQ(test::file_bytes(out + "/metrics.csv"), metrics) << "left as it was";
  // What a killed run was writing (its temporary) goes with the next run into the directory.
  const std::string abandoned = out + "/checkpoints/.last.partial-999999.pt";
  std::ofstream(abandoned) << "half a checkpoint";
  const auto resumed = test::run_satunet(train_args(base, out, {"--max-steps", "3", "--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_FALSE(fs::exists(abandoned));
  const auto replaced =
      test::run_satunet(train_args(base, out, {"--max-steps", "3", "--overwrite"}));
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(model::load_checkpoint(out + "/checkpoints/last.pt").meta.step, 3);

  // Two jobs on one directory at once: the second is refused while the first runs on.
  const std::string shared = base + "/shared";
  std::vector<std::string> first = {SATUNET_BINARY};
  for (const std::string& arg : train_args(base, shared, {"--max-steps", "100000", "--batch", "2"}))
    first.push_back(arg);
  test::Background running(first);
  for (int i = 0; i < 600 && !fs::exists(shared + "/config.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(shared + "/config.json"));
  test::expect_failure(
      test::run_satunet(train_args(base, shared, {"--max-steps", "2", "--overwrite"})), 1,
      shared + ": in use by another satunet (pid " + std::to_string(running.pid()) + ")");
  ASSERT_EQ(kill(running.pid(), SIGTERM), 0);
  EXPECT_EQ(running.wait().exit_code, 0) << "the first ends as a stopped run does";
  const std::string said = test::file_bytes(shared + "/metrics.csv");
  EXPECT_EQ(said.find("epoch,step", 1), std::string::npos) << "one header: nobody else wrote";
}

TEST(TrainCli, InitFromStartsANewRunFromAnotherRunsWeights) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.init", 256);
  ASSERT_EQ(test::run_satunet(train_args(base, base + "/a", {"--max-steps", "2"})).exit_code, 0);
  const std::string start = base + "/a/checkpoints/last.pt";
  const auto tuned = test::run_satunet(train_args(
      base, base + "/b", {"--max-steps", "2", "--init-from", start, "--init-parts", "encoder"}));
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  std::ifstream config_file(base + "/b/config.json");
  const auto config = nlohmann::json::parse(config_file);
  EXPECT_EQ(config.at("init_from"), start);
  EXPECT_EQ(config.at("init_parts"), "encoder");
  EXPECT_EQ(model::load_checkpoint(base + "/b/checkpoints/last.pt").meta.step, 2)
      << "a new run: its own steps from 0";

  test::expect_failure(
      test::run_satunet(train_args(base, base + "/c", {"--init-from", start, "--resume"})), 2,
      "--init-from starts a new run, --resume continues one: give one");
  test::expect_failure(test::run_satunet({"train", "--data", base + "/dataset", "--out",
                                          base + "/c", "--init-from", start, "--base", "16", "-q"}),
                       2,
                       "--init-from " + start +
                           " keeps the checkpoint's model; asked for base 16 (the checkpoint "
                           "has 4)");
  test::expect_failure(
      test::run_satunet(train_args(base, base + "/c", {"--init-from", base + "/none.pt"})), 1,
      base + "/none.pt");
  EXPECT_FALSE(fs::exists(base + "/c/checkpoints/last.pt"));
}

TEST(TrainCli, DivergenceStopsKeepingTheLastFiniteCheckpointOrSkipsSteps) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.diverge", 256);
  const std::vector<std::string> wild = {"--lr", "1e9", "--max-steps", "10", "--checkpoint-every",
                                         "1"};
  std::vector<std::string> stop = wild;
  const auto stopped = test::run_satunet(train_args(base, base + "/stop", stop));
  test::expect_failure(stopped, 1, "satunet train: training diverged at step ");
  EXPECT_NE(stopped.err.find("the checkpoints keep the last finite step"), std::string::npos);
  const std::string last = base + "/stop/checkpoints/last.pt";
  ASSERT_TRUE(fs::exists(last));
  EXPECT_LT(model::load_checkpoint(last).meta.step, 10);
  expect_finite_checkpoint(last);
  for (const auto& entry : fs::directory_iterator(base + "/stop/checkpoints"))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos)
        << "no half-written checkpoint left: " << entry.path();

  std::vector<std::string> skip = wild;
  skip.insert(skip.end(), {"--on-nonfinite", "skip"});
  const auto skipped = test::run_satunet(train_args(base, base + "/skip", skip));
  ASSERT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_GT(std::stoi(last_metrics(base + "/skip").at("skipped_steps")), 0);
  expect_finite_checkpoint(base + "/skip/checkpoints/last.pt");
}

TEST(TrainCli, AFullDiskWhileCheckpointingIsAnErrorNamingTheFile) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.full", 256);
  const std::string out = base + "/run";
  // Room for the logs, not for a checkpoint.
  const auto full = test::run_satunet(
      train_args(base, out, {"--max-steps", "4", "--checkpoint-every", "2"}), 48 * 1024);
  test::expect_failure(full, 1, "satunet train: " + out + "/checkpoints/");
  EXPECT_NE(full.err.find(".pt: cannot write: File too large (checkpoint)"), std::string::npos)
      << full.err;
  EXPECT_EQ(full.err.find("terminate"), std::string::npos) << full.err;
  EXPECT_TRUE(fs::is_empty(out + "/checkpoints")) << "nothing half-written left";
  const auto again = test::run_satunet(train_args(base, out, {"--max-steps", "4", "--overwrite"}));
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST(TrainCli, ADatasetWithoutALabelledPixelIsRefused) {
  const std::string dir = test::fresh_directory("unlabelled");
  const auto scene = test::synthetic_scene(dir + "/scene", 128);
  const std::string mask = dir + "/nodata.tif";
  ASSERT_EQ(test::run_program({"gdal_translate", "-q", "-scale", "0", "255", "255", "255",
                               scene.truth_path, mask})
                .exit_code,
            0);
  ASSERT_EQ(test::run_satunet({"tile", "--out", dir + "/dataset", "--image", scene.scene_path,
                               "--mask", mask, "--classes", "background,building,road", "--tile",
                               "64", "--val-fraction", "0", "-q"})
                .exit_code,
            0);
  test::expect_failure(
      test::run_satunet({"train", "--data", dir + "/dataset", "--out", dir + "/run", "-q"}), 1,
      dir + "/dataset: the train split has no labelled pixel (every label is nodata)");
}

TEST(TrainCli, NanPixelsAreNodataFromTilesToLoss) {
  const std::string dir = test::fresh_directory("nan");
  const auto scene = test::synthetic_scene(dir + "/scene", 256);
  for (const bool declared : {true, false}) {
    SCOPED_TRACE(declared ? "NaN is the nodata value" : "no nodata value");
    const std::string floats = dir + (declared ? "/declared.tif" : "/undeclared.tif");
    std::vector<std::string> translate = {"gdal_translate", "-q", "-ot", "Float64"};
    if (declared)
      translate.insert(translate.end(), {"-a_nodata", "nan"});
    translate.insert(translate.end(), {scene.scene_path, floats});
    ASSERT_EQ(test::run_program(translate).exit_code, 0);
    {
      geo::init_gdal();
      GDALDatasetUniquePtr raster(
          GDALDataset::Open(floats.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
      std::vector<double> nan(100 * 100, std::numeric_limits<double>::quiet_NaN());
      for (int band = 1; band <= 3; ++band)
        ASSERT_EQ(raster->GetRasterBand(band)->RasterIO(GF_Write, 30, 30, 100, 100, nan.data(), 100,
                                                        100, GDT_Float64, 0, 0),
                  CE_None);
    }
    const std::string data = dir + (declared ? "/declared" : "/undeclared");
    const auto tiled = test::run_satunet({"tile",
                                          "--out",
                                          data,
                                          "--image",
                                          floats,
                                          "--labels",
                                          "building=" + scene.buildings_path,
                                          "--labels",
                                          "road=" + scene.roads_path,
                                          "--width-field",
                                          "width_m",
                                          "--classes",
                                          "background,building,road",
                                          "--tile",
                                          "64",
                                          "--overlap",
                                          "0",
                                          "--val-fraction",
                                          "0",
                                          "-q"});
    ASSERT_EQ(tiled.exit_code, 0) << tiled.err;
    const auto manifest = shards::Manifest::load(data);
    for (const auto& band : manifest.bands) {
      EXPECT_TRUE(std::isfinite(band.mean) && std::isfinite(band.std)) << band.name;
      EXPECT_LE(band.count, 256 * 256 - 100 * 100) << "NaN pixels are not measured";
    }
    std::int64_t nan_pixels = 0;
    for (const auto& [key, tile] : test::read_tiles(data)) {
      const std::size_t plane = tile.labels.size();
      for (std::size_t i = 0; i < plane; ++i)
        if (std::isnan(tile.image[i])) {
          ++nan_pixels;
          EXPECT_EQ(tile.labels[i], kIgnoreLabel) << "a NaN pixel is nodata";
        }
    }
    EXPECT_GT(nan_pixels, 0);
    const auto trained =
        test::run_satunet({"train", "--data", data, "--out", data + "-run", "--base", "4",
                           "--depth", "2", "--max-steps", "3", "--threads", "1", "-q"});
    ASSERT_EQ(trained.exit_code, 0) << trained.err;
    EXPECT_TRUE(std::isfinite(std::stod(last_metrics(data + "-run").at("loss"))));
  }
}

TEST(TrainCli, OptionValuesThatCannotBeMeantAreUsageErrors) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.values", 256);
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"--lr", "inf", "the argument ('inf') for option '--lr' is invalid"},
      {"--lr", "nan", "the argument ('nan') for option '--lr' is invalid"},
      {"--weight-decay", "nan", "the argument ('nan') for option '--weight-decay' is invalid"},
      {"--class-weights", "nan,1,1", "--class-weights"},
      {"--seed", "-1", "the argument ('-1') for option '--seed' is invalid"},
      {"--max-steps", "-1", "--max-steps must not be negative"},
      {"--threads", "100000", "--threads must be 0 (automatic) to 1024"},
      {"--base", "1024", "more than the 1000 million satunet builds"},
      {"--on-nonfinite", "ignore", "--on-nonfinite must be stop or skip (got 'ignore')"},
      {"--augment-colour", "1", "--augment-colour must be in [0, 1)"},
      {"--ema", "1", "--ema must be in [0, 1)"},
      {"--augment-scale", "nan", "the argument ('nan') for option '--augment-scale' is invalid"},
      {"--augment-scale", "5", "--augment-scale must be in [0, 3]"},
      {"--encoder", "resnet101", "--encoder must be plain, resnet18, resnet34 or resnet50"},
      {"--freeze-encoder-steps", "-2", "--freeze-encoder-steps must not be negative"},
      {"--log-every", "0", "--log-every must be at least 1"},
      {"--device", "tpu", "--device must be auto, cpu or cuda (got 'tpu')"}};
  for (const auto& [option, value, message] : cases) {
    SCOPED_TRACE(option + " " + value);
    const auto run =
        test::run_satunet({"train", "--data", base + "/dataset", "--out", base + "/run", option,
                           value, "--depth", option == "--base" ? "8" : "2", "-q"});
    test::expect_failure(run, 2, message);
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }
  EXPECT_FALSE(fs::exists(base + "/run")) << "nothing made for a refused command";
}

TEST(TrainCli, SigtermWritesACheckpointExitsZeroAndResumes) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.signal", 384);
  const std::string out = base + "/run";
  const pid_t child = fork();
  if (child == 0) {
    freopen((base + "/stdout").c_str(), "w", stdout);
    freopen((base + "/stderr").c_str(), "w", stderr);
    test::leave_mpi_job();
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

TEST(TrainCli, BadOptionsAndNoGpu) {
  comm::MpiCommunicator self(comm::MpiScope::self);
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
  EXPECT_NE(bad.err.find("--norm must be batch, group or none (got 'layer')"), std::string::npos)
      << bad.err;
  const auto nccl = run({"--backend", "nccl"});
  EXPECT_EQ(nccl.exit_code, 1);
  EXPECT_NE(nccl.err.find("--backend nccl: "), std::string::npos) << nccl.err;
  if (model::cuda_devices() == 0) {
    const auto cuda = run({"--backend", "mpi", "--device", "cuda"});
    test::expect_failure(cuda, 1, "--device cuda: no GPU present on rank 0");
  }
  test::expect_failure(run({"--backend", "nccl", "--device", "cpu"}), 2,
                       "--backend nccl reduces GPU memory: not with --device cpu");
  const auto missing =
      test::run_satunet({"train", "--data", base + "/nothing", "--out", base + "/x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(base + "/nothing/manifest.json: no manifest"), std::string::npos)
      << missing.err;
}

TEST(TrainCli, AKilledRankEndsTheJobWithoutAHang) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.kill", 384);
  const std::string out = base + "/run-kill";
  const pid_t launcher = fork();
  if (launcher == 0) {
    freopen((base + "/kill.out").c_str(), "w", stdout);
    freopen((base + "/kill.err").c_str(), "w", stderr);
    test::leave_mpi_job();
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    execlp("mpirun", "mpirun", "-n", "2", "--oversubscribe", SATUNET_BINARY, "train", "--data",
           (base + "/dataset").c_str(), "--out", out.c_str(), "--base", "4", "--depth", "2",
           "--batch", "2", "--max-steps", "100000", "--checkpoint-every", "5", "--threads", "1",
           nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && !fs::exists(out + "/checkpoints/last.pt"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(out + "/checkpoints/last.pt")) << test::file_bytes(base + "/kill.err");
  // The rank processes are the launcher's children; kill one of them outright.
  const std::string children =
      "/proc/" + std::to_string(launcher) + "/task/" + std::to_string(launcher) + "/children";
  std::istringstream pids(test::file_bytes(children));
  pid_t victim = 0;
  pids >> victim;
  ASSERT_GT(victim, 0) << "no rank found under mpirun";
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  const auto killed_at = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(launcher, &status, WNOHANG) == 0) {
    ASSERT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(60))
        << "the job hangs after a rank died";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(WIFEXITED(status) ? WEXITSTATUS(status) : 1, 0) << "the job reports the failure";
  // The last checkpoint is whole: written atomically, it loads.
  EXPECT_GT(model::load_checkpoint(out + "/checkpoints/last.pt").meta.step, 0);
}

TEST(TrainCli, SameSeedTwiceWritesByteIdenticalCheckpoints) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = shared_dataset(self, "TrainCli.bytes", 256);
  auto run = [&](const std::string& out) {
    const auto result = test::run_satunet(
        {"train", "--data", base + "/dataset", "--out", out, "--base", "4", "--depth", "2",
         "--batch", "4", "--max-steps", "5", "--threads", "1", "--augment", "-q"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
  };
  // The same command line twice (it is recorded in the checkpoint), in separate processes.
  run(base + "/run");
  const std::string first = test::file_bytes(base + "/run/checkpoints/last.pt");
  ASSERT_FALSE(first.empty());
  fs::remove_all(base + "/run");
  run(base + "/run");
  EXPECT_TRUE(first == test::file_bytes(base + "/run/checkpoints/last.pt"))
      << "checkpoints of two runs with the same seed differ";
}

}  // namespace satunet::train
