// satunet export: a representative set of the model's variants, each saved as a checkpoint and
// exported, read back without satunet (tests/export/check_export.py: the state dict with its
// Python and in segmentation_models.pytorch's Unet by python3-torch, the ONNX files by
// python3-onnx's checker and python3-opencv's DNN module) give satunet's logits; the protobuf
// writer's bytes; the command through the satunet binary and its refusals.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "export/export.hpp"
#include "export/onnx_file.hpp"
#include "export/protobuf.hpp"
#include "export/state_dict.hpp"
#include "model/checkpoint.hpp"
#include "test_support.hpp"

namespace satunet::exporting {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Variant {
  std::string name;
  model::UNetOptions options;
};

// Every norm, both upsamplings, both blocks, attention gates, dropout and a ResNet encoder, at
// sizes that keep the suite to seconds.
const std::vector<Variant>& variants() {
  using model::UNetOptions;
  static const std::vector<Variant> all = {
      {"plain", UNetOptions().in_channels(3).classes(3).base(4).depth(2).dropout(0.2)},
      {"group", UNetOptions()
                    .in_channels(4)
                    .classes(2)
                    .base(4)
                    .depth(3)
                    .norm(model::Norm::group)
                    .groups(2)
                    .upsampling(model::Upsampling::bilinear)
                    .block(model::BlockKind::residual)
                    .attention(true)},
      {"bare", UNetOptions()
                   .in_channels(3)
                   .classes(3)
                   .base(8)
                   .depth(2)
                   .norm(model::Norm::none)
                   .upsampling(model::Upsampling::bilinear)
                   .attention(true)},
      {"resnet18", UNetOptions().in_channels(4).classes(3).base(2).dropout(0.1).encoder(
                       model::Encoder::resnet18)},
  };
  return all;
}

const model::UNetOptions& options_of(const std::string& name) {
  for (const Variant& variant : variants())
    if (variant.name == name)
      return variant.options;
  throw std::logic_error("no variant " + name);
}

const std::vector<std::string> kBandNames = {"red", "green", "blue", "nir"};

// Random weights, norms' statistics and biases: a tensor the export left out or misplaced
// changes the logits.
void randomise(model::UNet& net) {
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters())
    if (item.key().find("bias") != std::string::npos)
      item.value().uniform_(-0.02, 0.02);  // below the activations: no ReLU dies of it
  for (const auto& module : net->modules(/*include_self=*/false)) {
    if (auto* norm = module->as<torch::nn::BatchNorm2d>()) {
      norm->weight.uniform_(0.5, 1.5);
      norm->running_mean.uniform_(-0.5, 0.5);
      norm->running_var.uniform_(0.5, 1.5);
    } else if (auto* group = module->as<torch::nn::GroupNorm>()) {
      group->weight.uniform_(0.5, 1.5);
    }
  }
}

// The head scaled so that each class's logits of `input` reach 4 in magnitude: the tolerances
// then compare numbers of a known size (float32's rounding grows with them). A network whose
// logits hardly vary (its ReLUs dead, its head's bias alone left) would compare nothing, and is
// refused.
void scale_head(const std::string& name, model::UNet& net, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  net->eval();
  const torch::Tensor per_class = net->forward(input).transpose(0, 1).flatten(1);
  const torch::Tensor scale = 4.0 / std::get<0>(per_class.abs().max(1));
  if ((per_class.std(1) * scale).min().item<double>() < 0.05)
    throw Error(name + ": logits nearly constant: the test network computes nothing");
  auto parameters = net->named_parameters();
  parameters["head.weight"].mul_(scale.view({-1, 1, 1, 1}));
  parameters["head.bias"].mul_(scale);
}

