// satunet predict: windows over whole scenes on any number of ranks, georeferencing, nodata,
// devices, the normalisation training used, and bad input.
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "comm/mpi_communicator.hpp"
#include "common/files.hpp"
#include "data/dataset.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "model/checkpoint.hpp"
#include "predict/bench.hpp"
#include "predict/pixel_size.hpp"
#include "predict/pixel_tensor.hpp"
#include "predict/predictor.hpp"
#include "predict/window_reader.hpp"
#include "shards/prediction.hpp"
#include "test_support.hpp"
#include "tiling/tiler.hpp"

namespace satunet {
namespace {

namespace fs = std::filesystem;
using test::count_equal;
using test::expect_same_grid;
using test::Head;
using test::kClasses;
using test::make_checkpoint;
using test::predict_alone;
using test::predict_options;
using test::scene_validity;
using test::stitch_to;
using test::ungeoreferenced_copy;

// What the identity model of `bench predict` must give: where the scene has data, the first of
// its bands with the largest value (its windows all see the same values there, so blending
// cannot change the order); 255 elsewhere.
std::vector<std::uint8_t> argmax_of_bands(const std::string& scene_path) {
  const auto valid = scene_validity(scene_path);
  std::vector<std::vector<std::uint8_t>> bands;
  for (int band = 1; band <= 3; ++band)
    bands.push_back(test::read_band_u8(scene_path, band));
  std::vector<std::uint8_t> labels(valid.size(), 255);
  for (std::size_t i = 0; i < valid.size(); ++i) {
    if (!valid[i])
      continue;
    std::uint8_t best = 0;
    for (std::uint8_t c = 1; c < 3; ++c)
      if (bands[c][i] > bands[best][i])
        best = c;
    labels[i] = best;
  }
  return labels;
}

}  // namespace

TEST(MpiPredict, OneRankAndManyRanksGiveIdenticalMasks) {
  comm::MpiCommunicator world;
  const std::string name = "MpiPredict.np" + std::to_string(world.size());
  const std::string dir = std::string(SATUNET_TEST_TMP) + "/" + name;  // shared by the ranks
  if (world.rank() == 0) {
    fs::remove_all(dir);
    test::synthetic_scene(dir + "/scene", 300, 5);
    make_checkpoint(dir + "/model.pt", 3, Head::varied);
  }
  world.barrier();
  auto options = predict_options(dir + "/model.pt", dir + "/scene/scene.tif", dir + "/pred-many");
  options.tta = shards::Tta::flips;
  const predict::PredictResult many = predict::predict(options, world);
  EXPECT_EQ(many.windows, geo::WindowGrid(300, 300, 64, 16).count());
  // Rank 0 compares; a failed assertion must not skip the barrier the others wait in.
  auto compare = [&] {
    const auto index = shards::PredictionIndex::load(dir + "/pred-many");
    EXPECT_EQ(index.ranks, world.size());
    ASSERT_EQ(index.shards.size(), static_cast<std::size_t>(world.size()));
    std::int64_t windows = 0;
    for (const auto& shard : index.shards) {
      EXPECT_GT(shard.windows, 0);
      windows += shard.windows;
    }
    EXPECT_EQ(windows, many.windows);
    stitch_to(dir + "/pred-many", dir + "/many.tif", dir + "/many-probs.tif");
    options.out = dir + "/pred-one";
    predict_alone(options, dir + "/one.tif", dir + "/one-probs.tif");
    EXPECT_EQ(test::read_band_u8(dir + "/many.tif"), test::read_band_u8(dir + "/one.tif"));
    for (int band = 1; band <= 3; ++band)
      EXPECT_EQ(test::read_band_u8(dir + "/many-probs.tif", band),
                test::read_band_u8(dir + "/one-probs.tif", band));
  };
  if (world.rank() == 0)
    compare();
  world.barrier();

  // --stitch-to on many ranks (their shards, stitched by rank 0, then removed) and on one (no
  // shards at all): the mask of the prediction directories above.
  options.out.clear();
  options.stitch_to = dir + "/many-direct.tif";
  const predict::PredictResult direct = predict::predict(options, world);
  EXPECT_EQ(direct.stitched.has_value(), world.rank() == 0);
  auto compare_direct = [&] {
    EXPECT_FALSE(fs::exists(dir + "/many-direct.tif.prediction"));
    options.stitch_to = dir + "/one-direct.tif";
    comm::MpiCommunicator self(comm::MpiScope::self);
    predict::predict(options, self);
    const auto one = test::read_band_u8(dir + "/one.tif");
    EXPECT_EQ(test::read_band_u8(dir + "/many-direct.tif"), one);
    EXPECT_EQ(test::read_band_u8(dir + "/one-direct.tif"), one);
  };
  if (world.rank() == 0)
    compare_direct();
  world.barrier();

  // The identity model's pipeline on many ranks.
  predict::PredictBenchOptions bench;
  bench.image = dir + "/scene/scene.tif";
  bench.stitch_to = dir + "/bench.tif";
  bench.tile = 64;
  bench.batch = 3;
  bench.overwrite = true;
  predict::run_predict_bench(bench, world);
  if (world.rank() == 0) {
    EXPECT_EQ(test::read_band_u8(dir + "/bench.tif"), argmax_of_bands(bench.image));
  }
  world.barrier();
}

TEST(PredictGpu, CudaMaskAgreesWithTheCpuMask) {
  const std::string dir = test::fresh_directory("predict-gpu");
  const auto scene = test::synthetic_scene(dir + "/scene", 200, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3, Head::varied);
  if (!torch::cuda::is_available()) {
    // Without a device the option must say so, not fall back silently.
    const auto run =
        test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", scene.scene_path,
                           "--out", dir + "/pred", "--device", "cuda"});
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.err.find("--device cuda: no GPU present on rank 0"), std::string::npos)
        << run.err;
    GTEST_SKIP() << "no CUDA device: the GPU prediction cannot run here";
  }
  auto options = predict_options(checkpoint, scene.scene_path, dir + "/cpu");
  options.device = comm::Device::cpu;
  options.precision = model::Precision::fp32;
  predict_alone(options, dir + "/cpu.tif", dir + "/cpu-probs.tif");
  options.device = comm::Device::cuda;
  options.out = dir + "/cuda";
  predict_alone(options, dir + "/cuda.tif", dir + "/cuda-probs.tif");
  expect_same_grid(dir + "/cuda.tif", scene.scene_path);
  // cuDNN sums in another order: probabilities within one quantum, classes equal but at ties.
  const auto cpu = test::read_band_u8(dir + "/cpu-probs.tif", 2);
  const auto cuda = test::read_band_u8(dir + "/cuda-probs.tif", 2);
  for (std::size_t i = 0; i < cpu.size(); ++i)
    ASSERT_LE(std::abs(cpu[i] - cuda[i]), 1) << i;
  auto differing = [](const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    std::size_t differ = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      differ += a[i] != b[i];
    return differ;
  };
  const auto cpu_mask = test::read_band_u8(dir + "/cpu.tif");
  const auto cuda_mask = test::read_band_u8(dir + "/cuda.tif");
  EXPECT_LE(differing(cpu_mask, cuda_mask), cpu_mask.size() / 1000);
  // bf16 autocast (the default on a GPU): the same classes but where the random model's scores
  // nearly tie (launch/gpu/check.sh holds a trained model to 99.9 %).
  options.precision = model::Precision::bf16;
  options.out = dir + "/bf16";
  predict_alone(options, dir + "/bf16.tif");
  EXPECT_LE(differing(test::read_band_u8(dir + "/bf16.tif"), cuda_mask), cpu_mask.size() / 50);
}

