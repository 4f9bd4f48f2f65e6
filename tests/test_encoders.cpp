// ResNet encoders: the same features as torchvision's own ResNets from the same state dict
// (goldens made by tests/model/resnet_goldens.py, the EncoderGoldens ctest fixture), the U-Net
// segmentation_models.pytorch builds over them, and files that are not such a state dict.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "model/checkpoint.hpp"
#include "model/encoder_weights.hpp"
#include "model/resnet.hpp"
#include "model/unet.hpp"
#include "test_support.hpp"

namespace satunet::model {
namespace {

const std::string kGoldens = SATUNET_ENCODER_GOLDENS;

// The goldens, or a skip where the fixture has not made them (the binary run by hand).
bool have_goldens() {
  return std::filesystem::exists(kGoldens + "/resnet50-4.pt");
}

c10::Dict<c10::IValue, c10::IValue> read_tensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  return torch::pickle_load(bytes).toGenericDict();
}

using test::expect_error;

// The dataset's band names the tests load weights for: n of red, green, blue, nir.
std::vector<std::string> colour_bands(int64_t n) {
  const std::vector<std::string> names{"red", "green", "blue", "nir"};
  return {names.begin(), names.begin() + n};
}

}  // namespace

TEST(Encoder, FeaturesEqualTorchvisionsFromTheSameStateDict) {
  if (!have_goldens())
    GTEST_SKIP() << "no goldens in " << kGoldens << ": ctest -R Encoder makes them";
  torch::NoGradGuard no_grad;
  for (const Encoder kind : {Encoder::resnet18, Encoder::resnet34, Encoder::resnet50}) {
    const std::string arch = options::enum_name(kind);
    for (const int64_t bands : {3, 4}) {
      SCOPED_TRACE(arch + ", " + std::to_string(bands) + " bands");
      ResNetEncoder encoder(kind, bands);
      const EncoderWeights loaded =
          load_encoder_weights(*encoder, kind, kGoldens + "/" + arch + ".pt", colour_bands(bands));
      EXPECT_EQ(loaded.skipped, 2) << "torchvision's fc weight and bias";
      EXPECT_EQ(loaded.tensors, static_cast<int64_t>(encoder->named_parameters().size() +
                                                     encoder->named_buffers().size()));
      EXPECT_EQ(loaded.adapted, bands != 3);
      encoder->eval();
      const auto golden = read_tensors(kGoldens + "/" + arch + "-" + std::to_string(bands) + ".pt");
      const std::vector<torch::Tensor> features = encoder->forward(golden.at("input").toTensor());
      ASSERT_EQ(features.size(), 5u);
      for (std::size_t i = 0; i < features.size(); ++i) {
        const torch::Tensor expected = golden.at("feature" + std::to_string(i)).toTensor();
        ASSERT_EQ(features[i].sizes(), expected.sizes()) << "feature " << i;
        EXPECT_EQ(features[i].size(1), encoder->channels()[i]);
        const double difference = (features[i] - expected).abs().max().item<double>();
        EXPECT_LE(difference, 1e-5) << "feature " << i;
      }
    }
  }
}

TEST(Encoder, FilesThatAreNotTheEncodersStateDictAreRefused) {
  if (!have_goldens())
    GTEST_SKIP() << "no goldens in " << kGoldens << ": ctest -R Encoder makes them";
  ResNetEncoder resnet18(Encoder::resnet18, 3), resnet34(Encoder::resnet34, 3);
  const std::vector<std::string> rgb = colour_bands(3);
  expect_error(
      [&] { load_encoder_weights(*resnet34, Encoder::resnet34, kGoldens + "/resnet18.pt", rgb); },
      kGoldens +
          "/resnet18.pt: has no layer1.2.conv1.weight: not a torchvision resnet34 "
          "state dict");
  expect_error(
      [&] { load_encoder_weights(*resnet18, Encoder::resnet18, kGoldens + "/resnet50.pt", rgb); },
      kGoldens +
          "/resnet50.pt: layer1.0.conv1.weight is [64, 64, 1, 1], a torchvision "
          "resnet18's [64, 64, 3, 3]");
  // torchvision's own files are OrderedDicts, which LibTorch cannot read: the message says how
  // to convert them.
  for (const std::string name : {"resnet18-ordered.pt", "resnet18-legacy.pt", "resnet18-tensor.pt"})
    expect_error(
        [&] { load_encoder_weights(*resnet18, Encoder::resnet18, kGoldens + "/" + name, rgb); },
        "not a state dict saved as a plain dict in torch.save's zip format; "
        "torchvision's files convert with: python3 -c");
  const std::string text = test::fresh_directory("encoder") + "/weights.txt";
  std::ofstream(text) << "not weights";
  expect_error([&] { load_encoder_weights(*resnet18, Encoder::resnet18, text, rgb); },
               text + ": not a");
  expect_error([&] { load_encoder_weights(*resnet18, Encoder::resnet18, text + ".missing", rgb); },
               "cannot open the encoder weights");
}