model::CheckpointMeta meta_of(const model::UNetOptions& options) {
  model::CheckpointMeta meta;
  meta.model = options;
  for (int64_t c = 0; c < options.classes(); ++c)
    meta.classes.push_back(test::kClasses[static_cast<std::size_t>(c)]);
  for (int64_t b = 0; b < options.in_channels(); ++b)
    meta.bands.push_back(
        {kBandNames[static_cast<std::size_t>(b)], 90.0 + 10.0 * b, 40.0 + b, "uint8"});
  meta.tile_size = 64;
  meta.created_by = "satunet test";
  return meta;
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ExportOptions export_options(const std::string& checkpoint, Format format, const std::string& out) {
  ExportOptions options;
  options.checkpoint = checkpoint;
  options.format = format;
  options.out = out;
  return options;
}

// CASE/checkpoint.pt, CASE/golden.pt (satunet's logits of a fixed random input, as loaded from
// the checkpoint), CASE/state-dict/ and CASE/model.onnx; for the plain U-Net also the ONNX
// files with probabilities and with a fixed input size.
void write_case(const std::string& dir, const Variant& variant) {
  torch::manual_seed(11);
  model::UNet net(variant.options);
  randomise(net);
  const torch::Tensor input = torch::randn({2, variant.options.in_channels(), 64, 96});
  scale_head(variant.name, net, input);
  const std::string checkpoint = dir + "/checkpoint.pt";
  model::save_checkpoint(checkpoint, net, meta_of(variant.options));

  model::LoadedCheckpoint loaded = model::load_checkpoint(checkpoint);
  loaded.model->eval();
  torch::NoGradGuard no_grad;
  c10::Dict<std::string, torch::Tensor> golden;
  golden.insert("input", input);
  golden.insert("logits", loaded.model->forward(input));
  write_bytes(dir + "/golden.pt", torch::pickle_save(golden));

  export_model(export_options(checkpoint, Format::state_dict, dir + "/state-dict"));
  export_model(export_options(checkpoint, Format::onnx, dir + "/model.onnx"));
  if (variant.name != "plain")
    return;
  ExportOptions probabilities =
      export_options(checkpoint, Format::onnx, dir + "/model-probabilities.onnx");
  probabilities.probabilities = true;
  export_model(probabilities);
  ExportOptions fixed = export_options(checkpoint, Format::onnx, dir + "/model-fixed.onnx");
  fixed.probabilities = true;
  fixed.input_size = 64;
  fixed.resolution_cm = 30;
  export_model(fixed);
}

}  // namespace

// Every case is written, then read by one Python process (its imports take most of the time).
class Export : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string root = std::string(SATUNET_TEST_TMP) + "/Export";
    fs::remove_all(root);
    std::vector<std::string> argv = {
        SATUNET_PYTHON, std::string(SATUNET_SOURCE_DIR) + "/tests/export/check_export.py"};
    try {
      for (const Variant& variant : variants()) {
        fs::create_directories(root + "/" + variant.name);
        write_case(root + "/" + variant.name, variant);
        argv.push_back(root + "/" + variant.name);
      }
    } catch (const std::exception& error) {
      failure_ = "writing the cases failed: " + std::string(error.what());
      return;
    }
    const test::CommandResult checked = test::run_program(argv);
    if (checked.exit_code != 0) {
      failure_ =
          "check_export.py failed (python3-torch, -torchvision, -onnx and -opencv: "
          "launch/setup.sh installs them): " +
          checked.err;
      return;
    }
    measured_ = json::parse(checked.out);
  }

  void SetUp() override { ASSERT_TRUE(failure_.empty()) << failure_; }

  // What check_export.py measured of `part` of a variant's export; throws what kept it from
  // measuring (a strict load that failed, a graph OpenCV could not read).
  static const json& measured(const std::string& variant, const std::string& part) {
    const json& found = measured_.at(variant).at(part);
    if (found.contains("error"))
      throw std::runtime_error(variant + " " + part + ": " + found.at("error").get<std::string>());
    return found;
  }

  static std::string failure_;
  static json measured_;
};
std::string Export::failure_;
json Export::measured_;

