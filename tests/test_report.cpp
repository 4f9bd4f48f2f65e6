// The report library and `satunet report`: charts, the page of a real (tiny) run, its images.
#include <gdal_priv.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "comm/mpi_communicator.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "report/chart.hpp"
#include "report/run_directory.hpp"
#include "report/run_report.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

namespace satunet::report {
namespace {
namespace fs = std::filesystem;

// Finite values of a column of a run's CSV log.
std::size_t finite_values(const std::string& csv, const std::string& column) {
  const std::vector<double> values = test::read_run_csv(csv).numbers(column);
  return static_cast<std::size_t>(std::count_if(values.begin(), values.end(),
                                                [](double value) { return std::isfinite(value); }));
}

// Every element that is not void is closed, in order: the page parses as HTML without the
// browser's error recovery. Returns the first problem, or "".
std::string unbalanced_tags(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta",   "img",  "br",       "line",
                                              "circle", "rect", "polyline", "!DOCTYPE"};
  const std::regex tag("<(/?)([!A-Za-z][A-Za-z0-9]*)[^>]*?(/?)>");
  std::vector<std::string> open;
  for (auto match = std::sregex_iterator(html.begin(), html.end(), tag);
       match != std::sregex_iterator(); ++match) {
    const std::string name = (*match)[2];
    if ((*match)[3] == "/" || kVoid.count(name))
      continue;
    if ((*match)[1] == "/") {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? "nothing" : open.back()) + ">";
      open.pop_back();
    } else {
      open.push_back(name);
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> is never closed";
}

std::string base64_decode(const std::string& text) {
  const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  unsigned value = 0;
  int bits = 0;
  for (char c : text) {
    const auto digit = digits.find(c);
    if (digit == std::string::npos)
      continue;
    value = value << 6 | static_cast<unsigned>(digit);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return bytes;
}

}  // namespace

TEST(Report, NiceTicksAndChartsKeepEveryPoint) {
  EXPECT_EQ(nice_ticks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(nice_ticks(3, 97, 5).front(), 0);
  EXPECT_EQ(nice_ticks(3, 97, 5).back(), 100);
  Chart chart{"Loss & rate", "optimizer step", "loss", {}, std::nullopt, std::nullopt};
  chart.series.push_back({"train <a>", {1, 2, 3, 4, 5}, {1.0, 0.8, NAN, 0.5, 0.4}});
  const std::string svg = chart_svg(chart, 400, 200);
  EXPECT_NE(svg.find("Loss &amp; rate"), std::string::npos) << "text is escaped";
  EXPECT_NE(svg.find("data-series=\"train &lt;a&gt;\" data-points=\"2\""), std::string::npos)
      << "a NaN breaks the line in two: " << svg;
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  EXPECT_EQ(unbalanced_tags(svg), "");
}

TEST(Report, PageOfATrainingRun) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  const std::string base = test::fresh_directory("report");
  test::make_synthetic_dataset(base, 384, 0.25, 1);
  train::TrainOptions options;
  options.data = base + "/dataset";
  options.out = base + "/run";
  options.model.base(4).depth(2);
  options.batch = 4;
  options.epochs = 3;
  options.threads = 1;
  options.report = true;
  train::train(options, self);
  ASSERT_TRUE(fs::exists(base + "/run/report.html")) << "train writes the report at the end";

  const auto result =
      test::run_satunet({"report", base + "/run", "--out", base + "/page.html", "-q"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("report: " + base + "/page.html"), std::string::npos);
  const std::string html = test::file_bytes(base + "/page.html");
  EXPECT_EQ(unbalanced_tags(html), "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"))
      << "nothing but the SVG namespace points outside the page";
  EXPECT_EQ(html.find("https://"), std::string::npos);

  // Every chart, and every series with every finite point of the CSV files.
  const std::regex svg("<svg ");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(html.begin(), html.end(), svg), std::sregex_iterator()),
      5);
  std::map<std::string, std::size_t> points;
  const std::regex series(
      "data-series=\"([^\"]*)\" data-points=\"([0-9]+)\"[^>]*points=\"([^\"]*)\"");
  for (auto match = std::sregex_iterator(html.begin(), html.end(), series);
       match != std::sregex_iterator(); ++match) {
    const std::string coordinates = (*match)[3];
    const auto pairs =
        static_cast<std::size_t>(std::count(coordinates.begin(), coordinates.end(), ','));
    EXPECT_EQ(pairs, std::stoul((*match)[2].str())) << (*match)[1];
    points[(*match)[1]] += pairs;
  }
  const std::string metrics = base + "/run/metrics.csv";
  EXPECT_EQ(points["train, per step"], finite_values(base + "/run/steps.csv", "loss"));
  EXPECT_EQ(points["train, epoch mean"], finite_values(metrics, "loss"));
  EXPECT_EQ(points["validation"], finite_values(metrics, "val_loss"));
  EXPECT_EQ(points["building"], finite_values(metrics, "val_iou_building"));
  EXPECT_EQ(points["for data"], finite_values(metrics, "data_wait_pct"));
  EXPECT_EQ(points["samples / s"], 3u);
  const std::size_t steps = finite_values(base + "/run/steps.csv", "step");
  for (const std::string& text :
       {std::string("loss (per pixel)"), std::string("optimizer step"),
        std::string("samples / s (all ranks)"), std::string("% of the epoch's time"),
        std::string("Configuration"), std::string("background"), std::string("road"),
        "After step " + std::to_string(steps)})
    EXPECT_NE(html.find(text), std::string::npos) << text;