TEST(Predict, TrainingAndPredictionNormaliseAWindowBitwiseAlike) {
  // uint16 with nodata and a uint8 scene: the tile training reads, and the window prediction
  // reads at the same place and normalises where the model is, must be the same tensor to
  // the bit.
  for (const auto dtype : {synth::SampleType::uint8, synth::SampleType::uint16}) {
    SCOPED_TRACE(options::enum_name(dtype));
    const std::string dir = test::fresh_directory("normalise-" + options::enum_name(dtype));
    const auto scene = test::synthetic_scene(dir + "/scene", 256, 5, 4, dtype);
    tiling::TileOptions tiles;
    tiles.images = {scene.scene_path};
    tiles.labels = {{"building", scene.buildings_path}};
    tiles.tile = 64;
    tiles.overlap = 0;
    tiles.val_fraction = 0;
    tiles.max_nodata = 1;
    tiles.out_dir = dir + "/dataset";
    comm::MpiCommunicator self(comm::MpiScope::self);
    tiling::tile_dataset(tiles, self);

    const data::ShardDataset dataset(tiles.out_dir, "train");
    const geo::Raster raster = geo::Raster::open(scene.scene_path);
    const geo::InputBands bands = geo::choose_input_bands(raster.info(), {});
    predict::WindowReader reader(raster, bands, 64);
    EXPECT_EQ(reader.pixel_type(), dtype == synth::SampleType::uint8 ? predict::PixelType::uint8
                                                                     : predict::PixelType::uint16);
    const predict::PixelNormaliser normalise(data::BandNormaliser::of(dataset.manifest().bands),
                                             torch::kCPU);
    const auto values = static_cast<std::size_t>(4 * 64 * 64);
    std::vector<float> trained(values);
    std::vector<std::uint8_t> pixels(
        values * static_cast<std::size_t>(shards::pixel_type_bytes(reader.pixel_type())));
    std::vector<std::uint8_t> labels(64 * 64), valid(64 * 64);
    ASSERT_EQ(dataset.size(), 16);
    for (std::int64_t i = 0; i < dataset.size(); ++i) {
      dataset.read(i, trained.data(), labels.data());
      const shards::TileWindow window = dataset.window(i);
      reader.read_window({window.x_off, window.y_off, window.width, window.height}, pixels.data(),
                         valid.data());
      const torch::Tensor predicted =
          normalise(predict::pixel_tensor({pixels.data(), reader.pixel_type(), 1, 4, 64}),
                    reader.pixel_type());
      ASSERT_EQ(std::memcmp(trained.data(), predicted.data_ptr<float>(), values * sizeof(float)), 0)
          << "tile " << i << " at (" << window.x_off << ", " << window.y_off << ")";
    }
  }
}

