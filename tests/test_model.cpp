#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "model/checkpoint.hpp"
#include "model/losses.hpp"
#include "model/transfer.hpp"
#include "model/unet.hpp"
#include "test_support.hpp"

namespace satunet::model {
namespace {

std::vector<std::vector<int64_t>> shapes(std::initializer_list<std::vector<int64_t>> list) {
  return list;
}

}  // namespace

namespace {

UNet seeded_unet(std::uint64_t seed, int bands, int classes, int base = 4) {
  torch::manual_seed(seed);
  return UNet(UNetOptions().in_channels(bands).classes(classes).base(base).depth(2));
}

using test::expect_error;

// Each named parameter and buffer of `model`, copied.
std::map<std::string, torch::Tensor> tensors_of(UNet& model) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model->named_parameters())
    tensors[item.key()] = item.value().detach().clone();
  for (const auto& item : model->named_buffers())
    tensors[item.key()] = item.value().clone();
  return tensors;
}

}  // namespace

// --init-from: what is taken over is bitwise the source's, what is not keeps the target's own
// initialisation; the head only where the class lists are the same.
TEST(Transfer, CopiesExactlyWhatItIsAskedFor) {
  UNet source = seeded_unet(1, 3, 3);
  {
    // Batch-norm scales, shifts and running statistics that are not the defaults either.
    torch::NoGradGuard no_grad;
    for (auto& parameter : source->parameters())
      parameter.uniform_(0.5, 2.0);
    for (auto& buffer : source->buffers())
      if (buffer.is_floating_point())
        buffer.uniform_(0.5, 2.0);
  }
  const auto from = tensors_of(source);
  const std::vector<std::string> classes{"background", "building", "road"};
  struct Case {
    InitParts parts;
    std::vector<std::string> classes;
  };
  for (const Case& c : {Case{InitParts::all, classes}, Case{InitParts::all, {"background", "road"}},
                        Case{InitParts::encoder, classes}}) {
    UNet target = seeded_unet(2, 3, static_cast<int>(c.classes.size()));
    const auto fresh = tensors_of(target);
    const WeightTransfer transfer =
        transfer_weights(source, classes, target, c.classes, c.parts, "a.pt");
    const auto after = tensors_of(target);
    int copied = 0;
    for (const auto& [name, tensor] : after) {
      const bool head = name.rfind("head.", 0) == 0;
      const bool encoder = name.rfind("down.", 0) == 0 || name.rfind("bottleneck.", 0) == 0;
      const bool taken = c.parts == InitParts::all ? !head || c.classes == classes : encoder;
      const torch::Tensor& expected = taken ? from.at(name) : fresh.at(name);
      EXPECT_TRUE(torch::equal(tensor, expected))
          << name << (taken ? " is not the source's" : " is not its own initial value");
      if (tensor.is_floating_point() && taken) {
        EXPECT_FALSE(torch::equal(tensor, fresh.at(name))) << name << ": the test shows nothing";
      }
      copied += taken;
    }
    EXPECT_EQ(transfer.tensors, copied);
    EXPECT_EQ(transfer.head_initialised, c.classes != classes);
  }
}

TEST(Transfer, AnotherArchitectureOrBandCountIsRefused) {
  UNet source = seeded_unet(1, 3, 3);
  const std::vector<std::string> classes{"background", "building", "road"};
  UNet four_bands = seeded_unet(2, 4, 3);
  expect_error(
      [&] { transfer_weights(source, classes, four_bands, classes, InitParts::all, "a.pt"); },
      "a.pt: a model of 3 bands cannot start one of 4");
  UNet wider = seeded_unet(2, 3, 3, 8);
  expect_error(
      [&] { transfer_weights(source, classes, wider, classes, InitParts::encoder, "a.pt"); },
      "a.pt: down.0.conv.conv1.weight is [4, 3, 3, 3], this model's [8, 3, 3, 3]: another "
      "architecture");
}