TEST_F(Export, PythonBuildsTheNetworkAndItsLogitsAreSatunets) {
  for (const Variant& variant : variants()) {
    SCOPED_TRACE(variant.name);
    const json& state = measured(variant.name, "state_dict");
    EXPECT_LE(state.at("max_diff").get<double>(), 1e-5);
    EXPECT_LE(state.at("normalise_max_diff").get<double>(), 1e-4);
    if (variant.options.encoder() != model::Encoder::plain)
      continue;
    // The plain U-Net keeps satunet's own names.
    model::UNet net(variant.options);
    std::set<std::string> names;
    for (const auto& item : net->named_parameters())
      names.insert(item.key());
    for (const auto& item : net->named_buffers())
      names.insert(item.key());
    const auto keys = state.at("keys").get<std::vector<std::string>>();
    EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), names);
  }
}

TEST_F(Export, ResNetStateDictHasSmpsNamesAndLoadsIntoItsUnet) {
  const json& smp = measured("resnet18", "smp");
  EXPECT_EQ(smp.at("missing"), json::array());
  EXPECT_EQ(smp.at("unexpected"), json::array());
  EXPECT_LE(smp.at("max_diff").get<double>(), 1e-5);
  EXPECT_EQ(smp.at("arguments"),
            json::parse(R"({"encoder_name": "resnet18", "encoder_weights": null, "in_channels": 4,
                            "classes": 3, "decoder_channels": [32, 16, 8, 4, 2],
                            "decoder_use_batchnorm": true})"));
  const auto keys = measured("resnet18", "state_dict").at("keys").get<std::vector<std::string>>();
  for (const std::string name : {"encoder.conv1.weight", "encoder.layer4.1.bn2.running_var",
                                 "decoder.blocks.0.conv1.0.weight", "decoder.blocks.4.conv2.1.bias",
                                 "segmentation_head.0.weight", "segmentation_head.0.bias"})
    EXPECT_NE(std::find(keys.begin(), keys.end(), name), keys.end()) << name;
  EXPECT_TRUE(measured("plain", "smp").at("arguments").is_null());
}

TEST_F(Export, DescriptionHoldsTheModelClassesAndNormalisation) {
  for (const Variant& variant : variants()) {
    SCOPED_TRACE(variant.name);
    const json& meta = measured(variant.name, "state_dict").at("meta");
    const model::CheckpointMeta expected = meta_of(variant.options);
    EXPECT_EQ(meta.at("model"), json::parse(variant.options.to_json()));
    EXPECT_EQ(meta.at("classes"), json(expected.classes));
    EXPECT_EQ(meta.at("bands"), bands_json(expected.bands));
    EXPECT_EQ(meta.at("tile_size"), 64);
    EXPECT_EQ(meta.at("levels"), variant.options.levels());
  }
}

TEST_F(Export, OnnxPassesTheCheckerWithBatchAndSizeGivenAtRunTime) {
  for (const Variant& variant : variants()) {
    SCOPED_TRACE(variant.name);
    const json& onnx = measured(variant.name, "onnx");
    EXPECT_EQ(onnx.at("checker"), "ok");
    EXPECT_GE(onnx.at("opset").get<int>(), 13);
    EXPECT_EQ(onnx.at("inputs"),
              json::parse(R"([["image", ["N", )" + std::to_string(variant.options.in_channels()) +
                          R"(, "H", "W"]]])"));
    EXPECT_EQ(onnx.at("outputs"),
              json::parse(R"([["logits", ["N", )" + std::to_string(variant.options.classes()) +
                          R"(, "H", "W"]]])"));
  }
  const json& fixed = measured("plain", "onnx_fixed");
  EXPECT_EQ(fixed.at("checker"), "ok");
  EXPECT_EQ(fixed.at("inputs"), json::parse(R"([["image", ["N", 3, 64, 64]]])"));
  EXPECT_EQ(fixed.at("outputs"), json::parse(R"([["probabilities", ["N", 3, 64, 64]]])"));
}

