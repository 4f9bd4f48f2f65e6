#include "report/run_report.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "geo/geotiff.hpp"
#include "geo/quicklook.hpp"
#include "report/chart.hpp"
#include "report/run_directory.hpp"
#include "shards/manifest.hpp"

namespace satunet::report {
namespace fs = std::filesystem;
namespace {

constexpr int kChartWidth = 760;
constexpr int kChartHeight = 300;

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text)
    out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* const digits =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned value = static_cast<unsigned char>(bytes[i]) << 16 |
                           static_cast<unsigned char>(bytes[i + 1]) << 8 |
                           static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0})
      out += digits[(value >> shift) & 63];
  }
  if (i < bytes.size()) {
    unsigned value = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size())
      value |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += digits[(value >> 18) & 63];
    out += digits[(value >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(value >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string file_contents(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream out;
  out << file.rdbuf();
  return out.str();
}

std::string format(double value, int digits = 4) {
  if (!std::isfinite(value))
    return "–";
  std::ostringstream out;
  out.precision(digits);
  out << value;
  return out.str();
}

// The charts of a run: every curve against the optimizer step.
std::vector<std::pair<std::string, Chart>> run_charts(const RunLog& metrics, const RunLog& steps,
                                                      const std::vector<std::string>& classes) {
  const std::vector<double> epoch_steps = metrics.numbers("step");
  std::vector<std::pair<std::string, Chart>> charts;

  Chart loss{"Loss", "optimizer step", "loss (per pixel)", {}, 0.0, std::nullopt};
  if (!steps.rows().empty())
    loss.series.push_back({"train, per step", steps.numbers("step"), steps.numbers("loss")});
  loss.series.push_back({"train, epoch mean", epoch_steps, metrics.numbers("loss"), true});
  if (metrics.has("val_loss"))
    loss.series.push_back({"validation", epoch_steps, metrics.numbers("val_loss"), true});
  charts.emplace_back("loss", loss);

  Chart iou{"Validation IoU per class", "optimizer step", "IoU", {}, 0.0, 1.0};
  for (const std::string& name : classes)
    iou.series.push_back({name, epoch_steps, metrics.numbers("val_iou_" + name), true});
  iou.series.push_back(
      {"mean foreground", epoch_steps, metrics.numbers("val_mean_foreground_iou"), true});
  charts.emplace_back("iou", iou);

  Chart lr{"Learning rate", "optimizer step", "learning rate", {}, 0.0, std::nullopt};
  if (!steps.rows().empty())
    lr.series.push_back({"per step", steps.numbers("step"), steps.numbers("lr")});
  else
    lr.series.push_back({"at epoch end", epoch_steps, metrics.numbers("lr"), true});
  charts.emplace_back("lr", lr);

  Chart speed{"Throughput", "optimizer step", "samples / s (all ranks)", {}, 0.0, std::nullopt};
  speed.series.push_back({"samples / s", epoch_steps, metrics.numbers("samples_per_s"), true});
  charts.emplace_back("throughput", speed);

  Chart waits{"Time spent waiting", "optimizer step", "% of the epoch's time", {}, 0.0,
              std::nullopt};
  waits.series.push_back({"for data", epoch_steps, metrics.numbers("data_wait_pct"), true});
  waits.series.push_back(
      {"for communication", epoch_steps, metrics.numbers("comm_wait_pct"), true});
  charts.emplace_back("waits", waits);
  return charts;
}

void flatten(const nlohmann::json& json, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& rows) {
  for (const auto& [key, value] : json.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object())
      flatten(value, name, rows);
    else
      rows.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
  }
}

std::string configuration_table(const nlohmann::json& config) {
  std::vector<std::pair<std::string, std::string>> rows;
  flatten(config, "", rows);
  std::ostringstream out;
  out << "<table class=\"kv\">\n";
  for (const auto& [key, value] : rows)
    out << "<tr><th>" << escape(key) << "</th><td>" << escape(value) << "</td></tr>\n";
  out << "</table>\n";
  return out.str();
}

std::string dataset_tables(const shards::Manifest& manifest) {
  std::ostringstream out;
  out << "<table><tr><th>class</th>";
  for (const auto& [split, counts] : manifest.class_pixels)
    out << "<th>" << escape(split) << " pixels</th><th>share</th>";
  out << "</tr>\n";
  for (std::size_t c = 0; c < manifest.classes.size(); ++c) {
    out << "<tr><td>" << c << " " << escape(manifest.classes[c]) << "</td>";
    for (const auto& [split, counts] : manifest.class_pixels) {
      std::int64_t total = 0;
      for (std::int64_t count : counts)
        total += count;
      const std::int64_t count = c < counts.size() ? counts[c] : 0;
      out << "<td class=\"n\">" << count << "</td><td class=\"n\">"
          << format(total ? 100.0 * static_cast<double>(count) / static_cast<double>(total) : 0, 3)
          << " %</td>";
    }
    out << "</tr>\n";
  }
  out << "</table>\n<table><tr><th>band</th><th>source band</th><th>type</th><th>mean</th>"
         "<th>std</th><th>valid pixels</th></tr>\n";
  for (const shards::BandStats& band : manifest.bands)
    out << "<tr><td>" << escape(band.name) << "</td><td class=\"n\">" << band.source_band
        << "</td><td>" << escape(band.dtype) << "</td><td class=\"n\">" << format(band.mean, 6)
        << "</td><td class=\"n\">" << format(band.std, 6) << "</td><td class=\"n\">" << band.count
        << "</td></tr>\n";
  out << "</table>\n<p>" << manifest.total_tiles() << " tiles of " << manifest.tile_size << " × "
      << manifest.tile_size << " px";
  for (const auto& [split, tiles] : manifest.tiles_per_split)
    out << ", " << split << " " << tiles;
  out << ".</p>\n";
  return out.str();
}

std::string data_uri(const std::string& png) {
  return "data:image/png;base64," + base64(file_contents(png));
}

std::string tiles_section(const std::string& run) {
  const std::string tiles = RunDirectory(run).validation_tiles();
  const std::string index_path = tiles + "/tiles.json";
  if (!file_exists(index_path))
    return "<p>No validation tiles (the run has no val split, or has not validated yet).</p>\n";
  const auto index = nlohmann::json::parse(file_contents(index_path));
  std::ostringstream out;
  out << "<p>After step " << index.at("step").get<std::int64_t>()
      << ". Errors: wrong in red, right in grey; white where nothing is judged (nodata, "
         "padding).</p>\n"
      << "<div class=\"legend\">";
  const auto classes = index.at("classes").get<std::vector<std::string>>();
  const auto colours = geo::class_colours(classes);
  for (std::size_t c = 0; c < classes.size(); ++c)
    out << "<span><i style=\"background:rgb(" << colours[c].c1 << "," << colours[c].c2 << ","
        << colours[c].c3 << ")\"></i>" << escape(classes[c]) << "</span>";
  out << "</div>\n<table class=\"tiles\"><tr><th>val tile</th><th>image</th><th>truth</th>"
         "<th>prediction</th><th>errors</th></tr>\n";
  for (const auto& tile : index.at("tiles")) {
    out << "<tr><td class=\"n\">" << tile.at("index").get<std::int64_t>() << "</td>";
    for (const char* kind : {"image", "truth", "prediction", "errors"})
      out << "<td><img alt=\"" << kind << "\" src=\""
          << data_uri(tiles + "/" + tile.at(kind).get<std::string>()) << "\"></td>";
    out << "</tr>\n";
  }
  out << "</table>\n";
  return out.str();
}

const char* const kStyle = R"(<style>
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 24px auto; max-width: 1620px;
       color: #282828; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.sub { color: #666; margin-top: 0; } .charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts svg { border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { font-weight: normal; color: #555; }
.tiles img { width: 160px; height: 160px; image-rendering: pixelated; display: block; }
.legend span { margin-right: 14px; } .legend i { display: inline-block; width: 12px;
       height: 12px; margin-right: 4px; vertical-align: -1px; border: 1px solid #999; }
.summary td { font-size: 14px; }
</style>
)";

std::string summary_table(const RunLog& metrics, const nlohmann::json& config) {
  const auto steps = metrics.numbers("step");
  const auto losses = metrics.numbers("loss");
  const auto iou = metrics.numbers("val_mean_foreground_iou");
  double best = std::numeric_limits<double>::quiet_NaN();
  for (double value : iou)
    if (std::isfinite(value) && !(value <= best))
      best = value;
  std::ostringstream out;
  out << "<table class=\"summary\"><tr><th>optimizer steps</th><td class=\"n\">"
      << (steps.empty() ? 0 : static_cast<std::int64_t>(steps.back())) << " of "
      << config.value("total_steps", 0) << "</td></tr><tr><th>last epoch's loss</th><td "
      << "class=\"n\">" << format(losses.empty() ? NAN : losses.back())
      << "</td></tr><tr><th>best validation mean foreground IoU</th><td class=\"n\">"
      << format(best) << "</td></tr><tr><th>ranks, backend, device</th><td>"
      << config.value("world_size", 1) << ", " << escape(config.value("backend", "?")) << ", "
      << escape(config.value("device", "cpu")) << "</td></tr></table>\n";
  return out.str();
}

// Display bytes of a normalised band: a 2-98 % stretch over the tile's finite values.
std::vector<std::uint8_t> stretched(const float* values, std::size_t count) {
  std::vector<float> sorted(values, values + count);
  std::sort(sorted.begin(), sorted.end());
  const float low = sorted[count / 50];
  const float high = std::max(sorted[count - 1 - count / 50], low + 1e-6f);
  std::vector<std::uint8_t> out(count);
  for (std::size_t i = 0; i < count; ++i)
    out[i] = static_cast<std::uint8_t>(
        std::lround(std::clamp((values[i] - low) / (high - low), 0.0f, 1.0f) * 255.0f));
  return out;
}

// Pixels no class is judged on (nodata, padding): white, apart from any class colour.
constexpr std::uint8_t kNotJudged = 255;

std::vector<std::uint8_t> class_rgb(const std::vector<std::uint8_t>& labels,
                                    const std::vector<GDALColorEntry>& colours) {
  const std::size_t plane = labels.size();
  std::vector<std::uint8_t> rgb(3 * plane, kNotJudged);
  for (std::size_t i = 0; i < plane; ++i) {
    if (labels[i] >= colours.size())
      continue;
    const GDALColorEntry& colour = colours[labels[i]];
    rgb[i] = static_cast<std::uint8_t>(colour.c1);
    rgb[plane + i] = static_cast<std::uint8_t>(colour.c2);
    rgb[2 * plane + i] = static_cast<std::uint8_t>(colour.c3);
  }
  return rgb;
}

}  // namespace

const options::Table<ReportOptions>& report_option_table() {
  using O = ReportOptions;
  static const auto table =
      options::Table<O>()
          .value("run", &O::run, "run directory of satunet train", "RUN")
          .positional()
          .required("a RUN directory")
          .value("out", &O::out, "the HTML page to write (default: RUN/report.html)", "REPORT.html")
          .flag("overwrite", &O::overwrite, "replace an existing --out page");
  return table;
}

void validate(const ReportOptions& options) {
  report_option_table().check(options);
}

ReportResult write_run_report(const ReportOptions& options) {
  validate(options);
  const std::string& run = options.run;
  const RunDirectory directory(run);
  if (!file_exists(directory.config()) || !file_exists(directory.metrics()))
    throw Error(run + ": not a training run of satunet train (no config.json and metrics.csv)");
  const std::string html = options.out.empty() ? directory.report_page() : options.out;
  // The run's own page and its charts (RUN/report.html, RUN/report/) are the report's place in
  // the run, replaced each time; any other page is an output as every command's: never inside
  // the run it reports on, never over a file without --overwrite.
  if (!same_file(html, directory.report_page()))
    check_output_path(html, options.overwrite, {run});
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(file_contents(directory.config()));
  } catch (const nlohmann::json::exception& error) {
    throw Error(directory.config() + ": " + error.what());
  }
  const RunLog metrics = directory.read_metrics();
  const RunLog steps = directory.read_steps();
  const std::vector<std::string> classes = RunDirectory::classes_of(metrics);

  ReportResult result;
  result.html = html;
  std::ostringstream page;
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  page << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>satunet "
          "run "
       << escape(run) << "</title>\n"
       << kStyle << "</head>\n<body>\n<h1>Training run " << escape(run) << "</h1>\n"
       << "<p class=\"sub\">" << escape(config.value("command_line", "")) << "<br>report of "
       << date << "</p>\n"
       << summary_table(metrics, config) << "<h2>Curves</h2>\n<div class=\"charts\">\n";
  ensure_directory(directory.report_files());
  for (const auto& [name, chart] : run_charts(metrics, steps, classes)) {
    page << chart_svg(chart, kChartWidth, kChartHeight) << "\n";
    if (png_supported()) {
      const std::string png = directory.report_files() + "/" + name + ".png";
      write_chart_png(chart, kChartWidth, kChartHeight, png);
      result.pngs.push_back(png);
    }
  }
  page << "</div>\n<h2>Validation tiles</h2>\n" << tiles_section(run);
  page << "<h2>Configuration</h2>\n" << configuration_table(config);
  const std::string data = config.value("data", "");
  page << "<h2>Dataset</h2>\n";
  try {
    page << "<p>" << escape(data) << "</p>\n" << dataset_tables(shards::Manifest::load(data));
  } catch (const Error& error) {
    page << "<p>The dataset is not readable here: " << escape(error.what()) << "</p>\n";
  }
  page << "</body>\n</html>\n";
  write_file(result.html, page.str());
  return result;
}

