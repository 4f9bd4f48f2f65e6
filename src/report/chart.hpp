#pragma once
// Line charts of a run's curves, drawn once onto a canvas that is either SVG text (embedded in
// the HTML report: vector, its text real text, every series' points in a <polyline>) or a PNG
// (through cairo, for slides and papers). The layout (scales, ticks, labels, legend) is
// computed in one place; the canvases only draw primitives.
#include <optional>
#include <string>
#include <vector>

namespace satunet::report {

struct Series {
  std::string name;
  std::vector<double> x, y;  // NaN values are gaps
  bool markers = false;      // a dot at each point (for sparse series)
};

struct Chart {
  std::string title;
  std::string x_label;  // with its unit, e.g. "optimizer step"
  std::string y_label;  // e.g. "loss (cross-entropy)", "samples / s"
  std::vector<Series> series;
  std::optional<double> y_min, y_max;  // fixed limits, e.g. [0, 1] for IoU
};

// "Nice" tick values (1, 2 or 5 times a power of ten) covering [low, high], about `count`.
std::vector<double> nice_ticks(double low, double high, int count);

// The chart as a standalone <svg> element, width x height user units.
std::string chart_svg(const Chart& chart, int width, int height);

// Whether PNG output is built in (cairo found at configure time).
bool png_supported();
// The chart as a PNG file (atomically); throws where png_supported() is false.
void write_chart_png(const Chart& chart, int width, int height, const std::string& path);

}  // namespace satunet::report