TEST(Model, EveryVariantTrainsEndToEnd) {
  for (Norm norm : {Norm::batch, Norm::group, Norm::none})
    for (Upsampling upsampling : {Upsampling::transpose, Upsampling::bilinear})
      for (BlockKind block : {BlockKind::plain, BlockKind::residual})
        for (bool attention : {false, true}) {
          const auto options = UNetOptions()
                                   .in_channels(4)
                                   .classes(3)
                                   .base(4)
                                   .depth(3)
                                   .norm(norm)
                                   .upsampling(upsampling)
                                   .block(block)
                                   .attention(attention)
                                   .dropout(0.1);
          torch::manual_seed(1);
          UNet net(options);
          const torch::Tensor out = net->forward(torch::randn({2, 4, 64, 64}));
          ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 64, 64})) << options.describe();
          out.mean().backward();
          for (const auto& parameter : net->named_parameters())
            ASSERT_TRUE(parameter.value().grad().defined())
                << parameter.key() << " in " << options.describe();
        }
}

TEST(Model, ParameterCountByHand) {
  // depth 1, base 2, 1 band, 2 classes, no norm (so convs have biases):
  // down 1->2 (20) 2->2 (38); bottleneck 2->4 (76) 4->4 (148); transpose 4->2 (34);
  // up block 4->2 (74) 2->2 (38); head 2->2 (6).
  UNet net(UNetOptions().in_channels(1).classes(2).base(2).depth(1).norm(Norm::none));
  EXPECT_EQ(net->parameter_count(), 434);
}

TEST(Model, BadInputSizeIsAClearError) {
  UNet net(UNetOptions().base(4).depth(4));
  try {
    net->forward(torch::zeros({1, 3, 64, 66}));
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(),
                 "input of 66 x 64 pixels: a U-Net of 4 levels needs sizes divisible by 16");
  }
  EXPECT_THROW(net->forward(torch::zeros({1, 2, 64, 64})), Error);
  EXPECT_THROW(UNet(UNetOptions().depth(0)), UsageError);
  EXPECT_THROW(options::parse_enum<Norm>("layer", "--norm"), UsageError);
}

// The up blocks' fast path is the transposed convolution's function: values and all three
// gradients agree with LibTorch's own (to float rounding: the sums run in another order).
TEST(Model, FastTransposedConvolutionEqualsLibTorchs) {
  torch::manual_seed(3);
  torch::nn::ConvTranspose2d up(torch::nn::ConvTranspose2dOptions(6, 5, 2).stride(2));
  const torch::Tensor input = torch::randn({3, 6, 4, 7}, torch::requires_grad());
  const torch::Tensor upstream = torch::randn({3, 5, 8, 14});
  auto gradients = [&](const torch::Tensor& out) {
    up->zero_grad();
    const torch::Tensor input_grad = torch::autograd::grad({out}, {input}, {upstream}, true)[0];
    out.backward(upstream);
    return std::vector<torch::Tensor>{out.detach(), input_grad, up->weight.grad().clone(),
                                      up->bias.grad().clone()};
  };
  const auto expected = gradients(up->forward(input));
  const auto fast = gradients(upsample_transposed(input, *up));
  const char* names[] = {"output", "input gradient", "weight gradient", "bias gradient"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(fast[i].sizes(), expected[i].sizes()) << names[i];
    EXPECT_TRUE(torch::allclose(fast[i], expected[i], 1e-5, 1e-5))
        << names[i] << ": largest difference " << (fast[i] - expected[i]).abs().max().item<float>();
  }
}

TEST(Model, ConvTransposeStride2WithOnesCopiesBlocks) {
  torch::NoGradGuard no_grad;
  torch::nn::ConvTranspose2d up(torch::nn::ConvTranspose2dOptions(1, 1, 2).stride(2).bias(false));
  up->weight.fill_(1.0);
  const torch::Tensor out = up->forward(torch::tensor({{1., 2.}, {3., 4.}}).view({1, 1, 2, 2}));
  const torch::Tensor expected =
      torch::tensor({{1., 1., 2., 2.}, {1., 1., 2., 2.}, {3., 3., 4., 4.}, {3., 3., 4., 4.}});
  EXPECT_TRUE(torch::equal(out.view({4, 4}), expected)) << out;
}

