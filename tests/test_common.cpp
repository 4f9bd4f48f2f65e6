// The common library: text parsing, option declarations and their parsing, the bounded
// queue between threads, running statistics.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "common/bounded_queue.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/options.hpp"
#include "common/output_directory.hpp"
#include "common/running_stats.hpp"
#include "common/text.hpp"
#include "test_support.hpp"

namespace satunet {
namespace text {

TEST(Text, SplitTrimAndParse) {
  EXPECT_EQ(split(" a, b ,c", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(parse_int(" 42 ", "--size"), 42);
  EXPECT_DOUBLE_EQ(parse_double("0.25", "--gsd"), 0.25);
  const auto [key, value] = split_key_value("road=8", "--line-width");
  EXPECT_EQ(key, "road");
  EXPECT_EQ(value, "8");
}

TEST(Text, BadValuesNameTheOption) {
  try {
    parse_int("12x", "--tile");
    FAIL() << "no exception";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(), "--tile: expected an integer, got '12x'");
  }
  EXPECT_THROW(parse_double("", "--gsd"), UsageError);
  EXPECT_THROW(split_key_value("road", "--line-width"), UsageError);
}

TEST(Text, BandKeysMakeSentinel2sSpellingsOneBand) {
  EXPECT_EQ(band_key("B04"), band_key("b4"));
  EXPECT_EQ(band_key("B004"), "b4");
  EXPECT_EQ(band_key("B8A"), "b8a");
  EXPECT_NE(band_key("B8A"), band_key("B8"));
  EXPECT_EQ(band_key("B10"), "b10");
  EXPECT_NE(band_key("B10"), band_key("B1"));
  EXPECT_EQ(band_key("B00"), "b0");
  EXPECT_EQ(band_key("Red"), "red");
  EXPECT_EQ(band_key("band07x09"), "band7x9");
}

}  // namespace text

namespace options {
namespace {

enum class Colour { red, dark_green };
const EnumNames<Colour>& enum_names(Colour) {
  static const EnumNames<Colour> names{{Colour::red, "red"}, {Colour::dark_green, "dark-green"}};
  return names;
}

struct Example {
  int tile = 256;
  double fraction = 0.1;
  std::uint64_t seed = 1;
  Colour colour = Colour::red;
  std::optional<Colour> override;
  std::vector<int> bands;
  std::vector<std::string> names{"a", "b"};
  std::vector<std::string> images;
  std::map<std::string, double> widths;
  std::string resume;
  bool quiet = false;
};

const Table<Example>& example_table() {
  using O = Example;
  static const auto table = Table<O>()
                                .value("tile", &O::tile, "tile size")
                                .value("fraction", &O::fraction, "a fraction")
                                .value("seed", &O::seed, "seed")
                                .value("colour", &O::colour, "red or dark-green")
                                .value("override", &O::override, "a colour", "C")
                                .value("bands", &O::bands, "bands", "1,2")
                                .value("names", &O::names, "names")
                                .repeated("image", &O::images, "an image", "FILE")
                                .repeated("width", &O::widths, "a width", "K=M")
                                .value("resume", &O::resume, "resume", "RUN")
                                .implicit("last")
                                .flag("quiet", &O::quiet, "quiet");
  return table;
}

std::string usage_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const UsageError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Options, DefaultsComeFromTheStructAndShowAsTheyReadBack) {
  const auto declarations = example_table().declarations();
  ASSERT_EQ(declarations.size(), 11u);
  std::map<std::string, Declaration> by_name;
  for (const Declaration& declaration : declarations)
    by_name[declaration.name] = declaration;
  EXPECT_EQ(by_name["tile"].default_text, "256");
  EXPECT_EQ(by_name["fraction"].default_text, "0.1") << "shortest text that reads back";
  EXPECT_EQ(by_name["colour"].default_text, "red");
  EXPECT_EQ(by_name["override"].default_text, "") << "nothing to show";
  EXPECT_EQ(by_name["bands"].default_text, "");
  EXPECT_EQ(by_name["names"].default_text, "a,b");
  EXPECT_EQ(by_name["image"].arity, Arity::repeated);
  EXPECT_EQ(by_name["quiet"].arity, Arity::flag);
  EXPECT_EQ(by_name["resume"].implicit_text, "last");
  EXPECT_EQ(by_name["override"].value_name, "C");
  // What is not given keeps the struct's default: building from nothing gives the struct.
  const Example built = example_table().build({});
  EXPECT_EQ(built.tile, 256);
  EXPECT_EQ(built.names, (std::vector<std::string>{"a", "b"}));
  for (double value : {0.1, 1e-4, 0.3, 1.0 / 3, 123456.789, 5e-324, 1.7976931348623157e308})
    EXPECT_EQ(std::strtod(show(value).c_str(), nullptr), value) << show(value);
  // Whole numbers as people write them: a default of 10 m is "10", not "1e+01".
  EXPECT_EQ(show(10.0), "10");
  EXPECT_EQ(show(50.0), "50");
  EXPECT_EQ(show(-300.0), "-300");
  EXPECT_EQ(show(0.5), "0.5");
}

TEST(Options, GivenValuesAreParsedOnceIntoTypedMembers) {
  const Example built = example_table().build({{"tile", {"64"}},
                                               {"fraction", {"0.25"}},
                                               {"seed", {"18446744073709551615"}},
                                               {"colour", {"dark-green"}},
                                               {"override", {"red"}},
                                               {"bands", {"3, 1"}},
                                               {"names", {"x,,y"}},
                                               {"image", {"a,b.tif", "c.tif"}},
                                               {"width", {"road=7.5", "track=2"}},
                                               {"resume", {"last"}},
                                               {"quiet", {}}});
  EXPECT_EQ(built.tile, 64);
  EXPECT_EQ(built.fraction, 0.25);
  EXPECT_EQ(built.seed, 18446744073709551615ull);
  EXPECT_EQ(built.colour, Colour::dark_green);
  EXPECT_EQ(built.override, Colour::red);
  EXPECT_EQ(built.bands, (std::vector<int>{3, 1}));
  EXPECT_EQ(built.names, (std::vector<std::string>{"x", "", "y"})) << "empty items are kept";
  EXPECT_EQ(built.images, (std::vector<std::string>{"a,b.tif", "c.tif"}))
      << "a repeated option is one item per occurrence";
  EXPECT_EQ(built.widths, (std::map<std::string, double>{{"road", 7.5}, {"track", 2}}));
  EXPECT_TRUE(built.quiet);
}

TEST(Options, BadValuesNameTheOption) {
  auto build = [](const std::string& name, const std::string& value) {
    return usage_error([&] { example_table().build({{name, {value}}}); });
  };
  EXPECT_EQ(build("tile", "12x"), "the argument ('12x') for option '--tile' is invalid");
  EXPECT_EQ(build("tile", "99999999999"),
            "the argument ('99999999999') for option '--tile' is invalid");
  EXPECT_EQ(build("seed", "-1"), "the argument ('-1') for option '--seed' is invalid")
      << "not wrapped to 2^64 - 1";
  for (const char* value : {"nan", "inf", "-inf", "", "1e999"})
    EXPECT_EQ(build("fraction", value),
              std::string("the argument ('") + value + "') for option '--fraction' is invalid");
  EXPECT_EQ(build("colour", "blue"), "--colour must be red or dark-green (got 'blue')");
  EXPECT_EQ(build("bands", "1,x"), "the argument ('x') for option '--bands' is invalid");
  EXPECT_EQ(usage_error([] {
              example_table().build({{"width", {"road"}}});
            }),
            "--width: expected KEY=VALUE, got 'road'");
  EXPECT_EQ(usage_error([] {
              example_table().build({{"width", {"road=wide"}}});
            }),
            "the argument ('wide') for option '--width road' is invalid");
}

TEST(Options, EnumerationsHaveOneParser) {
  EXPECT_EQ(parse_enum<Colour>("dark-green", "--colour"), Colour::dark_green);
  EXPECT_EQ(enum_name(Colour::dark_green), "dark-green");
  EXPECT_EQ(alternatives({"a"}), "a");
  EXPECT_EQ(alternatives({"a", "b", "c"}), "a, b or c");
  EXPECT_THROW(parse_enum<Colour>("Red", "--colour"), UsageError) << "names are exact";
}

namespace {

// Options with the rules of each kind declared on them.
struct Limited {
  std::string data;
  std::vector<std::string> images;
  int batch = 8;
  double lr = 1e-3;
  double fraction = 0.1;
  int threads = 0;
  int tile = 0;
  std::optional<int> overlap;
  std::int64_t steps = 0;
  int bands = 3;
  int size = 256;
  bool quiet = false;
};

// Shared by several tables, as --threads is.
const Table<int>& shared_threads() {
  static const auto table =
      Table<int>()
          .value_at(
              "threads", [](int& threads) -> int& { return threads; }, "threads")
          .in_range(0, 1024)
          .meaning(0, "automatic");
  return table;
}

const Table<Limited>& limited_table() {
  using O = Limited;
  static const auto table = Table<O>()
                                .value("data", &O::data, "a dataset", "DIR")
                                .required()
                                .repeated("image", &O::images, "an image", "FILE")
                                .required("an image")
                                .value("batch", &O::batch, "batch")
                                .at_least(1)
                                .value("lr", &O::lr, "rate")
                                .above(0)
                                .value("fraction", &O::fraction, "a fraction")
                                .at_least(0)
                                .below(1)
                                .include(shared_threads(), [](O& o) -> int& { return o.threads; })
                                .value("tile", &O::tile, "tile")
                                .in_range(1, 4096)
                                .meaning(0, "the checkpoint's tile size")
                                .value("overlap", &O::overlap, "overlap")
                                .at_least(0)
                                .value("steps", &O::steps, "steps")
                                .at_least(0)
                                .meaning(0, "--epochs decides")
                                .value("bands", &O::bands, "bands")
                                .choices({3, 4})
                                .value("size", &O::size, "size")
                                .in_range(16, 4096, "a note")
                                .multiple_of(16)
                                .flag("quiet", &O::quiet, "quiet");
  return table;
}

// What is given besides the required options.
std::string limited_error(const std::string& name, const std::string& value) {
  return usage_error([&] {
    limited_table().build({{"data", {"d"}}, {"image", {"a.tif"}}, {name, {value}}});
  });
}

}  // namespace

TEST(Options, RequiredOptionsMustBeGivenAndNotEmpty) {
  EXPECT_EQ(usage_error([] { limited_table().build({}); }), "--data is required");
  EXPECT_EQ(usage_error([] {
              limited_table().build({{"data", {""}}});
            }),
            "--data is required")
      << "given empty is not given";
  EXPECT_EQ(usage_error([] {
              limited_table().build({{"data", {"d"}}});
            }),
            "an image is required")
      << "a repeated option, and the subject given";
  EXPECT_EQ(limited_error("quiet", ""), "(no error)");
  // A part of the values (a config file's) need not hold the required ones; its limits count.
  EXPECT_EQ(usage_error([] { limited_table().build_part({{"batch", {"2"}}}); }), "(no error)");
  EXPECT_EQ(usage_error([] {
              limited_table().build_part({{"batch", {"0"}}});
            }),
            "--batch must be at least 1, got 0");
  // A struct made in code is checked alike.
  Limited made;
  EXPECT_EQ(usage_error([&] { limited_table().check(made); }), "--data is required");
  made.data = "d";
  made.images = {"a.tif"};
  EXPECT_EQ(usage_error([&] { limited_table().check(made); }), "(no error)");
  made.batch = 0;
  EXPECT_EQ(usage_error([&] { limited_table().check(made); }), "--batch must be at least 1, got 0");
}

TEST(Options, LimitsAreCheckedWithMessagesMadeFromThem) {
  const std::vector<std::tuple<std::string, std::string, std::string>> refused = {
      {"batch", "0", "--batch must be at least 1, got 0"},
      {"batch", "-3", "--batch must be at least 1, got -3"},
      {"lr", "0", "--lr must be positive, got 0"},
      {"lr", "-1e-3", "--lr must be positive, got -0.001"},
      {"fraction", "1", "--fraction must be in [0, 1), got 1"},
      {"fraction", "-0.5", "--fraction must be in [0, 1), got -0.5"},
      {"threads", "-1", "--threads must be 0 (automatic) to 1024, got -1"},
      {"threads", "1025", "--threads must be 0 (automatic) to 1024, got 1025"},
      {"tile", "4097", "--tile must be 1 to 4096 (or 0: the checkpoint's tile size), got 4097"},
      {"tile", "-1", "--tile must be 1 to 4096 (or 0: the checkpoint's tile size), got -1"},
      {"overlap", "-5", "--overlap must not be negative, got -5"},
      {"steps", "-1", "--steps must not be negative (0: --epochs decides), got -1"},
      {"bands", "5", "--bands must be 3 or 4, got 5"},
      {"size", "100", "--size must be a multiple of 16 from 16 to 4096 (a note), got 100"},
      {"size", "4112", "--size must be a multiple of 16 from 16 to 4096 (a note), got 4112"},
      {"size", "0", "--size must be a multiple of 16 from 16 to 4096 (a note), got 0"}};
  for (const auto& [name, value, message] : refused)
    EXPECT_EQ(limited_error(name, value), message) << name << " " << value;
  // The bounds themselves, and the values with a meaning of their own.
  const std::vector<std::pair<std::string, std::string>> accepted = {
      {"batch", "1"},   {"lr", "1e-12"},     {"fraction", "0"}, {"fraction", "0.999"},
      {"threads", "0"}, {"threads", "1024"}, {"tile", "0"},     {"tile", "1"},
      {"tile", "4096"}, {"overlap", "0"},    {"steps", "0"},    {"bands", "3"},
      {"bands", "4"},   {"size", "16"},      {"size", "4096"}};
  for (const auto& [name, value] : accepted)
    EXPECT_EQ(limited_error(name, value), "(no error)") << name << " " << value;
  // An optional not given passes its limits; one given is checked.
  Limited made;
  made.data = "d";
  made.images = {"a.tif"};
  made.overlap = -1;
  EXPECT_EQ(usage_error([&] { limited_table().check(made); }),
            "--overlap must not be negative, got -1");
}

TEST(Options, LimitsShowInTheDeclarations) {
  std::map<std::string, std::string> limits;
  for (const Declaration& declaration : limited_table().declarations())
    limits[declaration.name] = declaration.limits;
  EXPECT_EQ(limits["data"], "required");
  EXPECT_EQ(limits["image"], "required");
  EXPECT_EQ(limits["batch"], "at least 1");
  EXPECT_EQ(limits["lr"], "positive");
  EXPECT_EQ(limits["fraction"], "in [0, 1)");
  EXPECT_EQ(limits["threads"], "0 to 1024");
  EXPECT_EQ(limits["tile"], "1 to 4096, or 0");
  EXPECT_EQ(limits["overlap"], "not negative");
  EXPECT_EQ(limits["bands"], "3 or 4");
  EXPECT_EQ(limits["size"], "a multiple of 16 from 16 to 4096");
  EXPECT_EQ(limits["quiet"], "");
  // An included option keeps its declaration, limits and id.
  EXPECT_EQ(limited_table().declarations()[5].id, shared_threads().declarations()[0].id);
}

TEST(Options, RulesNeedAValueThatTakesThem) {
  using O = Limited;
  EXPECT_THROW(Table<O>().value("data", &O::data, "text").at_least(1), std::logic_error)
      << "text has no number";
  EXPECT_THROW(Table<O>().flag("quiet", &O::quiet, "quiet").required(), std::logic_error);
  EXPECT_THROW(Table<O>().required(), std::logic_error) << "nothing declared yet";
}

}  // namespace options

TEST(BoundedQueue, ProducerWaitsForRoomAndConsumerDrainsAfterClose) {
  BoundedQueue<int> queue(2);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(queue.push(i));
      ++pushed;
    }
    queue.close();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(pushed.load(), 2) << "the producer waits while the queue is full";
  std::vector<int> popped;
  while (const std::optional<int> item = queue.pop())
    popped.push_back(*item);
  producer.join();
  EXPECT_EQ(popped, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(queue.pop().has_value()) << "closed and drained";
}

TEST(BoundedQueue, FailuresReachTheOtherSide) {
  BoundedQueue<int> forward(4);
  forward.push(1);
  forward.close(std::make_exception_ptr(std::runtime_error("read failed")));
  EXPECT_EQ(forward.pop(), 1) << "items before the failure first";
  EXPECT_THROW(forward.pop(), std::runtime_error);

  BoundedQueue<int> backward(1);
  ASSERT_TRUE(backward.push(1));
  std::thread consumer([&] {
    backward.pop();
    backward.cancel(std::make_exception_ptr(std::runtime_error("write failed")));
  });
  consumer.join();
  EXPECT_FALSE(backward.push(2)) << "a cancelled queue refuses, it does not block";
  EXPECT_TRUE(backward.failure() != nullptr);
  backward.reopen();
  EXPECT_TRUE(backward.push(3));
  EXPECT_TRUE(backward.failure() == nullptr);
}

TEST(RunningStats, MergeMatchesDirectComputation) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(100, 15);
  std::vector<double> values(10000);
  for (double& value : values)
    value = normal(rng);
  double sum = 0;
  for (double value : values)
    sum += value;
  const double mean = sum / values.size();
  double m2 = 0;
  for (double value : values)
    m2 += (value - mean) * (value - mean);
  // Merge in uneven groups, as ranks and tiles do.
  RunningStats total;
  std::size_t begin = 0;
  for (std::size_t size : {1u, 999u, 3000u, 17u, 5983u}) {
    RunningStats part;
    double part_sum = 0;
    for (std::size_t i = begin; i < begin + size; ++i)
      part_sum += values[i];
    part.count = static_cast<std::int64_t>(size);
    part.mean = part_sum / size;
    for (std::size_t i = begin; i < begin + size; ++i)
      part.m2 += (values[i] - part.mean) * (values[i] - part.mean);
    total.merge(part);
    begin += size;
  }
  EXPECT_EQ(total.count, 10000);
  EXPECT_NEAR(total.mean, mean, 1e-9);
  EXPECT_NEAR(total.variance(), m2 / 10000, 1e-7);
}

// One policy for every output directory: an earlier product refused, replaced only after the
// inputs are known (never one inside what goes), or continued; a killed job's temporaries go.
TEST(OutputDirectory, EarlierProductsAreRefusedReplacedOrContinued) {
  namespace fs = std::filesystem;
  const std::string dir = test::fresh_directory("output-directory") + "/out";
  const Product product{"a thing", {"done.json", "parts"}, {"done.json", "parts"}};
  {  // nothing there: claimed, and an empty directory of parts is no product
    fs::create_directories(dir + "/parts");
    const OutputDirectory out(dir, product, Earlier::refuse);
    EXPECT_FALSE(out.had_earlier());
  }
  std::ofstream(dir + "/parts/a.bin") << "earlier";
  std::ofstream(dir + "/.a.partial-1.bin") << "killed";
  std::ofstream(dir + "/keep.txt") << "not the product's";
  try {
    const OutputDirectory out(dir, product, Earlier::refuse);
    ADD_FAILURE() << "an earlier product was not refused";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), dir + ": holds a thing already; --overwrite replaces it");
  }
  try {
    const OutputDirectory out(dir, product, Earlier::replace, {dir + "/parts/../parts/a.bin"});
    ADD_FAILURE() << "an input inside what --overwrite replaces was not refused";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              dir + "/parts/../parts/a.bin: an input of this command inside " + dir +
                  "/parts, which --overwrite would replace; copy it elsewhere first");
  }
  EXPECT_TRUE(fs::exists(dir + "/parts/a.bin")) << "nothing removed by a refusal";
  {
    const OutputDirectory out(dir, product, Earlier::continue_, {dir + "/parts/a.bin"});
    EXPECT_TRUE(out.had_earlier());
    out.clear();
    EXPECT_TRUE(fs::exists(dir + "/parts/a.bin")) << "a continued product is kept";
  }
  {
    const OutputDirectory out(dir, product, Earlier::replace, {dir + "/keep.txt"});
    EXPECT_TRUE(fs::exists(dir + "/parts/a.bin")) << "nothing removed before clear()";
    out.clear();
  }
  EXPECT_FALSE(fs::exists(dir + "/parts"));
  EXPECT_FALSE(fs::exists(dir + "/.a.partial-1.bin"));
  EXPECT_TRUE(fs::exists(dir + "/keep.txt"));
  EXPECT_TRUE(lies_inside(dir + "/parts/x", dir + "/parts/"));
  EXPECT_FALSE(lies_inside(dir + "/partsx", dir + "/parts"));
}

}  // namespace satunet