TEST(Encoder, SatelliteWeightsGiveEachBandTheFirstLayerChannelOfItsName) {
  if (!have_goldens())
    GTEST_SKIP() << "no goldens in " << kGoldens << ": ctest -R Encoder makes them";
  torch::NoGradGuard no_grad;
  const std::string ssl4eo = kGoldens + "/ssl4eo.pt";
  const auto file = read_tensors(ssl4eo);
  const torch::Tensor conv1 = file.at("conv1.weight").toTensor();

  // A Sentinel-2 scene's B04,B03,B02,B08 (as STAC and GDAL name them) take the channels
  // TorchGeo's names B4, B3, B2, B8: the features are torchvision's through those channels.
  ResNetEncoder four(Encoder::resnet50, 4);
  const EncoderWeights loaded =
      load_encoder_weights(*four, Encoder::resnet50, ssl4eo, {"B04", "b03", "B02", "B08"});
  EXPECT_EQ(loaded.selected, (std::vector<std::string>{"B4", "B3", "B2", "B8"}));
  EXPECT_TRUE(loaded.adapted);
  EXPECT_EQ(loaded.skipped, 0) << "no fc in SSL4EO's weights";
  EXPECT_EQ(loaded.tensors,
            static_cast<int64_t>(four->named_parameters().size() + four->named_buffers().size()));
  four->eval();
  const auto golden = read_tensors(kGoldens + "/ssl4eo-B04B03B02B08.pt");
  const std::vector<torch::Tensor> features = four->forward(golden.at("input").toTensor());
  for (std::size_t i = 0; i < features.size(); ++i) {
    const torch::Tensor expected = golden.at("feature" + std::to_string(i)).toTensor();
    ASSERT_EQ(features[i].sizes(), expected.sizes()) << "feature " << i;
    EXPECT_LE((features[i] - expected).abs().max().item<double>(), 1e-5) << "feature " << i;
  }

  // Sentinel-2 L2A's 12 bands (no B10) take 12 of the 13 channels, to the bit.
  const std::vector<std::string> l2a{"B01", "B02", "B03", "B04", "B05", "B06",
                                     "B07", "B08", "B8A", "B09", "B11", "B12"};
  ResNetEncoder twelve(Encoder::resnet50, 12);
  EXPECT_TRUE(load_encoder_weights(*twelve, Encoder::resnet50, ssl4eo, l2a).adapted);
  const torch::Tensor without_b10 = torch::cat({conv1.slice(1, 0, 10), conv1.slice(1, 11)}, 1);
  EXPECT_TRUE(torch::equal(twelve->named_parameters()["conv1.weight"], without_b10));
  // All 13 in the file's order: the first layer as it is.
  std::vector<std::string> l1c = l2a;
  l1c.insert(l1c.begin() + 10, "B10");
  ResNetEncoder thirteen(Encoder::resnet50, 13);
  EXPECT_FALSE(load_encoder_weights(*thirteen, Encoder::resnet50, ssl4eo, l1c).adapted);
  EXPECT_TRUE(torch::equal(thirteen->named_parameters()["conv1.weight"], conv1));

  // What cannot be matched is refused, naming the file and the band.
  expect_error([&] { load_encoder_weights(*four, Encoder::resnet50, ssl4eo, colour_bands(4)); },
               ssl4eo +
                   ": the dataset's band red is not among the weights' bands "
                   "B1,B2,B3,B4,B5,B6,B7,B8,B8A,B9,B10,B11,B12");
  expect_error(
      [&] {
        load_encoder_weights(*four, Encoder::resnet50, kGoldens + "/ssl4eo-unnamed.pt",
                             colour_bands(4));
      },
      "ssl4eo-unnamed.pt: its first layer takes 13 bands and the dataset has 4: add "
      "the names of its bands");
  expect_error(
      [&] {
        load_encoder_weights(*four, Encoder::resnet50, kGoldens + "/ssl4eo-12-names.pt", l2a);
      },
      "ssl4eo-12-names.pt: names 12 bands, but its conv1.weight is [64, 13, 7, 7]");
  expect_error(
      [&] {
        load_encoder_weights(*four, Encoder::resnet50, kGoldens + "/ssl4eo-bands-text.pt", l2a);
      },
      "ssl4eo-bands-text.pt: its \"bands\" entry is not a list of band names");
}