TEST(Model, Conv2dWorkedExample) {
  // Channel 0: columns 10, 10, 0, 0; channel 1: all 5. Filter 0: rows [1 0 -1] on channel 0
  // and a centre 1 on channel 1; zero bias. At (1, 1): 3 rows x 10 + 5 = 35.
  torch::NoGradGuard no_grad;
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3));
  conv->weight.zero_();
  conv->bias.zero_();
  conv->weight.index_put_({0, 0}, torch::tensor({{1., 0., -1.}, {1., 0., -1.}, {1., 0., -1.}}));
  conv->weight.index_put_({0, 1, 1, 1}, 1.0);
  torch::Tensor input = torch::zeros({1, 2, 4, 4});
  input.index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice(0, 2)}, 10.0);
  input.index_put_({0, 1}, 5.0);
  const torch::Tensor out = conv->forward(input);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 2, 2}));
  EXPECT_FLOAT_EQ(out[0][0][0][0].item<float>(), 35.0f);       // window centred on (1, 1)
  EXPECT_FLOAT_EQ(out[0][0][0][1].item<float>(), 35.0f);       // columns 10, 0, 0: 3 x 10 - 0 + 5
  EXPECT_FLOAT_EQ(out[0][1].abs().sum().item<float>(), 0.0f);  // zero filters, zero bias
}

TEST(Model, ShapeTraceOfTheArticle) {
  torch::NoGradGuard no_grad;
  UNet net(UNetOptions().in_channels(3).classes(2).base(64).depth(4));
  net->eval();
  ShapeTrace trace;
  const torch::Tensor out = net->forward(torch::randn({1, 3, 128, 128}), &trace);
  EXPECT_EQ(trace.encoder,
            shapes({{1, 64, 64, 64}, {1, 128, 32, 32}, {1, 256, 16, 16}, {1, 512, 8, 8}}));
  EXPECT_EQ(trace.bottleneck, (std::vector<int64_t>{1, 1024, 8, 8}));
  EXPECT_EQ(trace.decoder,
            shapes({{1, 512, 16, 16}, {1, 256, 32, 32}, {1, 128, 64, 64}, {1, 64, 128, 128}}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 2, 128, 128}));
}

TEST(Checkpoint, RoundTripReproducesOutputsBitwise) {
  const std::string dir = test::fresh_directory("checkpoint");
  torch::manual_seed(3);
  const auto options = UNetOptions().in_channels(4).classes(3).base(4).depth(2).attention(true);
  UNet net(options);
  net->train();
  net->forward(torch::randn({2, 4, 32, 32}));  // moves the batch-norm running statistics
  net->eval();
  const torch::Tensor input = torch::randn({1, 4, 32, 32});
  const torch::Tensor expected = net->forward(input);
  CheckpointMeta meta;
  meta.model = options;
  meta.classes = {"background", "building", "road"};
  meta.bands = {
      {"red", 80.5, 12.25, ""}, {"green", 90, 10, ""}, {"blue", 70, 9, ""}, {"nir", 100, 20, ""}};
  meta.step = 1234;
  meta.epoch = 5;
  meta.tile_size = 64;
  meta.created_by = "satunet test";
  save_checkpoint(dir + "/model.pt", net, meta);
  LoadedCheckpoint loaded = load_checkpoint(dir + "/model.pt");
  loaded.model->eval();
  EXPECT_TRUE(torch::equal(loaded.model->forward(input), expected));
  EXPECT_EQ(loaded.meta.classes, meta.classes);
  EXPECT_EQ(loaded.meta.bands[0].name, "red");
  EXPECT_EQ(loaded.meta.bands[0].mean, 80.5);
  EXPECT_EQ(loaded.meta.bands[0].std, 12.25);
  EXPECT_EQ(loaded.meta.step, 1234);
  EXPECT_EQ(loaded.meta.tile_size, 64);
  EXPECT_EQ(loaded.meta.model.to_json(), options.to_json());
  EXPECT_EQ(loaded.model->parameter_count(), net->parameter_count());
}