TEST_F(Export, OnnxMetadataIsWhatDeepnessReads) {
  const json metadata = measured("plain", "onnx").at("metadata");
  const auto value = [&](const std::string& key) {
    return json::parse(metadata.at(key).get<std::string>());
  };
  EXPECT_EQ(value("model_type"), "Segmentor");
  EXPECT_EQ(value("class_names"),
            json::parse(R"({"0": "background", "1": "building", "2": "road"})"));
  // Deepness divides the pixels by 255 before it standardises them.
  EXPECT_EQ(value("standardization_mean"), json::parse("[0.35294117647058826, 0.39215686274509803, "
                                                       "0.43137254901960786]"));
  EXPECT_EQ(value("standardization_std"), json::parse("[0.1568627450980392, 0.1607843137254902, "
                                                      "0.16470588235294117]"));
  EXPECT_EQ(value("tiles_size"), 64);
  EXPECT_EQ(value("tile_size"), 64);
  EXPECT_EQ(value("tiles_overlap"), kTilesOverlapPercent);
  EXPECT_EQ(value("seg_thresh"), 0);
  EXPECT_FALSE(metadata.contains("resolution")) << "unknown unless given";
  EXPECT_EQ(value("satunet_bands"), bands_json(meta_of(options_of("plain")).bands));
  EXPECT_EQ(value("satunet_model"), json::parse(options_of("plain").to_json()));
  EXPECT_EQ(value("satunet_output"), "logits");

  const json fixed = measured("plain", "onnx_fixed").at("metadata");
  EXPECT_EQ(json::parse(fixed.at("resolution").get<std::string>()), 30);
  EXPECT_EQ(json::parse(fixed.at("satunet_output").get<std::string>()), "probabilities");
}

TEST_F(Export, OpenCvGivesSatunetsLogits) {
  for (const Variant& variant : variants()) {
    SCOPED_TRACE(variant.name);
    EXPECT_LE(measured(variant.name, "onnx").at("opencv_max_diff").get<double>(), 1e-4);
  }
  EXPECT_LE(measured("plain", "onnx_probabilities").at("opencv_max_diff").get<double>(), 1e-5);
}

