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
#include "report/run_report.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

namespace satunet::report {
namespace {
namespace fs = std::filesystem;

// Finite values of a column of a CSV file with a header.
std::size_t finite_values(const std::string& csv, const std::string& column) {
  std::ifstream file(csv);
  std::string line;
  std::getline(file, line);
  std::vector<std::string> header;
  std::stringstream names(line);
  for (std::string name; std::getline(names, name, ',');)
    header.push_back(name);
  const auto at =
      static_cast<std::size_t>(std::find(header.begin(), header.end(), column) - header.begin());
  std::size_t count = 0;
  while (std::getline(file, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');)
      cells.push_back(cell);
    count += at < cells.size() && !cells[at].empty() && std::isfinite(std::stod(cells[at]));
  }
  return count;
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