TEST(Checkpoint, BadFilesAreRefusedClearly) {
  const std::string dir = test::fresh_directory("bad");
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      load_checkpoint(path);
      ADD_FAILURE() << "loaded " << path;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << error.what();
      EXPECT_EQ(std::string(error.what()).rfind(path, 0), 0u) << "names the file";
    }
  };
  expect_error(dir + "/missing.pt", ": no such checkpoint");
  std::ofstream(dir + "/corrupt.pt") << "not a zip archive at all";
  expect_error(dir + "/corrupt.pt", ": not a zip archive, or a truncated one (no end record)");
  {
    torch::serialize::OutputArchive archive;
    archive.write("satunet_schema", c10::IValue(int64_t{99}));
    archive.save_to(dir + "/future.pt");
  }
  expect_error(dir + "/future.pt", ": checkpoint schema version 99, this satunet reads version 1");
  {
    torch::serialize::OutputArchive archive;
    archive.write("weights", torch::ones({2}));
    archive.save_to(dir + "/foreign.pt");
  }
  expect_error(dir + "/foreign.pt", ": not a satunet checkpoint (no 'satunet_schema')");

  // Damaged between runs: a flipped bit is found, or it changed nothing (a padding byte); the
  // weights never load changed.
  const std::string good = test::make_checkpoint(dir + "/good.pt", 3);
  const std::string bytes = test::file_bytes(good);
  const auto original = load_checkpoint(good).model->named_parameters();
  int found = 0;
  for (int tenth = 1; tenth < 10; ++tenth) {
    std::string flipped = bytes;
    flipped[flipped.size() * tenth / 10] ^= 0x10;
    const std::string path = dir + "/flipped.pt";
    std::ofstream(path, std::ios::binary) << flipped;
    try {
      const auto loaded = load_checkpoint(path).model->named_parameters();
      for (const auto& item : original)
        EXPECT_TRUE(torch::equal(item.value(), loaded[item.key()])) << "byte " << tenth << "/10";
    } catch (const Error& error) {
      ++found;
      EXPECT_EQ(std::string(error.what()).rfind(path + ": ", 0), 0u) << error.what();
    }
  }
  EXPECT_GE(found, 5) << "most of a checkpoint's bytes are checked";
  std::ofstream(dir + "/torn.pt", std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 3);
  expect_error(dir + "/torn.pt", ": not a zip archive, or a truncated one (no end record)");

  // A header that describes a model too large to build, or larger than the file could hold,
  // is refused before anything is allocated for it.
  auto with_model = [&](const std::string& path, const UNetOptions& model) {
    torch::serialize::OutputArchive archive;
    archive.write("satunet_schema", c10::IValue(int64_t{kCheckpointSchemaVersion}));
    archive.write("model_options", c10::IValue(model.to_json()));
    archive.write("classes", c10::IValue(std::string(R"(["a", "b", "c"])")));
    archive.write("bands", c10::IValue(std::string("[]")));
    archive.save_to(path);
    return path;
  };
  UNetOptions huge = UNetOptions().in_channels(3).classes(3).base(4).depth(2);
  std::string text = huge.to_json();
  text.replace(text.find("\"base\":4"), 8, "\"base\":1024");
  text.replace(text.find("\"depth\":2"), 9, "\"depth\":8");
  {
    torch::serialize::OutputArchive archive;
    archive.write("satunet_schema", c10::IValue(int64_t{kCheckpointSchemaVersion}));
    archive.write("model_options", c10::IValue(text));
    archive.save_to(dir + "/huge.pt");
  }
  expect_error(dir + "/huge.pt", "more than the 1000 million satunet builds");
  expect_error(
      with_model(dir + "/large.pt", UNetOptions().in_channels(3).classes(3).base(64).depth(5)),
      " MiB of weights, but the file is 0 MiB: truncated, or not this model's");
}

}  // namespace satunet::model