  // The validation tiles decode as 64 x 64 PNGs, four per tile.
  geo::init_gdal();
  const std::regex image("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
  int images = 0;
  for (auto match = std::sregex_iterator(html.begin(), html.end(), image);
       match != std::sregex_iterator(); ++match, ++images) {
    const std::string path = "/vsimem/report-" + std::to_string(images) + ".png";
    const std::string bytes = base64_decode((*match)[1]);
    VSIFCloseL(VSIFileFromMemBuffer(path.c_str(),
                                    reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                                    static_cast<vsi_l_offset>(bytes.size()), FALSE));
    GDALDatasetUniquePtr png(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    ASSERT_TRUE(png) << "image " << images << " does not decode";
    EXPECT_EQ(png->GetRasterXSize(), 64);
    EXPECT_EQ(png->GetRasterCount(), 3);
    png.reset();
    VSIUnlink(path.c_str());
  }
  EXPECT_GT(images, 0);
  EXPECT_EQ(images % 4, 0);

  // The same curves as PNG files for slides.
  if (png_supported()) {
    for (const char* chart : {"loss", "iou", "lr", "throughput", "waits"}) {
      const std::string png = base + "/run/report/" + chart + ".png";
      ASSERT_TRUE(fs::exists(png)) << png;
      EXPECT_EQ(geo::Raster::open(png).info().width, 1520) << png;
      EXPECT_NE(result.out.find("chart: " + png), std::string::npos) << result.out;
    }
  }
}

// The run directory's logs: header and rows follow one list of columns (as the trainer has
// always written them), and read back by column name; an earlier run is found and removed
// without what else the directory holds.
TEST(Report, RunDirectoryWritesItsLogsAndReadsThemByColumnName) {
  const std::string dir = test::fresh_directory("run");
  const RunDirectory run(dir);
  run.start_logs(test::kClasses, false);
  EXPECT_TRUE(run.read_metrics().rows().empty()) << "a log just begun";
  EpochMetrics epoch;
  epoch.epoch = 1;
  epoch.step = 1200000;
  epoch.loss = 0.5;
  epoch.lr = 0.001;
  epoch.samples_per_second = 1234.5678;
  epoch.skipped_steps = 1;
  run.append(epoch, test::kClasses);
  epoch.epoch = 2;
  epoch.iou = {0.9, 0.5, 0.25};
  epoch.mean_foreground_iou = 0.375;
  epoch.val_loss = 0.3;
  run.append(epoch, test::kClasses);
  run.append(StepMetrics{7, 0, 0.75, 1e-5});
  EXPECT_EQ(test::file_bytes(run.metrics()),
            "epoch,step,loss,lr,samples_per_s,data_wait_pct,comm_wait_pct,val_iou_background,"
            "val_iou_building,val_iou_road,val_mean_foreground_iou,val_loss,skipped_steps\n"
            "1,1200000,0.5,0.001,1234.57,0,0,,,,,,1\n"
            "2,1200000,0.5,0.001,1234.57,0,0,0.900000,0.500000,0.250000,0.375000,0.300000,1\n");
  EXPECT_EQ(test::file_bytes(run.steps()), "step,epoch,loss,lr\n7,0,0.75,1e-05\n");
  run.start_logs(test::kClasses, true);
  EXPECT_EQ(run.read_steps().rows().size(), 1u) << "a resumed run's logs are kept";

  const RunLog metrics = run.read_metrics();
  EXPECT_EQ(metrics.columns(), RunDirectory::metrics_columns(test::kClasses));
  EXPECT_EQ(RunDirectory::classes_of(metrics), test::kClasses);
  ASSERT_EQ(metrics.rows().size(), 2u);
  EXPECT_EQ(metrics.rows()[1].cell("skipped_steps"), "1");
  const std::vector<double> road = metrics.numbers("val_iou_road");
  EXPECT_TRUE(std::isnan(road[0]));
  EXPECT_EQ(road[1], 0.25);
  EXPECT_TRUE(metrics.has("val_loss"));
  EXPECT_FALSE(metrics.has("val_iou_water"));
  EXPECT_TRUE(std::isnan(metrics.numbers("val_iou_water")[1]));
  EXPECT_TRUE(RunDirectory(dir + "/none").read_steps().columns().empty());

  fs::create_directories(run.validation_tiles());
  fs::create_directories(run.checkpoints());
  std::ofstream(run.last_checkpoint()) << "a checkpoint";
  std::ofstream(dir + "/notes.txt") << "the user's";
  {
    const OutputDirectory out(dir, RunDirectory::product(), Earlier::replace);
    EXPECT_TRUE(out.had_earlier());
    out.clear();
  }
  EXPECT_FALSE(fs::exists(run.last_checkpoint()));
  EXPECT_FALSE(fs::exists(run.metrics()));
  EXPECT_FALSE(fs::exists(run.report_files()));
  EXPECT_FALSE(fs::exists(run.steps()));
  EXPECT_TRUE(fs::exists(dir + "/notes.txt"));
}

// The run's own page is replaced each time; any other page is an output as every command's:
// never inside the run it reports on (not over its logs), never over a file without
// --overwrite, never in a directory that is not there.
TEST(Report, AnOutPageNeverReplacesTheRunNorAFileWithoutOverwrite) {
  const std::string dir = test::fresh_directory("report-out");
  const RunDirectory run(dir + "/run");
  fs::create_directories(run.path());
  std::ofstream(run.config()) << "{}";
  run.start_logs(test::kClasses, false);
  EpochMetrics epoch;
  epoch.epoch = 1;
  epoch.step = 10;
  epoch.loss = 0.5;
  epoch.lr = 0.001;
  run.append(epoch, test::kClasses);
  const std::string metrics = test::file_bytes(run.metrics());
  auto report = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"report", run.path(), "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  for (const bool overwrite : {false, true}) {
    std::vector<std::string> extra = {"--out", run.metrics()};
    if (overwrite)
      extra.push_back("--overwrite");
    test::expect_failure(report(extra), 1,
                         run.metrics() + ": lies inside " + run.path() +
                             ", an input of this command; write elsewhere");
    extra[1] = run.path() + "/page.html";
    test::expect_failure(report(extra), 1, run.path() + "/page.html: lies inside");
  }
  EXPECT_EQ(test::file_bytes(run.metrics()), metrics);
  EXPECT_FALSE(fs::exists(run.path() + "/page.html"));
  test::expect_failure(report({"--out", dir + "/none/page.html"}), 1,
                       dir + "/none/page.html: no directory " + dir + "/none");

  const std::string page = dir + "/page.html";
  ASSERT_EQ(report({"--out", page}).exit_code, 0);
  std::ofstream(page) << "the user's";
  test::expect_failure(report({"--out", page}), 1, page + ": exists; --overwrite replaces it");
  EXPECT_EQ(test::file_bytes(page), "the user's");
  const auto replaced = report({"--out", page, "--overwrite"});
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(test::file_bytes(page).rfind("<!DOCTYPE html>", 0), 0u);

  // The run's own page, however named, is the report's to replace.
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{},
        std::vector<std::string>{"--out", run.report_page()}}) {
    const auto own = report(extra);
    EXPECT_EQ(own.exit_code, 0) << own.err;
  }
  EXPECT_TRUE(fs::exists(run.report_page()));
  EXPECT_EQ(test::file_bytes(run.metrics()), metrics);
}

TEST(Report, BadRunsAreRefused) {
  const std::string dir = test::fresh_directory("bad");
  const auto none = test::run_satunet({"report"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("a RUN directory is required"), std::string::npos) << none.err;
  const auto empty = test::run_satunet({"report", dir});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_EQ(empty.err, "satunet report: " + dir +
                           ": not a training run of satunet train (no config.json and "
                           "metrics.csv)\n");
  std::ofstream(dir + "/config.json") << "{not json";
  std::ofstream(dir + "/metrics.csv") << "epoch,step\n";
  const auto corrupt = test::run_satunet({"report", dir});
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.err.find(dir + "/config.json: "), std::string::npos) << corrupt.err;
  EXPECT_FALSE(fs::exists(dir + "/report.html"));
}

}  // namespace satunet::report