TEST(Encoder, FirstLayerForOtherBandCountsFollowsSegmentationModelsPytorch) {
  const torch::Tensor rgb = torch::arange(2 * 3 * 1 * 1, torch::kFloat32).reshape({2, 3, 1, 1});
  EXPECT_TRUE(torch::equal(first_layer_weights(rgb, 1), rgb.sum(1, true)));
  EXPECT_TRUE(torch::allclose(first_layer_weights(rgb, 3), rgb));
  const torch::Tensor five = first_layer_weights(rgb, 5);
  const torch::Tensor expected =
      torch::cat({rgb, rgb.slice(1, 0, 2)}, 1) * (3.0 / 5.0);  // R G B R G, scaled by 3/5
  EXPECT_TRUE(torch::allclose(five, expected));
}

TEST(Encoder, UNetOverAResNetHasTheShapesOfSegmentationModelsPytorchs) {
  torch::NoGradGuard no_grad;
  UNet net(UNetOptions().in_channels(4).classes(3).base(2).encoder(Encoder::resnet50));
  net->eval();
  ShapeTrace trace;
  const torch::Tensor out = net->forward(torch::randn({1, 4, 64, 96}), &trace);
  EXPECT_EQ(
      trace.encoder,
      (std::vector<std::vector<int64_t>>{
          {1, 64, 32, 48}, {1, 256, 16, 24}, {1, 512, 8, 12}, {1, 1024, 4, 6}, {1, 2048, 2, 3}}));
  EXPECT_EQ(trace.decoder,
            (std::vector<std::vector<int64_t>>{
                {1, 32, 4, 6}, {1, 16, 8, 12}, {1, 8, 16, 24}, {1, 4, 32, 48}, {1, 2, 64, 96}}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 64, 96}));
  EXPECT_THROW(net->forward(torch::randn({1, 4, 48, 64})), Error) << "48 is not a multiple of 32";
  // The encoder's tensors carry torchvision's names under encoder.
  const auto parameters = net->named_parameters();
  EXPECT_NE(parameters.find("encoder.layer4.2.conv3.weight"), nullptr);
  EXPECT_NE(parameters.find("encoder.layer1.0.downsample.0.weight"), nullptr);
  EXPECT_EQ(UNetOptions::from_json(net->options().to_json()).encoder(), Encoder::resnet50);
  EXPECT_EQ(net->options().levels(), 5);
  // The decoder's 3x3 weights, counted without building the model (to refuse one too large
  // before building it), are the built decoder's.
  double decoder_weights = 0;
  for (const auto& item : parameters)
    if (item.key().rfind("decoder.", 0) == 0 && item.value().dim() == 4)
      decoder_weights += static_cast<double>(item.value().numel());
  EXPECT_EQ(net->options().conv3x3_weights(), decoder_weights);
}

TEST(Encoder, OptionsThatOnlyThePlainEncoderHasAreRefused) {
  const auto resnet = [] { return UNetOptions().encoder(Encoder::resnet18); };
  EXPECT_NO_THROW(resnet().validate());
  for (const auto& [options, says] : std::vector<std::pair<UNetOptions, std::string>>{
           {resnet().attention(true), "--attention applies to the plain encoder only"},
           {resnet().block(BlockKind::residual), "--block applies to the plain encoder only"},
           {resnet().upsampling(Upsampling::bilinear),
            "--upsampling applies to the plain encoder only, not --encoder resnet18"}}) {
    try {
      options.validate();
      ADD_FAILURE() << "accepted; expected " << says;
    } catch (const UsageError& error) {
      EXPECT_NE(std::string(error.what()).find(says), std::string::npos) << error.what();
    }
  }
}