namespace {

// Every pixel type, at the values where a conversion goes wrong (the top of uint16, viewed as
// int16; negative int16; non-finite floats, taken as 0), normalised on `device` as the host
// normalises them, to the bit.
void expect_normalised_as_on_the_host(const torch::Device& device) {
  const data::BandNormaliser host({3.25, -1000.5}, {7.1, 0.0});  // a constant band's std
  const predict::PixelNormaliser normalise(host, device);
  auto check = [&](auto sample, predict::PixelType type, std::vector<decltype(sample)> row) {
    SCOPED_TRACE(static_cast<int>(type));
    row.resize(9, row.front());  // a 3 x 3 window
    std::vector<decltype(sample)> pixels = row;
    pixels.insert(pixels.end(), row.rbegin(), row.rend());  // band 2: the same reversed
    const torch::Tensor normalised =
        normalise(predict::pixel_tensor({pixels.data(), type, 1, 2, 3}).to(device), type)
            .to(torch::kCPU)
            .contiguous();
    for (std::size_t i = 0; i < pixels.size(); ++i) {
      const float expected = host.apply(static_cast<int>(i / 9), static_cast<float>(pixels[i]));
      const float got = normalised.data_ptr<float>()[i];
      EXPECT_EQ(std::memcmp(&expected, &got, sizeof got), 0)
          << "value " << static_cast<double>(pixels[i]) << ": " << got << " != " << expected;
    }
  };
  check(std::uint8_t{}, predict::PixelType::uint8, {0, 1, 127, 128, 254, 255});
  check(std::uint16_t{}, predict::PixelType::uint16, {0, 1, 32767, 32768, 40000, 65535});
  check(std::int16_t{}, predict::PixelType::int16, {-32768, -1, 0, 1, 32767});
  check(float{}, predict::PixelType::float32,
        {0.5f, -3.75e9f, std::nanf(""), INFINITY, -INFINITY, 1e-30f});
}

}  // namespace

TEST(Predict, PixelsNormaliseOnTheModelsSideAsTheHostNormalises) {
  expect_normalised_as_on_the_host(torch::kCPU);
}

TEST(PredictGpu, PixelsNormaliseOnTheGpuAsOnTheHost) {
  if (!torch::cuda::is_available())
    GTEST_SKIP() << "no CUDA device: the pixels cannot be normalised on one here";
  expect_normalised_as_on_the_host(torch::Device(torch::kCUDA, 0));
}