void write_validation_tiles(const std::string& run, std::int64_t step, int bands, int tile,
                            const std::vector<std::string>& classes,
                            const std::vector<ValidationTile>& tiles) {
  const std::string dir = RunDirectory(run).validation_tiles();
  ensure_directory(dir);
  const auto plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
  const auto colours = geo::class_colours(classes);
  nlohmann::json index = {{"step", step}, {"classes", classes}, {"tiles", nlohmann::json::array()}};
  for (std::size_t t = 0; t < tiles.size(); ++t) {
    const ValidationTile& item = tiles[t];
    const std::string stem = "tile-" + std::to_string(t) + "-";
    std::vector<std::uint8_t> image(3 * plane);
    for (int channel = 0; channel < 3; ++channel) {
      const int band = std::min(channel, bands - 1);
      const auto values =
          stretched(item.image.data() + static_cast<std::size_t>(band) * plane, plane);
      std::copy(values.begin(), values.end(), image.begin() + channel * plane);
    }
    std::vector<std::uint8_t> errors(3 * plane);
    for (std::size_t i = 0; i < plane; ++i) {
      const bool judged = item.truth[i] != kIgnoreLabel;
      const bool right = item.truth[i] == item.prediction[i];
      const auto grey =
          static_cast<std::uint8_t>((image[i] + image[plane + i] + image[2 * plane + i]) / 6 + 40);
      errors[i] = !judged ? kNotJudged : right ? grey : 230;
      errors[plane + i] = !judged ? kNotJudged : right ? grey : 30;
      errors[2 * plane + i] = !judged ? kNotJudged : right ? grey : 30;
    }
    geo::write_png(dir + "/" + stem + "image.png", tile, tile, 3, image.data());
    geo::write_png(dir + "/" + stem + "truth.png", tile, tile, 3,
                   class_rgb(item.truth, colours).data());
    geo::write_png(dir + "/" + stem + "prediction.png", tile, tile, 3,
                   class_rgb(item.prediction, colours).data());
    geo::write_png(dir + "/" + stem + "errors.png", tile, tile, 3, errors.data());
    index["tiles"].push_back({{"index", item.index},
                              {"image", stem + "image.png"},
                              {"truth", stem + "truth.png"},
                              {"prediction", stem + "prediction.png"},
                              {"errors", stem + "errors.png"}});
  }
  write_file(dir + "/tiles.json", index.dump(2) + "\n");
}

}  // namespace satunet::report