namespace satunet::model {

// A large file that is no archive is refused from its tail: it is not read whole (twice, as
// it once was) before the zip check says what it is not.
TEST(Checkpoint, ALargeFileThatIsNoArchiveIsRefusedBeforeItIsRead) {
  const std::string dir = test::fresh_directory("large");
  const std::string path = dir + "/huge.pt";
  std::ofstream(path).close();
  std::filesystem::resize_file(path, std::uintmax_t{2} << 30);  // sparse: no disk used
  const std::string refusal = path + ": not a zip archive, or a truncated one (no end record)";
  const auto info = test::run_satunet({"info", path});
  test::expect_failure(info, 1, refusal);
  EXPECT_LT(info.peak_rss_mb, 1024) << "read whole";
  const auto scene = test::synthetic_scene(dir + "/scene", 64);
  const auto predict = test::run_satunet(
      {"predict", "--checkpoint", path, "--image", scene.scene_path, "--out", dir + "/pred"});
  test::expect_failure(predict, 1, refusal);
  EXPECT_LT(predict.peak_rss_mb, 1024) << "read whole";
  std::filesystem::remove(path);
}

TEST(Checkpoint, InfoDescribesACheckpoint) {
  const std::string dir = test::fresh_directory("info");
  UNet net(UNetOptions().in_channels(3).classes(3).base(4).depth(2));
  CheckpointMeta meta;
  meta.model = net->options();
  meta.classes = {"background", "building", "road"};
  meta.bands = {{"red", 1, 2, ""}, {"green", 3, 4, ""}, {"blue", 5, 6, ""}};
  meta.step = 77;
  meta.tile_size = 64;
  meta.created_by = "satunet test";
  save_checkpoint(dir + "/last.pt", net, meta);
  const auto text = test::run_satunet({"info", dir + "/last.pt"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const std::string& part : std::vector<std::string>{
           "U-Net in 3, classes 3, base 4, depth 2",
           "parameters: " + std::to_string(net->parameter_count()),
           "0=background, 1=building, 2=road", "red (mean 1, std 2)", "step 77"})
    EXPECT_NE(text.out.find(part), std::string::npos) << part << " in " << text.out;
  std::ofstream(dir + "/broken.pt") << "garbage";
  const auto broken = test::run_satunet({"info", dir + "/broken.pt"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_EQ(
      broken.err,
      "satunet info: " + dir +
          "/broken.pt: not a zip archive, or a truncated one (shorter than its end record)\n");
}

}  // namespace satunet::model

namespace satunet::model {

TEST(Losses, AllIgnoredBatchesGiveZeroNotNaN) {
  const torch::Tensor logits = torch::randn({2, 3, 4, 4}, torch::requires_grad());
  const torch::Tensor target = torch::full({2, 4, 4}, 255, torch::kLong);
  for (LossKind kind : {LossKind::ce, LossKind::dice, LossKind::ce_dice, LossKind::focal}) {
    LossOptions options;
    options.kind = kind;
    options.class_weights = {1.0, 2.0, 3.0};
    const SegmentationLoss loss(options);
    const torch::Tensor value = loss(logits, target);
    EXPECT_FALSE(std::isnan(value.item<double>())) << options::enum_name(kind);
    value.backward();
    EXPECT_FALSE(torch::isnan(logits.grad()).any().item<bool>()) << options::enum_name(kind);
    logits.grad().zero_();
  }
}

TEST(Losses, GradientsSkipIgnoredPixels) {
  const torch::Tensor logits = torch::randn({1, 3, 2, 2}, torch::requires_grad());
  const torch::Tensor target = torch::tensor({{1, 255}, {2, 0}}, torch::kLong).view({1, 2, 2});
  for (LossKind kind : {LossKind::ce, LossKind::dice, LossKind::ce_dice, LossKind::focal}) {
    if (logits.grad().defined())
      logits.grad().zero_();
    LossOptions options;
    options.kind = kind;
    const SegmentationLoss loss(options);
    loss(logits, target).backward();
    EXPECT_EQ(logits.grad().index({0, torch::indexing::Slice(), 0, 1}).abs().sum().item<double>(),
              0.0)
        << options::enum_name(kind);
  }
  EXPECT_EQ(options::parse_enum<LossKind>("ce+dice", "--loss"), LossKind::ce_dice);
  EXPECT_THROW(options::parse_enum<LossKind>("mse", "--loss"), UsageError);
  const auto weights = inverse_frequency_weights({600, 300, 100, 0});
  EXPECT_NEAR(weights[0], 1000.0 / (4 * 600), 1e-12);
  EXPECT_NEAR(weights[2], 1000.0 / (4 * 100), 1e-12);
  EXPECT_EQ(weights[3], 0.0);
}

TEST(Losses, SoftDiceByHand) {
  // Four pixels, truth (0, 0, 1, ignore), every prediction 50/50.
  const torch::Tensor logits = torch::zeros({1, 2, 1, 4});
  const torch::Tensor target = torch::tensor({0, 0, 1, 255}, torch::kLong).view({1, 1, 4});
  // class 0: |P| = 1.5, |T| = 2, overlap 1 -> 3 / 4.5; class 1: 1.5, 1, 0.5 -> 2 / 3.5
  const double expected = 1 - (3 / 4.5 + 2 / 3.5) / 2;
  EXPECT_NEAR(dice_loss(logits, target).item<double>(), expected, 1e-6);
  // A confident, right prediction has no loss.
  const torch::Tensor sure =
      torch::stack({torch::tensor({50., 50., -50., 0.}), torch::tensor({-50., -50., 50., 0.})})
          .view({1, 2, 1, 4});
  EXPECT_NEAR(dice_loss(sure, target).item<double>(), 0.0, 1e-6);
  LossOptions options;
  options.kind = LossKind::ce_dice;
  options.dice_weight = 0.5;
  SegmentationLoss both(options);
  EXPECT_NEAR(both(logits, target).item<double>(),
              ce_loss(logits, target).item<double>() + 0.5 * expected, 1e-6);
}

// clDice rewards connection: a road drawn a pixel too wide costs it nothing, a break costs
// it a lot, where Dice sees about the same error in both.
TEST(Losses, ClDicePunishesBreaksNotWidth) {
  auto road = [](std::int64_t first_row, std::int64_t rows, std::int64_t gap) {
    torch::Tensor target = torch::zeros({1, 32, 64}, torch::kLong);
    target.index_put_(
        {0, torch::indexing::Slice(first_row, first_row + rows), torch::indexing::Slice(2, 62)}, 1);
    if (gap > 0)
      target.index_put_({0, torch::indexing::Slice(), torch::indexing::Slice(32, 32 + gap)}, 0);
    return target;
  };
  auto confident = [](const torch::Tensor& classes) {
    const torch::Tensor one_hot =
        torch::nn::functional::one_hot(classes, 2).permute({0, 3, 1, 2}).to(torch::kFloat32);
    return (one_hot * 2 - 1) * 20;  // logits of +-20: probabilities 0 or 1 to float precision
  };
  const torch::Tensor truth = road(14, 5, 0);
  EXPECT_NEAR(cldice_loss(confident(truth), truth, 5).item<double>(), 0.0, 1e-4);
  const torch::Tensor wider = road(14, 6, 0), broken = road(14, 5, 6);
  const double wide_cldice = cldice_loss(confident(wider), truth, 5).item<double>();
  const double broken_cldice = cldice_loss(confident(broken), truth, 5).item<double>();
  const double wide_dice = dice_loss(confident(wider), truth).item<double>();
  const double broken_dice = dice_loss(confident(broken), truth).item<double>();
  EXPECT_LT(wide_cldice, 0.01);
  EXPECT_GT(broken_cldice, 0.04);
  EXPECT_GT(broken_cldice, 5 * wide_cldice);
  EXPECT_LT(std::abs(broken_dice - wide_dice), 0.5 * wide_dice) << "Dice sees both alike";
  // The soft skeleton of the 5-pixel road: its centre row, nothing at its edges.
  const torch::Tensor skeleton = soft_skeleton(truth.unsqueeze(1).to(torch::kFloat32), 5).squeeze();
  EXPECT_GT(skeleton.index({16, 30}).item<double>(), 0.9);
  EXPECT_LT(skeleton.index({14, 30}).item<double>(), 0.1);
  // Added to the loss with its weight.
  LossOptions options;
  options.kind = LossKind::ce;
  options.cldice_weight = 0.5;
  options.cldice_iterations = 5;
  const SegmentationLoss with_cldice(options);
  EXPECT_NEAR(with_cldice(confident(broken), truth).item<double>(),
              ce_loss(confident(broken), truth).item<double>() + 0.5 * broken_cldice, 1e-5);
}

TEST(Losses, CrossEntropyByHand) {
  // Pixel A: logits (0, ln 3), class 1 -> p = 3/4. Pixel B: ignored. Pixel C: (0, 0), class 0.
  // [N=1, C=2, H=1, W=3]: channel 0 = (0, 0, 0), channel 1 = (ln 3, 0, 0)
  const torch::Tensor channels =
      torch::stack({torch::tensor({0., 0., 0.}), torch::tensor({std::log(3.0), 0., 0.})})
          .view({1, 2, 1, 3});
  const torch::Tensor target = torch::tensor({1, 255, 0}, torch::kLong).view({1, 1, 3});
  const double a = -std::log(0.75), c = -std::log(0.5);
  EXPECT_NEAR(ce_loss(channels.to(torch::kFloat32), target).item<double>(), (a + c) / 2, 1e-6);
  const torch::Tensor weights = torch::tensor({1.0, 2.0});
  EXPECT_NEAR(ce_loss(channels.to(torch::kFloat32), target, weights).item<double>(),
              (2 * a + c) / 3, 1e-6);
  // Focal with gamma 2: (1 - p)^2 scales each term.
  EXPECT_NEAR(focal_loss(channels.to(torch::kFloat32), target, 2.0).item<double>(),
              (0.0625 * a + 0.25 * c) / 2, 1e-6);
  EXPECT_NEAR(focal_loss(channels.to(torch::kFloat32), target, 0.0).item<double>(), (a + c) / 2,
              1e-6);
}

}  // namespace satunet::model