TEST(Encoder, TrainsFromImageNetWeightsFrozenFirstThenPredictsAndIsDescribed) {
  if (!have_goldens())
    GTEST_SKIP() << "no goldens in " << kGoldens << ": ctest -R Encoder makes them";
  const std::string dir = test::fresh_directory("encoder-train");
  const std::string data = test::make_synthetic_dataset(dir, 256, 0.15, 2);
  const std::string weights = kGoldens + "/resnet18.pt";
  const auto train = [&](const std::string& out, const std::string& steps) {
    return test::run_satunet({"train",    "--data",
                              data,       "--out",
                              out,        "--encoder",
                              "resnet18", "--encoder-weights",
                              weights,    "--freeze-encoder-steps",
                              "2",        "--base",
                              "2",        "--batch",
                              "2",        "--max-steps",
                              steps,      "--threads",
                              "1",        "-q"});
  };
  const auto frozen = train(dir + "/frozen", "2");
  ASSERT_EQ(frozen.exit_code, 0) << frozen.err;
  const auto thawed = train(dir + "/thawed", "3");
  ASSERT_EQ(thawed.exit_code, 0) << thawed.err;

  // Two frozen steps leave every encoder weight as the file has it, to the bit; the third moves
  // them. (The running statistics adapt all along.)
  const auto imagenet = read_tensors(weights);
  const auto after = [&](const std::string& run) {
    return load_checkpoint(run + "/checkpoints/last.pt").model->named_parameters();
  };
  const auto frozen_weights = after(dir + "/frozen"), thawed_weights = after(dir + "/thawed");
  int encoder_weights = 0;
  for (const auto& item : frozen_weights) {
    if (item.key().rfind("encoder.", 0) != 0)
      continue;
    const torch::Tensor file = imagenet.at(item.key().substr(8)).toTensor();
    EXPECT_TRUE(torch::equal(item.value(), file)) << item.key() << " moved while frozen";
    ++encoder_weights;
  }
  EXPECT_EQ(encoder_weights, 60) << "resnet18's convolutions and batch-norm affines";
  EXPECT_FALSE(
      torch::equal(thawed_weights["encoder.conv1.weight"], imagenet.at("conv1.weight").toTensor()));
  EXPECT_FALSE(torch::equal(frozen_weights["decoder.4.conv2.0.weight"],
                            thawed_weights["decoder.4.conv2.0.weight"]));
  std::ifstream config_file(dir + "/frozen/config.json");
  const auto config = nlohmann::json::parse(config_file);
  EXPECT_EQ(config.at("encoder_weights"), weights);
  EXPECT_EQ(config.at("freeze_encoder_steps"), 2);
  EXPECT_EQ(config.at("model").at("encoder"), "resnet18");

  const std::string checkpoint = dir + "/thawed/checkpoints/last.pt";
  const auto info = test::run_satunet({"info", checkpoint});
  EXPECT_NE(info.out.find("U-Net over a resnet18 encoder"), std::string::npos) << info.out;
  const auto scene = test::synthetic_scene(dir + "/unseen", 160, 5);
  const auto predicted =
      test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", scene.scene_path,
                         "--out", dir + "/pred", "--tile", "64", "--overlap", "16", "--stitch-to",
                         dir + "/mask.tif", "--threads", "1", "-q"});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  test::expect_same_grid(dir + "/mask.tif", scene.scene_path);
  test::expect_failure(
      test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", scene.scene_path,
                         "--out", dir + "/pred48", "--tile", "48", "-q"}),
      2, "--tile 48 is not a multiple of 32, which the model's 5 levels need");

  test::expect_failure(test::run_satunet({"train", "--data", data, "--out", dir + "/plain",
                                          "--encoder-weights", weights, "-q"}),
                       2, "--encoder-weights needs a ResNet --encoder");
  test::expect_failure(
      test::run_satunet({"train", "--data", data, "--out", dir + "/bad", "--encoder", "resnet34",
                         "--encoder-weights", weights, "--max-steps", "1", "-q"}),
      1, weights + ": has no layer1.2.conv1.weight: not a torchvision resnet34");
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad/checkpoints/last.pt"));
}

// A Sentinel-2-like scene (12 bands, uint16) tiled on its B04,B03,B02,B08 trains a ResNet-50
// from 13-band SSL4EO-S12 weights: the frozen first layer holds the file's channels of those
// bands, as named, to the bit.
TEST(Encoder, TrainsFromSentinel2WeightsOnTheScenesBandsChosenByName) {
  if (!have_goldens())
    GTEST_SKIP() << "no goldens in " << kGoldens << ": ctest -R Encoder makes them";
  const std::string dir = test::fresh_directory("encoder-ssl4eo");
  const auto scene = test::synthetic_scene(dir + "/scene", 192, 4, 12, synth::SampleType::uint16);
  const auto tiled = test::run_satunet(
      {"tile", "--out", dir + "/data", "--image", scene.scene_path, "--bands", "B04,B03,B02,B08",
       "--labels", "building=" + scene.buildings_path, "--tile", "64", "--overlap", "0", "-q"});
  ASSERT_EQ(tiled.exit_code, 0) << tiled.err;
  const std::string weights = kGoldens + "/ssl4eo.pt";
  const auto trained =
      test::run_satunet({"train", "--data", dir + "/data", "--out", dir + "/run", "--encoder",
                         "resnet50", "--encoder-weights", weights, "--freeze-encoder-steps", "2",
                         "--base", "2", "--batch", "2", "--max-steps", "2", "--threads", "1"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE((trained.out + trained.err).find("first layer on its bands B4,B3,B2,B8"),
            std::string::npos)
      << trained.out << trained.err;
  const auto run = load_checkpoint(dir + "/run/checkpoints/last.pt");
  const torch::Tensor file_conv1 = read_tensors(weights).at("conv1.weight").toTensor();
  EXPECT_TRUE(torch::equal(run.model->named_parameters()["encoder.conv1.weight"],
                           file_conv1.index_select(1, torch::tensor({3, 2, 1, 7}))));
  EXPECT_TRUE(torch::isfinite(run.model->named_parameters()["head.weight"]).all().item<bool>());
}

}  // namespace satunet::model