TEST(ExportRules, WritesProtobufsWireFormat) {
  ProtoWriter nested;
  nested.varint(1, 300).bytes(2, "ab");
  EXPECT_EQ(nested.data(), std::string("\x08\xac\x02\x12\x02"
                                       "ab",
                                       7));
  ProtoWriter outer;
  outer.message(7, nested).float32(2, 1.0f).varint(3, -1);
  EXPECT_EQ(outer.data(), std::string("\x3a\x07\x08\xac\x02\x12\x02"
                                      "ab"
                                      "\x15\x00\x00\x80\x3f"
                                      "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                                      25));
}

TEST(ExportRules, SmpArgumentsOnlyForTheNetworksSmpBuilds) {
  const auto smp_arguments = [](const model::UNetOptions& options) {
    return json::parse(export_description(meta_of(options), "c.pt", std::nullopt)).at("smp_unet");
  };
  const model::UNetOptions resnet = options_of("resnet18");
  EXPECT_EQ(smp_arguments(resnet).at("decoder_use_batchnorm"), true);
  EXPECT_EQ(
      smp_arguments(model::UNetOptions(resnet).norm(model::Norm::none)).at("decoder_use_batchnorm"),
      false);
  // SMP's decoder has no group norm, and the plain U-Net is satunet's own.
  EXPECT_TRUE(smp_arguments(model::UNetOptions(resnet).norm(model::Norm::group)).is_null());
  EXPECT_TRUE(smp_arguments(options_of("plain")).is_null());
}

TEST(ExportRules, AWeightTheGraphWouldLeaveOutIsRefused) {
  const model::UNetOptions options = options_of("plain");
  model::UNet net(options);
  net->register_parameter("extra", torch::zeros({1}));
  test::expect_error([&] { onnx_file(*net, meta_of(options), {}); },
                     "cannot export the model to ONNX: its extra has no place in the graph");
  OnnxSettings odd_size;
  odd_size.input_size = 30;
  test::expect_error([&] { onnx_file(*model::UNet(options), meta_of(options), odd_size); },
                     "--input-size 30: a U-Net of 2 levels takes sizes divisible by 4");
}

TEST(ExportRules, OptionsAndOutputsAreChecked) {
  const std::string dir = test::fresh_directory("rules");
  const std::string checkpoint = test::make_checkpoint(dir + "/model.pt", 3);
  const auto& table = export_option_table();
  test::expect_error(
      [&] {
        table.build({{"checkpoint", {checkpoint}}, {"out", {dir}}});
      },
      "--format is required");
  test::expect_error(
      [&] {
        table.build({{"format", {"onnx"}}, {"out", {dir}}});
      },
      "a CHECKPOINT to export is required");
  ExportOptions options = export_options(checkpoint, Format::state_dict, dir + "/python");
  options.probabilities = true;
  test::expect_error([&] { validate(options); },
                     "--probabilities and --input-size apply to --format onnx only");

  test::expect_error([&] { export_model(export_options(checkpoint, Format::onnx, checkpoint)); },
                     checkpoint + ": is an input of this command");
  options.probabilities = false;
  export_model(options);
  test::expect_error([&] { export_model(options); },
                     dir + "/python: holds a state dict export already; --overwrite replaces it");
  options.overwrite = true;
  EXPECT_EQ(export_model(options).files.size(), 3u);
}

namespace {

// Exit code `code` and one line on stderr holding `says`.
void expect_refusal(const std::vector<std::string>& args, int code, const std::string& says) {
  std::vector<std::string> command = {"export"};
  command.insert(command.end(), args.begin(), args.end());
  const test::CommandResult result = test::run_satunet(command);
  test::expect_failure(result, code, says);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

}  // namespace

// Each run starts satunet-torch with LibTorch (about a second here): the rules above run
// in-process, these through the binary.
TEST(ExportCli, HandedOverToSatunetTorch) {
  const std::string dir = test::fresh_directory("cli");
  const std::string checkpoint = test::make_checkpoint(dir + "/model.pt", 3);
  const auto state = test::run_satunet(
      {"export", "--checkpoint", checkpoint, "--format", "state-dict", "--out", dir + "/python"});
  EXPECT_EQ(state.exit_code, 0) << state.err;
  for (const std::string file : {"model.pt", "model.py", "model.json"}) {
    EXPECT_TRUE(fs::exists(dir + "/python/" + file)) << file;
    EXPECT_NE(state.out.find(dir + "/python/" + file), std::string::npos) << state.out;
  }
  // The binary carries src/export/unet_model.py as it is.
  EXPECT_EQ(test::file_bytes(dir + "/python/model.py"),
            test::file_bytes(std::string(SATUNET_SOURCE_DIR) + "/src/export/unet_model.py"));
}

TEST(ExportCli, RefusalsAreOneLineWithTheirExitCode) {
  const std::string dir = test::fresh_directory("refusals");
  const std::string checkpoint = test::make_checkpoint(dir + "/model.pt", 3);
  std::ofstream(dir + "/text.pt") << "not a checkpoint";
  std::ofstream(dir + "/earlier.onnx") << "an earlier export";
  const std::string out = dir + "/out.onnx";
  expect_refusal({dir + "/missing.pt", "--format", "onnx", "--out", out}, 1,
                 dir + "/missing.pt: no such checkpoint");
  expect_refusal({dir + "/text.pt", "--format", "onnx", "--out", out}, 1,
                 dir + "/text.pt: not a zip archive");
  expect_refusal({checkpoint, "--format", "tflite", "--out", out}, 2,
                 "--format must be state-dict or onnx (got 'tflite')");
  expect_refusal({checkpoint, "--format", "onnx", "--out", dir + "/earlier.onnx"}, 1,
                 dir + "/earlier.onnx: exists; --overwrite replaces it");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(test::file_bytes(dir + "/earlier.onnx"), "an earlier export");
}

}  // namespace satunet::exporting