TEST(Predict, BenchRunsThePipelineWithAnIdentityModel) {
  const std::string dir = test::fresh_directory("predict-bench");
  const auto scene = test::synthetic_scene(dir + "/scene", 300, 5);
  const auto expected = argmax_of_bands(scene.scene_path);
  ASSERT_GT(count_equal(expected, 255), 0u) << "the scene has a nodata corner";
  const auto bench =
      test::run_satunet({"bench", "predict", "--image", scene.scene_path, "--stitch-to",
                         dir + "/mask.tif", "--tile", "64", "--batch", "4", "-q"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  const std::int64_t windows = geo::WindowGrid(300, 300, 64, 16).count();
  EXPECT_NE(bench.out.find("predicted " + std::to_string(windows) + " windows (0.09 Mpx) in "),
            std::string::npos)
      << bench.out;
  EXPECT_NE(bench.out.find("pipeline (identity model, blended straight into the class map): "),
            std::string::npos)
      << bench.out;
  EXPECT_NE(bench.out.find(" Mpx/s"), std::string::npos) << bench.out;
  EXPECT_EQ(test::read_band_u8(dir + "/mask.tif"), expected);

  // The shard path, stitched: the same map; float16 too.
  const auto shards = test::run_satunet({"bench", "predict", "--image", scene.scene_path, "--out",
                                         dir + "/pred", "--tile", "64", "--overlap", "20",
                                         "--encoding", "float16", "--compress", "1", "-q"});
  ASSERT_EQ(shards.exit_code, 0) << shards.err;
  EXPECT_NE(shards.out.find("pipeline (identity model, prediction shards): "), std::string::npos)
      << shards.out;
  test::stitch_to(dir + "/pred", dir + "/stitched.tif");
  EXPECT_EQ(test::read_band_u8(dir + "/stitched.tif"), expected);

  // The scene's values in other types reach the model as other pixels (16-bit integers as
  // they are, the rest as floats) and must give the same map.
  for (const std::string type : {"UInt16", "Int16", "Float32", "Float64"}) {
    SCOPED_TRACE(type);
    const std::string typed = dir + "/scene-" + type + ".tif";
    ASSERT_EQ(
        test::run_program({"gdal_translate", "-q", "-ot", type, scene.scene_path, typed}).exit_code,
        0);
    const auto run = test::run_satunet({"bench", "predict", "--image", typed, "--stitch-to",
                                        dir + "/mask-" + type + ".tif", "--tile", "64", "-q"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(test::read_band_u8(dir + "/mask-" + type + ".tif"), expected);
  }

  test::expect_failure(test::run_satunet({"bench", "predict", "--image", scene.scene_path,
                                          "--stitch-to", dir + "/m.tif", "--classes", "4"}),
                       2, "--classes 4: the identity model's classes are its input bands");
  test::expect_failure(test::run_satunet({"bench", "predict", "--image", scene.scene_path}), 2,
                       "--out is required (or --stitch-to)");
  test::expect_failure(
      test::run_satunet({"bench", "predict", "--image", scene.scene_path, "--stitch-to",
                         dir + "/m.tif", "--pixel-size", "0.3"}),
      2, "--pixel-size 0.3: the identity model sees the scene's own pixels (auto or native)");
}

// --pixel-size: a scene within a tenth of the training scenes' range is predicted as it is;
// one outside it at the nearest end of the range; native and metres as asked.
TEST(Predict, PixelSizeIsTheTrainingScenesForScenesOutsideTheirRange) {
  using Mode = predict::PixelSize::Mode;
  auto parsed = [](const std::string& text) {
    predict::PixelSize size;
    parse(text, "--pixel-size", size);
    return size;
  };
  EXPECT_EQ(parsed("auto").mode, Mode::automatic);
  EXPECT_EQ(parsed("native").mode, Mode::native);
  EXPECT_EQ(parsed("0.3").mode, Mode::metres);
  EXPECT_EQ(parsed("0.3").metres, 0.3);
  EXPECT_EQ(show(parsed("0.3")), "0.3");
  for (const std::string bad : {"0", "-1", "nan", "inf", "fine", ""})
    EXPECT_THROW(parsed(bad), UsageError) << bad;

  const predict::PixelSize automatic, native = parsed("native"), metres = parsed("0.3");
  const std::optional<PixelSizeRange> trained = PixelSizeRange{0.3, 0.5};
  auto scale = [&](const predict::PixelSize& choice, double scene_m,
                   const std::optional<PixelSizeRange>& range) {
    return predict::model_pixels(choice, scene_m, range).scale;
  };
  EXPECT_EQ(scale(automatic, 0.4, trained), 1);    // inside
  EXPECT_EQ(scale(automatic, 0.54, trained), 1);   // within a tenth of 0.5
  EXPECT_EQ(scale(automatic, 0.28, trained), 1);   // within a tenth of 0.3
  EXPECT_EQ(scale(automatic, 1.0, trained), 0.5);  // coarser: each scene pixel grows to two
  EXPECT_EQ(predict::model_pixels(automatic, 1.0, trained).metres, 0.5);
  EXPECT_DOUBLE_EQ(scale(automatic, 0.1, trained), 3);  // finer: three scene pixels per one
  EXPECT_EQ(scale(automatic, 0.1, std::nullopt), 1);    // a checkpoint that does not say
  EXPECT_EQ(scale(native, 0.1, trained), 1);
  EXPECT_DOUBLE_EQ(scale(metres, 0.1, trained), 3);
  EXPECT_DOUBLE_EQ(scale(metres, 0.6, std::nullopt), 0.5);
}

// Windows resampled for the model keep their corners where they are: a ramp shrunk to half and
// grown back is the ramp again inside the window (a half-pixel slip would move it by half); a
// window shrunk by two is the means of its 2 x 2 blocks.
TEST(Predict, ResampledWindowsKeepTheirCornersAndAverageWhenShrunk) {
  const torch::Tensor ramp =
      torch::arange(64, torch::kFloat32).view({1, 1, 1, 64}).expand({2, 3, 64, 64}).contiguous();
  const torch::Tensor half = predict::resampled(ramp, 32);
  ASSERT_EQ(half.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_TRUE(torch::allclose(half, torch::avg_pool2d(ramp, {2, 2})));
  const torch::Tensor back = predict::resampled(half, 64);
  const auto inside = torch::indexing::Slice(1, 63);
  EXPECT_LT((back - ramp).index({"...", inside}).abs().max().item<float>(), 1e-4);
  const torch::Tensor noise = torch::rand({1, 2, 40, 40});
  EXPECT_TRUE(predict::resampled(noise, 40).is_same(noise));
  EXPECT_TRUE(torch::allclose(predict::resampled(noise, 20), torch::avg_pool2d(noise, {2, 2})));
  const torch::Tensor constant = torch::full({1, 2, 24, 24}, 0.25f);
  for (const int side : {17, 64})
    EXPECT_TRUE(
        torch::equal(predict::resampled(constant, side), torch::full({1, 2, side, side}, 0.25f)))
        << side;
}

TEST(Predict, StitchToChecksItsOutputsBeforePredicting) {
  const std::string dir = test::fresh_directory("predict-direct-errors");
  const auto scene = test::synthetic_scene(dir + "/scene", 128, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  auto predict = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"predict", "--checkpoint",   checkpoint,
                                     "--image", scene.scene_path, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  using test::expect_failure;
  write_file(dir + "/mask.tif", "an older mask");
  expect_failure(predict({"--stitch-to", dir + "/mask.tif"}), 1,
                 dir + "/mask.tif: exists; --overwrite replaces it");
  EXPECT_EQ(test::file_bytes(dir + "/mask.tif"), "an older mask");
  expect_failure(predict({"--stitch-to", scene.scene_path, "--overwrite"}), 1,
                 scene.scene_path + ": is an input of this command");
  expect_failure(predict({"--stitch-to", dir + "/no/such/m.tif"}), 1,
                 dir + "/no/such/m.tif: no directory " + dir + "/no/such to write it in");
  expect_failure(predict({"--stitch-to", dir, "--overwrite"}), 1,
                 dir + ": is a directory, not a file");
  expect_failure(predict({"--stitch-to", dir + "/new.tif", "--probabilities", dir + "/mask.tif"}),
                 1, dir + "/mask.tif: exists; --overwrite replaces it");
  EXPECT_FALSE(fs::exists(dir + "/new.tif"));
  expect_failure(predict({}), 2, "--out is required (or --stitch-to)");
  expect_failure(predict({"--out", dir + "/pred", "--keep-probabilities"}), 2,
                 "--keep-probabilities goes with --stitch-to");
  expect_failure(predict({"--stitch-to", dir + "/a.tif", "--probabilities", dir + "/a.tif"}), 2,
                 dir + "/a.tif is named for two outputs");
  const auto direct = predict({"--stitch-to", dir + "/new.tif"});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_NE(direct.out.find(" windows (0.016384 Mpx) in "), std::string::npos) << direct.out;
  EXPECT_NE(direct.out.find("mask: " + dir + "/new.tif ("), std::string::npos) << direct.out;
}

TEST(Predict, BlendedStraightIntoTheMaskEqualsShardsAndStitch) {
  const std::string dir = test::fresh_directory("predict-direct");
  const auto scene = test::synthetic_scene(dir + "/scene", 300, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3, Head::varied);
  comm::MpiCommunicator self(comm::MpiScope::self);
  for (const auto encoding :
       {shards::ProbabilityEncoding::uint8, shards::ProbabilityEncoding::float16}) {
    SCOPED_TRACE(options::enum_name(encoding));
    auto options = predict_options(checkpoint, scene.scene_path, dir + "/pred");
    options.encoding = encoding;
    options.tta = shards::Tta::flips;
    predict_alone(options, dir + "/stitched.tif", dir + "/stitched-probs.tif");

    // No directory: nothing but the mask and the probabilities asked for.
    options.out.clear();
    options.stitch_to = dir + "/direct.tif";
    options.outputs.probabilities = dir + "/direct-probs.tif";
    const predict::PredictResult result = predict::predict(options, self);
    ASSERT_TRUE(result.stitched);
    EXPECT_EQ(result.stitched->windows, result.windows);
    EXPECT_EQ(result.windows, geo::WindowGrid(300, 300, 64, 16).count());
    EXPECT_FALSE(fs::exists(dir + "/direct.tif.prediction"));
    expect_same_grid(dir + "/direct.tif", scene.scene_path);
    EXPECT_EQ(test::read_band_u8(dir + "/direct.tif"), test::read_band_u8(dir + "/stitched.tif"))
        << "the same windows blended in the same order";
    for (int band = 1; band <= 3; ++band)
      EXPECT_EQ(test::read_band_u8(dir + "/direct-probs.tif", band),
                test::read_band_u8(dir + "/stitched-probs.tif", band));
  }
  // --out with --stitch-to is written only when kept; kept, it stitches to the same mask.
  auto options = predict_options(checkpoint, scene.scene_path, dir + "/unkept");
  options.stitch_to = dir + "/unkept.tif";
  predict::predict(options, self);
  EXPECT_FALSE(fs::exists(dir + "/unkept"));
  options.out = dir + "/kept";
  options.stitch_to = dir + "/kept.tif";
  options.keep_probabilities = true;
  predict::predict(options, self);
  test::stitch_to(dir + "/kept", dir + "/kept-stitched.tif");
  EXPECT_EQ(test::read_band_u8(dir + "/kept.tif"), test::read_band_u8(dir + "/unkept.tif"));
  EXPECT_EQ(test::read_band_u8(dir + "/kept-stitched.tif"), test::read_band_u8(dir + "/kept.tif"));
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST(Predict, HostileValuesAndLeftoversAreHandled) {
  const std::string dir = test::fresh_directory("predict-hostile");
  const auto scene = test::synthetic_scene(dir + "/scene", 128, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  auto predict = [&](const std::string& model, std::vector<std::string> extra) {
    std::vector<std::string> args = {"predict",     "--checkpoint",   model,
                                     "--image",     scene.scene_path, "--out",
                                     dir + "/pred", "--overwrite",    "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  // A batch far larger than the scene's windows is one batch of them all, not padding.
  const auto huge_batch = predict(checkpoint, {"--batch", "100000"});
  ASSERT_EQ(huge_batch.exit_code, 0) << huge_batch.err;
  EXPECT_LT(huge_batch.peak_rss_mb, 1500);

  // A diverged checkpoint predicts nothing rather than an all-background mask.
  const std::string diverged = make_checkpoint(dir + "/diverged.pt", 3, Head::diverged);
  test::expect_failure(predict(diverged, {}), 1,
                       diverged + ": head.bias is not finite (a diverged run): it cannot predict");

  // The temporaries of a killed run (of any rank count) do not outlive the next.
  const std::string leftover = dir + "/pred/shards/.rank-1-of-2.partial-12345.h5";
  std::ofstream(leftover) << "half a shard";
  ASSERT_EQ(predict(checkpoint, {}).exit_code, 0);
  EXPECT_FALSE(fs::exists(leftover));
}

TEST(Predict, BadInputFailsWithAClearMessage) {
  const std::string dir = test::fresh_directory("predict-errors");
  const auto scene = test::synthetic_scene(dir + "/scene", 128, 5);
  const auto four_bands = test::synthetic_scene(dir + "/scene4", 128, 5, 4);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  auto predict = [&](const std::string& image, const std::string& model,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"predict", "--checkpoint", model,         "--image",
                                     image,     "--out",        dir + "/pred", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  using test::expect_failure;
  {  // a model of another pixel type: its normalisation fits other values
    auto loaded = model::load_checkpoint(checkpoint);
    for (auto& band : loaded.meta.bands)
      band.dtype = "uint16";
    model::save_checkpoint(dir + "/uint16.pt", loaded.model, loaded.meta);
    expect_failure(predict(scene.scene_path, dir + "/uint16.pt"), 1,
                   scene.scene_path + ": band 1 holds uint8 pixels, but the model in " + dir +
                       "/uint16.pt was trained on uint16 ones");
    EXPECT_EQ(model::load_checkpoint(dir + "/uint16.pt").meta.bands.at(2).dtype, "uint16");
  }
  expect_failure(predict(four_bands.scene_path, checkpoint), 1,
                 four_bands.scene_path +
                     ": 4 input bands (red, green, blue, nir) but the model in " + checkpoint +
                     " takes 3 (red, green, blue); choose them with --bands");
  EXPECT_EQ(predict(four_bands.scene_path, checkpoint, {"--bands", "1,2,3"}).exit_code, 0);

  const std::string plain = ungeoreferenced_copy(scene.scene_path, dir + "/plain.tif");
  expect_failure(predict(plain, checkpoint), 1, plain + ": raster has no georeferencing");

  {
    torch::serialize::OutputArchive archive;
    archive.write("satunet_schema", c10::IValue(int64_t{99}));
    archive.save_to(dir + "/future.pt");
  }
  expect_failure(predict(scene.scene_path, dir + "/future.pt"), 1,
                 dir + "/future.pt: checkpoint schema version 99");
  expect_failure(predict(scene.scene_path, dir + "/missing.pt"), 1,
                 dir + "/missing.pt: no such checkpoint");
  expect_failure(predict(dir + "/missing.tif", checkpoint), 1, dir + "/missing.tif: no such file");

  // Bad option values: exit 2, the option named.
  const std::vector<std::tuple<std::string, std::string, std::string>> bad_options = {
      {"--blend", "linear", "--blend must be gaussian, cosine or uniform"},
      {"--tta", "rotations", "--tta must be none or flips"},
      {"--overlap", "64", "--overlap must be in [0, tile)"},
      {"--tile", "66", "--tile 66 is not a multiple of 4"},
      {"--encoding", "float8", "--encoding must be uint8 or float16 (got 'float8')"},
      {"--device", "tpu", "--device must be auto, cpu or cuda (got 'tpu')"},
      {"--batch", "0", "--batch must be at least 1, got 0"},
      {"--compress", "12", "--compress must be 0 (none), 1..9 (deflate level) or lz4 (got '12')"},
      {"--threads", "-1", "--threads must be 0 (automatic) to 1024"},
      {"--threads", "100000", "--threads must be 0 (automatic) to 1024"},
      {"--tile", "32768", "--tile must be 1 to 4096 (or 0: the checkpoint's tile size)"},
      {"--precision", "bf16", "--precision bf16 needs a GPU"},
      {"--precision", "fp16", "--precision must be auto, fp32 or bf16 (got 'fp16')"},
      {"--pixel-size", "fine",
       "--pixel-size: 'fine' is none of auto, native and a ground pixel size in metres"},
      {"--pixel-size", "40",
       ": windows of 64 of the model's pixels are 5120 of the scene's, outside 8 to 4096 px: "
       "change --tile or --pixel-size (native: the scene as it is)"}};
  for (const auto& [option, value, message] : bad_options)
    expect_failure(predict(scene.scene_path, checkpoint, {option, value}), 2, message);
  expect_failure(predict(scene.scene_path, checkpoint, {"--bands", "1,2,7"}), 1,
                 scene.scene_path + ": --bands asks for band 7 but the scene has 3");

  // A finished prediction is not replaced by accident.
  ASSERT_EQ(predict(scene.scene_path, checkpoint, {"--overwrite"}).exit_code, 0);
  expect_failure(predict(scene.scene_path, checkpoint), 1,
                 dir + "/pred: holds a prediction already; --overwrite replaces it");

  // A dataset's shards are never taken for old prediction shards.
  fs::create_directories(dir + "/dataset/shards");
  write_file(dir + "/dataset/manifest.json", "{}");
  write_file(dir + "/dataset/shards/rank-0-of-1.h5", "tiles");
  expect_failure(test::run_satunet({"predict", "--checkpoint", checkpoint, "--image",
                                    scene.scene_path, "--out", dir + "/dataset", "--overwrite"}),
                 1, dir + "/dataset: is a dataset directory (it has a manifest.json)");
  EXPECT_TRUE(fs::exists(dir + "/dataset/shards/rank-0-of-1.h5"));
}

// A scene GDAL opens is a scene, whether or not std::filesystem sees a file there: one inside
// a zip archive (/vsizip/) is predicted as the same scene outside it.
TEST(Predict, ASceneInsideAZipIsReadThroughGdal) {
  const std::string dir = test::fresh_directory("predict-zip");
  const auto scene = test::synthetic_scene(dir + "/scene", 96, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3, Head::varied);
  geo::init_gdal();
  const std::string zip = "/vsizip/" + dir + "/scene.zip";
  {
    const std::string bytes = test::file_bytes(scene.scene_path);
    VSILFILE* out = VSIFOpenL((zip + "/scene.tif").c_str(), "wb");
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(VSIFWriteL(bytes.data(), 1, bytes.size(), out), bytes.size());
    VSIFCloseL(out);
  }
  auto predict = [&](const std::string& image, const std::string& name) {
    return test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", image, "--out",
                              dir + "/" + name, "--stitch-to", dir + "/" + name + ".tif",
                              "--threads", "1", "-q"});
  };
  const auto plain = predict(scene.scene_path, "plain");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const auto zipped = predict(zip + "/scene.tif", "zipped");
  ASSERT_EQ(zipped.exit_code, 0) << zipped.err;
  expect_same_grid(dir + "/zipped.tif", scene.scene_path);
  EXPECT_EQ(test::read_band_u8(dir + "/zipped.tif"), test::read_band_u8(dir + "/plain.tif"));
  test::expect_failure(predict(zip + "/nothing.tif", "none"), 1,
                       zip + "/nothing.tif: no such file");
}

TEST(Predict, StitchToWritesEveryOutputAndInfoDescribesThePrediction) {
  const std::string dir = test::fresh_directory("predict-cli");
  const auto scene = test::synthetic_scene(dir + "/scene", 160, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  const auto run = test::run_satunet({"predict",
                                      "--checkpoint",
                                      checkpoint,
                                      "--image",
                                      scene.scene_path,
                                      "--out",
                                      dir + "/pred",
                                      "--tile",
                                      "64",
                                      "--overlap",
                                      "24",
                                      "--blend",
                                      "cosine",
                                      "--tta",
                                      "flips",
                                      "--encoding",
                                      "float16",
                                      "--compress",
                                      "lz4",
                                      "--stitch-to",
                                      dir + "/mask.tif",
                                      "--keep-probabilities",
                                      "--probabilities",
                                      dir + "/probs.tif",
                                      "--format",
                                      "COG",
                                      "--threads",
                                      "1",
                                      "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  expect_same_grid(dir + "/mask.tif", scene.scene_path);
  const geo::Raster probabilities = geo::Raster::open(dir + "/probs.tif");
  ASSERT_EQ(probabilities.info().bands.size(), 3u);
  EXPECT_EQ(probabilities.info().bands[1].description, "building");
  // Probabilities of a valid pixel add up to one (within the uint8 rounding).
  const auto valid = scene_validity(scene.scene_path);
  std::vector<std::vector<std::uint8_t>> bands;
  for (int band = 1; band <= 3; ++band)
    bands.push_back(test::read_band_u8(dir + "/probs.tif", band));
  for (std::size_t i = 0; i < valid.size(); i += 7) {
    if (!valid[i])
      continue;
    ASSERT_NEAR(bands[0][i] + bands[1][i] + bands[2][i], 255, 2) << i;
  }
  GDALDatasetUniquePtr cog(GDALDataset::Open((dir + "/mask.tif").c_str(), GDAL_OF_RASTER));
  EXPECT_STREQ(cog->GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"), "COG");
  EXPECT_EQ(cog->GetMetadataItem("PREDICTOR", "IMAGE_STRUCTURE"), nullptr);  // class ids
  GDALDatasetUniquePtr probabilities_cog(
      GDALDataset::Open((dir + "/probs.tif").c_str(), GDAL_OF_RASTER));
  EXPECT_STREQ(probabilities_cog->GetMetadataItem("PREDICTOR", "IMAGE_STRUCTURE"), "2");

  const auto info = test::run_satunet({"info", dir + "/pred", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto json = nlohmann::json::parse(info.out);
  EXPECT_EQ(json["kind"], "satunet prediction");
  EXPECT_EQ(json["tile"], 64);
  EXPECT_EQ(json["overlap"], 24);
  EXPECT_EQ(json["blend"], "cosine");
  EXPECT_EQ(json["tta"], "flips");
  EXPECT_EQ(json["encoding"], "float16");
  EXPECT_EQ(json["classes"], kClasses);
  EXPECT_EQ(json["width"], 160);
  const auto text = test::run_satunet({"info", dir + "/pred"});
  EXPECT_NE(text.out.find("windows:    64 px, overlap 24, blend cosine"), std::string::npos)
      << text.out;
  // The probabilities went through LZ4 (HDF5 filter 32004), and stitched as above.
  const std::string shard = dir + "/pred/shards/rank-0-of-1.h5";
  const hid_t file = H5Fopen(shard.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0) << shard;
  const hid_t dataset = H5Dopen2(file, "probabilities", H5P_DEFAULT);
  const hid_t creation = H5Dget_create_plist(dataset);
  EXPECT_GE(H5Pget_filter_by_id2(creation, 32004, nullptr, nullptr, nullptr, 0, nullptr, nullptr),
            0);
  H5Pclose(creation);
  H5Dclose(dataset);
  H5Fclose(file);
  // Nothing is left under a temporary name.
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST(Predict, MaskHasTheScenesGridOnGeneratedAndRealScenes) {
  const std::string dir = test::fresh_directory("predict-georef");
  const auto scene = test::synthetic_scene(dir + "/scene", 200, 5);
  // Atlanta: UTM, uint16, 3 bands; Vegas: EPSG:4326 with an alpha band; Kampala: EPSG:4326.
  const std::vector<std::string> scenes = {scene.scene_path,
                                           test::real_data("spacenet4_atlanta_buildings/image.tif"),
                                           test::real_data("spacenet3_vegas_roads/image.tif"),
                                           test::real_data("kampala_buildings/image.tif")};
  for (const std::string& image : scenes) {
    SCOPED_TRACE(image);
    const geo::Raster raster = geo::Raster::open(image);
    int bands = 0;
    for (const geo::BandInfo& band : raster.info().bands)
      bands += band.colour != "Alpha";
    const std::string checkpoint =
        make_checkpoint(dir + "/model" + std::to_string(bands) + ".pt", bands);
    auto options = predict_options(checkpoint, image, dir + "/pred");
    options.batch = 16;
    predict_alone(options, dir + "/mask.tif");
    expect_same_grid(dir + "/mask.tif", image);
    // Nodata (alpha 0, or every band at its nodata value) is 255 in the mask, and only there.
    const auto valid = scene_validity(image);
    const auto mask = test::read_band_u8(dir + "/mask.tif");
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < mask.size(); ++i)
      wrong += (mask[i] == 255) != (valid[i] == 0);
    EXPECT_EQ(wrong, 0u);
    EXPECT_LT(count_equal(mask, 255), mask.size());
  }
}

TEST(Predict, ConstantModelGivesAConstantMaskAtEveryOverlapAndBlend) {
  const std::string dir = test::fresh_directory("predict-constant");
  const auto scene = test::synthetic_scene(dir + "/scene", 232, 5);
  const std::string checkpoint = make_checkpoint(dir + "/constant.pt", 3, Head::building);
  const auto valid = scene_validity(scene.scene_path);
  ASSERT_GT(count_equal(valid, 0), 0u) << "the generated scene has a nodata corner";
  // softmax(0, 2, 0) for building, quantised as predict stores it.
  const double building = std::exp(2.0) / (std::exp(2.0) + 2.0);
  const auto expected_building = static_cast<std::uint8_t>(std::lround(building * 255));
  auto expect_constant = [&](const predict::PredictOptions& options) {
    predict_alone(options, dir + "/mask.tif", dir + "/probabilities.tif");
    expect_same_grid(dir + "/mask.tif", scene.scene_path);
    const auto mask = test::read_band_u8(dir + "/mask.tif");
    const auto probabilities = test::read_band_u8(dir + "/probabilities.tif", 2);
    ASSERT_EQ(mask.size(), valid.size());
    std::size_t wrong = 0, seams = 0;
    for (std::size_t i = 0; i < mask.size(); ++i) {
      wrong += mask[i] != (valid[i] ? 1 : 255);
      seams += valid[i] && probabilities[i] != expected_building;
    }
    EXPECT_EQ(wrong, 0u);
    EXPECT_EQ(seams, 0u) << "blended probability differs from the windows' own";
  };
  for (int overlap : {0, 8, 16, 32}) {
    for (const shards::Blend blend :
         {shards::Blend::gaussian, shards::Blend::cosine, shards::Blend::uniform}) {
      SCOPED_TRACE("overlap " + std::to_string(overlap) + ", " + options::enum_name(blend));
      auto options = predict_options(checkpoint, scene.scene_path, dir + "/pred");
      options.overlap = overlap;
      options.blend = blend;
      expect_constant(options);
    }
  }
  // Windows resampled to other pixel sizes (the scene's are 0.5 m): fewer or more of the
  // scene's pixels per window, the same constant everywhere.
  for (const std::string pixel_size : {"0.3", "0.9"}) {
    SCOPED_TRACE("--pixel-size " + pixel_size);
    auto options = predict_options(checkpoint, scene.scene_path, dir + "/pred");
    parse(pixel_size, "--pixel-size", options.pixel_size);
    expect_constant(options);
  }
}

}  // namespace satunet
