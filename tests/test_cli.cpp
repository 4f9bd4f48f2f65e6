#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "cli/command.hpp"
#include "geo/raster.hpp"
#include "test_support.hpp"

namespace satunet {
namespace {

using test::run_satunet;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Exit code 2 and one line on stderr containing `message`.
void expect_usage_error(const std::vector<std::string>& args, const std::string& message) {
  const auto result = run_satunet(args);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_TRUE(contains(result.err, message)) << "stderr: " << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

}  // namespace

TEST(Cli, NoArgumentsPrintsUsage) {
  const auto result = run_satunet({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.out, "synth")) << result.out;
  EXPECT_TRUE(contains(result.out, "info"));
}

TEST(Cli, HelpListsEveryOption) {
  const auto result = run_satunet({"synth", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* option : {"--out", "--size", "--seed", "--bands", "--dtype", "--epsg", "--gsd",
                             "--config", "--verbose", "--quiet"})
    EXPECT_TRUE(contains(result.out, option)) << option;
}

TEST(Cli, UsageErrorsExitWithCode2) {
  expect_usage_error({"frobnicate"}, "unknown command 'frobnicate'");
  expect_usage_error({"synth", "--bogus"}, "unrecognised option '--bogus'");
  expect_usage_error({"synth", "--out", "x", "--size", "big"},
                     "the argument ('big') for option '--size' is invalid");
  expect_usage_error({"synth", "--out", "x", "--bands", "5"}, "--bands must be 3, 4 or 12, got 5");
  expect_usage_error({"synth", "--out", "x", "--epsg", "4326"},
                     "--epsg 4326 (WGS 84) is not a projected CRS in metres");
  expect_usage_error({"synth", "--size", "128"}, "--out is required");
  expect_usage_error({"synth", "--config", "/nonexistent/x.ini"},
                     "/nonexistent/x.ini: cannot read config file");
  expect_usage_error({"info"}, "a PATH to describe is required");
}

TEST(Cli, ConfigFileWithCommandLineWinning) {
  const std::string dir = test::fresh_directory("config");
  const std::string ini = dir + "/scene.ini";
  std::ofstream(ini) << "# a pipeline config\n"
                        "seed = 3\n"
                        "[synth]\n"
                        "size = 128\n"
                        "bands = 4\n"
                        "quiet = true\n"
                        "[train]\n"
                        "lr = 0.001\n";
  const auto result =
      run_satunet({"synth", "--config", ini, "--out", dir + "/out", "--bands", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.err.empty()) << "quiet = true was ignored: " << result.err;
  const auto info = geo::Raster::open(dir + "/out/scene.tif").info();
  EXPECT_EQ(info.width, 128);
  EXPECT_EQ(info.bands.size(), 3u);

  std::ofstream(ini) << "[synth]\nsize = 128\nbandz = 4\n";
  expect_usage_error({"synth", "--config", ini, "--out", dir + "/out2"},
                     ini + ": unknown option 'bandz' in section [synth]");
  std::ofstream(ini) << "[synth]\nsize = huge\n";
  expect_usage_error({"synth", "--config", ini, "--out", dir + "/out2"}, ini + ": the argument");
}

TEST(Cli, DamagedConfigLinesAreErrorsNamingTheLine) {
  const std::string dir = test::fresh_directory("config-lines");
  const std::string ini = dir + "/bad.ini";
  std::ofstream(ini) << "# fine\n[synth]\nsize = 128\nseed 3\n";
  expect_usage_error({"synth", "--config", ini, "--out", dir + "/out"},
                     ini + ":4: expected 'key = value' or '[section]', not 'seed 3'");
  std::ofstream(ini) << "[synth\nsize = 128\n";
  expect_usage_error({"synth", "--config", ini, "--out", dir + "/out"},
                     ini + ":1: a section header is '[name]', not '[synth'");
  expect_usage_error({"synth", "--config", dir, "--out", dir + "/out"},
                     dir + ": cannot read config file: a directory");
  // Found by fuzzing: Boost's reader looped forever formatting its error for this line.
  const std::string fuzzed =
      SATUNET_SOURCE_DIR "/tests/fuzz/regressions/config/boost-error-loop.ini";
  expect_usage_error({"synth", "--config", fuzzed, "--out", dir + "/out"},
                     fuzzed + ":18: expected 'key = value' or '[section]', not 'dt%invalid_line%");
}

// What no command understands is refused, naming the line; a byte-order mark is read past.
TEST(Cli, ConfigFilesRefuseWhatNoCommandUnderstands) {
  const std::string dir = test::fresh_directory("config-strict");
  const std::string ini = dir + "/strict.ini";
  const std::vector<std::string> synth = {"synth", "--config", ini, "--out", dir + "/out"};
  std::ofstream(ini) << "[Synth]\nsize = 128\n";
  expect_usage_error(synth, ini +
                                ":1: unknown section [Synth]: sections are named after commands " +
                                "(synth, tile, train, predict, export, stitch, evaluate, report, " +
                                "info, quicklook, bench)");
  std::ofstream(ini) << "sede = 3\n[synth]\nsize = 128\n";
  expect_usage_error(synth, ini + ":1: unknown option 'sede' (no command has it)");
  std::ofstream(ini) << "[synth]\nsize = 128\nquiet = maybe\n";
  expect_usage_error(synth,
                     ini + ":3: quiet is a flag: true or false (yes/no, on/off, 1/0), not 'maybe'");

  // A key of train's at the top (satunet asks satunet-torch), True in capitals, a BOM.
  std::ofstream(ini) << "\xef\xbb\xbf"
                        "epochs = 3\n[synth]\nsize = 128\nquiet = True\n";
  const auto result = run_satunet(synth);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.err.empty()) << "quiet = True was ignored: " << result.err;
  EXPECT_EQ(geo::Raster::open(dir + "/out/scene.tif").info().width, 128);
}

TEST(Cli, ShippedConfigsAreValid) {
  const std::string dir = test::fresh_directory("configs");
  const auto smoke = run_satunet({"synth", "--config", SATUNET_SOURCE_DIR "/configs/smoke.ini",
                                  "--out", dir + "/smoke", "-q"});
  ASSERT_EQ(smoke.exit_code, 0) << smoke.err;
  EXPECT_EQ(geo::Raster::open(dir + "/smoke/scene.tif").info().width, 384);
  const auto synthetic =
      run_satunet({"synth", "--config", SATUNET_SOURCE_DIR "/datasets/synthetic.ini", "--out",
                   dir + "/synthetic", "--size", "256", "-q"});
  ASSERT_EQ(synthetic.exit_code, 0) << synthetic.err;
  EXPECT_EQ(geo::Raster::open(dir + "/synthetic/scene.tif").info().width, 256);
}

TEST(Cli, SmokeConfigRunsEveryStage) {
  const std::string dir = test::fresh_directory("smoke");
  const std::string ini = SATUNET_SOURCE_DIR "/configs/smoke.ini";
  ASSERT_EQ(run_satunet({"synth", "--config", ini, "--out", dir + "/scene", "-q"}).exit_code, 0);
  const auto tiled = run_satunet({"tile", "--config", ini, "--out", dir + "/data", "--image",
                                  dir + "/scene/scene.tif", "--labels",
                                  "building=" + dir + "/scene/buildings.geojson", "--labels",
                                  "road=" + dir + "/scene/roads.geojson", "-q"});
  ASSERT_EQ(tiled.exit_code, 0) << tiled.err;
  EXPECT_NE(tiled.out.find("of 64 x 64 px, overlap 0"), std::string::npos) << tiled.out;
  const auto trained =
      run_satunet({"train", "--config", ini, "--data", dir + "/data", "--out", dir + "/run", "-q"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.out.find("trained 4 steps"), std::string::npos) << trained.out;
  const auto info = run_satunet({"info", dir + "/run/checkpoints/last.pt"});
  EXPECT_NE(info.out.find("base 4, depth 2"), std::string::npos) << info.out;
}

TEST(Cli, VersionListsLibraries) {
  const auto result = run_satunet({"--version"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* part :
       {"satunet ", "LibTorch: ", "GDAL:     3", "HDF5:     1.", "MPI:      ", "NCCL:     "})
    EXPECT_TRUE(contains(result.out, part)) << part << " in " << result.out;
#ifdef SATUNET_EXPECT_NCCL
  EXPECT_FALSE(contains(result.out, "not built")) << result.out;
#endif
}

TEST(Cli, TheModelsCommandsAreHandedToTheBinaryWithLibTorch) {
  // satunet itself links no LibTorch, whose start-up costs every process 0.3 s: train,
  // predict, info on a checkpoint and --version run in satunet-torch, beside it.
  const auto dynamic = test::run_program({"objdump", "-p", SATUNET_BINARY});
  ASSERT_EQ(dynamic.exit_code, 0) << dynamic.err;
  EXPECT_TRUE(std::regex_search(dynamic.out, std::regex("NEEDED +libgdal"))) << dynamic.out;
  EXPECT_FALSE(std::regex_search(dynamic.out, std::regex("NEEDED +lib(torch|c10)"))) << dynamic.out;
  const auto help = run_satunet({"train", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_TRUE(contains(help.out, "--encoder")) << help.out;
  EXPECT_TRUE(contains(run_satunet({}).out, "train "));  // listed among the commands

  // A satunet without its satunet-torch runs the other commands, and says so for these.
  const std::string dir = test::fresh_directory("alone");
  std::filesystem::copy_file(SATUNET_BINARY, dir + "/satunet");
  std::ofstream(dir + "/model.pt") << "a checkpoint";
  const auto synth = test::run_program({dir + "/satunet", "synth", "--help"});
  EXPECT_EQ(synth.exit_code, 0) << synth.err;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"train", "--data", "d", "--out", "r"},
        std::vector<std::string>{"info", dir + "/model.pt"}}) {
    std::vector<std::string> argv = {dir + "/satunet"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto missing = test::run_program(argv);
    EXPECT_EQ(missing.exit_code, 1) << missing.err;
    EXPECT_EQ(missing.err, "satunet " + args[0] + ": " + dir +
                               "/satunet-torch: cannot run it (No such file or directory); "
                               "satunet runs its model's commands there: build or install it "
                               "beside satunet\n");
  }
}

TEST(Cli, AProcessStartedAloneTilesAndPredictsWithoutStartingMpi) {
  // No launcher's variables (mpirun, srun): tile and predict run as one process, without MPI's
  // 0.3 s.
  const std::string dir = test::fresh_directory("alone");
  ASSERT_EQ(run_satunet({"synth", "--out", dir + "/scene", "--size", "128", "-q"}).exit_code, 0);
  const auto predicted = run_satunet(
      {"predict", "--checkpoint", test::make_checkpoint(dir + "/model.pt", 3), "--image",
       dir + "/scene/scene.tif", "--out", dir + "/pred", "--threads", "1", "-v"});
  EXPECT_EQ(predicted.exit_code, 0) << predicted.err;
  EXPECT_TRUE(contains(predicted.err, "one process started alone: MPI is not started"))
      << predicted.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/pred/prediction.json"));
  const auto tiled =
      run_satunet({"tile", "--out", dir + "/dataset", "--image", dir + "/scene/scene.tif", "--mask",
                   dir + "/scene/truth.tif", "--tile", "64", "--val-fraction", "0", "-v"});
  EXPECT_EQ(tiled.exit_code, 0) << tiled.err;
  EXPECT_TRUE(contains(tiled.err, "one process started alone: MPI is not started")) << tiled.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/dataset/manifest.json"));
}

TEST(Cli, InfoDescribesAGeneratedRaster) {
  const std::string dir = test::fresh_directory("scene");
  ASSERT_EQ(run_satunet({"synth", "--out", dir, "--size", "256", "-q"}).exit_code, 0);
  const auto text = run_satunet({"info", dir + "/scene.tif"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* part : {"256 x 256 pixels, 3 bands", "EPSG:32633", "uint8", "nodata 0",
                           "block 256 x 256", "\"red\"", "(north-up)"})
    EXPECT_TRUE(contains(text.out, part)) << part << " in " << text.out;
  const auto truth = run_satunet({"info", dir + "/truth.tif"});
  EXPECT_TRUE(contains(truth.out, "classes 0=background, 1=building, 2=road")) << truth.out;
  const auto json_output = run_satunet({"info", "--json", dir + "/truth.tif"});
  ASSERT_EQ(json_output.exit_code, 0);
  const auto json = nlohmann::json::parse(json_output.out);
  EXPECT_EQ(json["width"], 256);
  EXPECT_EQ(json["crs"]["epsg"], 32633);
  EXPECT_EQ(json["bands"][0]["nodata"], 255.0);
  EXPECT_EQ(json["geotransform"][1], 0.5);
}

TEST(Cli, InfoDescribesRealScenes) {
  const auto atlanta =
      run_satunet({"info", test::real_data("spacenet4_atlanta_buildings/image.tif")});
  ASSERT_EQ(atlanta.exit_code, 0) << atlanta.err;
  EXPECT_TRUE(contains(atlanta.out, "900 x 900 pixels, 1 band")) << atlanta.out;
  EXPECT_TRUE(contains(atlanta.out, "EPSG:32616"));
  EXPECT_TRUE(contains(atlanta.out, "uint16"));
  EXPECT_TRUE(contains(atlanta.out, "nodata 0"));
  const auto vegas = run_satunet({"info", test::real_data("spacenet3_vegas_roads/image.tif")});
  ASSERT_EQ(vegas.exit_code, 0) << vegas.err;
  EXPECT_TRUE(contains(vegas.out, "1300 x 1300 pixels, 4 bands")) << vegas.out;
  EXPECT_TRUE(contains(vegas.out, "EPSG:4326"));
  EXPECT_TRUE(contains(vegas.out, "Alpha"));
}

TEST(Cli, InfoRejectsMissingAndCorruptFiles) {
  const std::string dir = test::fresh_directory("bad");
  auto missing = run_satunet({"info", dir + "/nothing.tif"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "satunet info: " + dir + "/nothing.tif: no such file or directory\n");
  std::ofstream(dir + "/corrupt.tif") << "II*\0 this is not a TIFF";
  auto corrupt = run_satunet({"info", dir + "/corrupt.tif"});
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_TRUE(contains(corrupt.err, dir + "/corrupt.tif: cannot open raster")) << corrupt.err;
  EXPECT_EQ(std::count(corrupt.err.begin(), corrupt.err.end(), '\n'), 1) << corrupt.err;
}

namespace {

// A string literal of src/ that is exactly an option's name ("tile") or flag ("--tile"):
// spelled where it is declared, or a second time.
struct Spelling {
  std::string file;
  int line = 0;
  std::string literal;
  bool declaration = false;  // the first argument of a Table's value/flag/repeated
};

std::vector<Spelling> option_spellings(const std::set<std::string>& names) {
  namespace fs = std::filesystem;
  const std::regex literal("\"((?:[^\"\\\\]|\\\\.)*)\"");
  // A Table's chained call: the line begins with ".value(", ".flag(" ...
  const std::regex declaring("^\\s*\\.(value|value_at|flag|flag_with|repeated)\\(\\s*$");
  const std::regex naming_command("make_(job_)?command\\(\\s*$");
  std::vector<Spelling> found;
  for (const auto& entry : fs::recursive_directory_iterator(SATUNET_SOURCE_DIR "/src")) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".cpp" && entry.path().extension() != ".hpp")
      continue;
    std::ifstream file(path);
    std::string line, previous;
    for (int number = 1; std::getline(file, line); ++number) {
      for (auto match = std::sregex_iterator(line.begin(), line.end(), literal);
           match != std::sregex_iterator(); ++match) {
        const std::string text = (*match)[1].str();
        const bool flag = text.rfind("--", 0) == 0 && names.count(text.substr(2));
        if (!flag && !names.count(text))
          continue;
        // The call may have broken its line before the name.
        const std::string before = line.substr(0, static_cast<std::size_t>(match->position()));
        const std::string context =
            before.find_first_not_of(' ') == std::string::npos ? previous + before : before;
        if (std::regex_search(context, naming_command))
          continue;  // `satunet tile` is a command as well as an option
        found.push_back({path.substr(path.find("/src/") + 1), number, text,
                         !flag && std::regex_search(context, declaring)});
      }
      previous = line;
    }
  }
  return found;
}

}  // namespace

TEST(Cli, EveryOptionIsSpelledInOnePlace) {
  // Each declaration once, however many commands share it (stitch's outputs, --stitch-to's).
  std::map<std::string, std::set<int>> declarations;
  for (const cli::Command& command : cli::commands())
    for (const options::Declaration& declaration : command.declarations)
      declarations[declaration.name].insert(declaration.id);
  for (const options::Declaration& declaration : cli::common_declarations())
    declarations[declaration.name].insert(declaration.id);
  std::set<std::string> names;
  for (const auto& [name, ids] : declarations)
    names.insert(name);
  ASSERT_GT(names.size(), 80u);

  std::map<std::string, std::size_t> declared_at;
  for (const Spelling& spelling : option_spellings(names)) {
    const std::string where = spelling.file + ":" + std::to_string(spelling.line);
    if (spelling.declaration) {
      ++declared_at[spelling.literal];
      continue;
    }
    // A library may name an option in a message or use the word as a format key; the CLI,
    // which only turns declarations into parsing, spells none (but command names).
    EXPECT_NE(spelling.file.rfind("src/cli/", 0), 0u)
        << where << " spells option '" << spelling.literal << "'";
  }
  for (const auto& [name, ids] : declarations)
    EXPECT_EQ(declared_at[name], ids.size())
        << "--" << name << " has " << ids.size() << " declaration(s) but is spelled in "
        << declared_at[name] << " declaring call(s) in src/";
}

namespace {

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

// Values of one option that gave a wrong answer with exit 0 (issue #28) are usage errors before
// any input is read: exit 2, one line naming the option. The values beside them get past the
// options and fail on the missing inputs (exit 1): the rules refuse no more than they say.
TEST(Cli, OptionLimitsRefuseValuesThatGaveWrongAnswers) {
  const std::string dir = test::fresh_directory("limits");
  const std::string missing = dir + "/missing";
  // Class weights all zero weigh every pixel at nothing: a loss of 0 that trains nothing.
  const std::vector<std::string> train = {"train", "--data", missing, "--out", dir + "/run", "-q"};
  expect_usage_error(with(train, {"--class-weights", "0,0,0"}),
                     "--class-weights: at least one weight must be positive (got '0,0,0')");
  expect_usage_error(with(train, {"--class-weights", "0,-1,2"}),
                     "--class-weights: weights must not be negative (got '0,-1,2')");
  expect_usage_error(with(train, {"--epochs", "-2", "--max-steps", "5"}),
                     "--epochs must not be negative, got -2");
  const auto weighted = run_satunet(with(train, {"--class-weights", "0,1,0"}));
  EXPECT_EQ(weighted.exit_code, 1) << weighted.err;

  // A negative overlap was taken as a quarter of the window; refused as tile refuses it.
  const std::vector<std::string> predict = {
      "predict",        "--checkpoint", missing + ".pt", "--image",
      missing + ".tif", "--out",        dir + "/pred",   "-q"};
  const std::vector<std::string> tile = {"tile",    "--out",          dir + "/data",
                                         "--image", missing + ".tif", "-q"};
  for (const auto& command : {predict, tile}) {
    SCOPED_TRACE(command[0]);
    expect_usage_error(with(command, {"--overlap", "-5"}),
                       "--overlap must not be negative, got -5");
    expect_usage_error(with(command, {"--tile", "64", "--overlap", "64"}),
                       "--overlap must be in [0, tile), got 64 for tile 64");
  }
  expect_usage_error(with(predict, {"--overlap", "-1"}), "--overlap must not be negative, got -1");
  const auto overlapped = run_satunet(with(predict, {"--tile", "64", "--overlap", "63"}));
  EXPECT_EQ(overlapped.exit_code, 1) << overlapped.err;

  // Every command's limits, declared with its options.
  expect_usage_error({"stitch", "--pred", missing, "--out", dir + "/m.tif", "--min-area", "-1"},
                     "--min-area must not be negative, got -1");
  expect_usage_error(
      {"evaluate", "--pred", missing + ".tif", "--truth", missing + ".tif", "--apls-snap", "0"},
      "--apls-snap must be positive, got 0");
  expect_usage_error({"synth", "--out", dir + "/s", "--gsd", "-0.5"},
                     "--gsd must be in (0, 100], got -0.5");
  expect_usage_error(
      {"quicklook", "--image", missing + ".tif", "--out", dir + "/q.png", "--max-size", "0"},
      "--max-size must be at least 16, got 0");
  expect_usage_error({"bench", "allreduce", "--iterations", "0"},
                     "--iterations must be at least 1, got 0");
  expect_usage_error({"bench", "predict", "--image", missing + ".tif", "--stitch-to",
                      dir + "/b.tif", "--classes", "0"},
                     "--classes must be 1 to 255, got 0");
  expect_usage_error(with(predict, {"--threads", "-1"}),
                     "--threads must be 0 (automatic) to 1024, got -1");
  expect_usage_error({"quicklook", "--image", missing + ".tif"}, "--out is required");
  expect_usage_error({"stitch", "--out", dir + "/m.tif"}, "--pred is required");
  expect_usage_error({"report"}, "a RUN directory is required");
}

// A config file's values are checked against their limits naming the file; the required
// options may come from the command line.
TEST(Cli, ConfigFileValuesKeepTheirLimits) {
  const std::string dir = test::fresh_directory("config-limits");
  const std::string ini = dir + "/stitch.ini";
  const std::vector<std::string> stitch = {"stitch", "--config", ini, "--out", dir + "/m.tif"};
  std::ofstream(ini) << "[stitch]\nmin-area = -1\n";
  expect_usage_error(with(stitch, {"--pred", dir + "/missing"}),
                     ini + ": --min-area must not be negative, got -1");
  std::ofstream(ini) << "[stitch]\nmin-area = 2\n";
  const auto given = run_satunet(with(stitch, {"--pred", dir + "/missing"}));
  EXPECT_EQ(given.exit_code, 1) << given.err;
  std::ofstream(ini) << "[stitch]\npred = " << dir << "/missing\n";
  const auto in_file = run_satunet(stitch);
  EXPECT_EQ(in_file.exit_code, 1) << in_file.err;
  std::ofstream(ini) << "[stitch]\nmin-area = 2\n";
  expect_usage_error(stitch, "--pred is required");
}

TEST(Cli, HelpShowsEachOptionsLimits) {
  const auto help = run_satunet({"stitch", "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  EXPECT_TRUE(contains(help.out, "not negative")) << help.out;
  EXPECT_TRUE(contains(help.out, "required")) << help.out;
}

// The commands that are not a job's refuse a launch of several ranks, with one line and exit 2,
// before any rank writes anything: three copies over the same outputs raced.
TEST(Cli, CommandsOfOneProcessRefuseAJobOfSeveralRanks) {
  const std::string dir = test::fresh_directory("one-process");
  const std::vector<std::vector<std::string>> commands = {
      {"synth", "--out", dir + "/synth", "--size", "128"},
      {"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif"},
      {"quicklook", "--image", dir + "/scene.tif", "--out", dir + "/look.png"},
      {"report", dir + "/run"},
      {"info", dir}};
  for (const auto& args : commands) {
    const auto result = test::run_satunet_ranks(3, args);
    EXPECT_EQ(result.exit_code, 2) << args[0] << ": " << result.err;
    EXPECT_TRUE(contains(result.err, "satunet " + args[0] +
                                         ": runs in one process, not on each of 3 ranks: start it "
                                         "without mpirun or srun"))
        << result.err;
    const std::string said = "runs in one process";
    EXPECT_EQ(result.err.find(said), result.err.rfind(said)) << "rank 0 alone says it";
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/synth"));
}

}  // namespace satunet
