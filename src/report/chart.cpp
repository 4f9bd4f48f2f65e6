#include "report/chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <utility>

#include "common/error.hpp"
#include "common/files.hpp"

#ifdef SATUNET_HAVE_CAIRO
#include <cairo.h>
#endif

namespace satunet::report {
namespace {

struct Colour {
  int r, g, b;
};

// Colour-blind-safe categorical colours (Okabe and Ito), then greys.
const Colour kPalette[] = {{0, 114, 178}, {213, 94, 0},   {0, 158, 115}, {204, 121, 167},
                           {230, 159, 0}, {86, 180, 233}, {0, 0, 0},     {120, 120, 120}};
const Colour kInk{40, 40, 40};
const Colour kGrid{225, 225, 225};
constexpr double kFont = 12;

enum class Anchor { start, middle, end };

using Point = std::pair<double, double>;

// What a chart is drawn with: SVG text or cairo.
class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual void line(Point from, Point to, Colour colour, double width) = 0;
  // One unbroken stretch of a series.
  virtual void polyline(const std::vector<Point>& points, Colour colour, double width,
                        const std::string& series) = 0;
  virtual void dot(Point at, double radius, Colour colour) = 0;
  virtual void text(Point at, const std::string& text, double size, Anchor anchor, Colour colour,
                    bool bold = false, bool vertical = false) = 0;
};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string rgb(Colour colour) {
  char text[32];
  std::snprintf(text, sizeof text, "rgb(%d,%d,%d)", colour.r, colour.g, colour.b);
  return text;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

class SvgCanvas final : public Canvas {
 public:
  SvgCanvas(int width, int height, const std::string& title) {
    out_ << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << width
         << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height
         << "\" font-family=\"DejaVu Sans, Verdana, sans-serif\" role=\"img\" aria-label=\""
         << escape(title) << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  }
  void line(Point from, Point to, Colour colour, double width) override {
    out_ << "<line x1=\"" << number(from.first) << "\" y1=\"" << number(from.second) << "\" x2=\""
         << number(to.first) << "\" y2=\"" << number(to.second) << "\" stroke=\"" << rgb(colour)
         << "\" stroke-width=\"" << width << "\"/>\n";
  }
  void polyline(const std::vector<Point>& points, Colour colour, double width,
                const std::string& series) override {
    out_ << "<polyline data-series=\"" << escape(series) << "\" data-points=\"" << points.size()
         << "\" fill=\"none\" stroke=\"" << rgb(colour) << "\" stroke-width=\"" << width
         << "\" stroke-linejoin=\"round\" points=\"";
    for (std::size_t i = 0; i < points.size(); ++i)
      out_ << (i ? " " : "") << number(points[i].first) << "," << number(points[i].second);
    out_ << "\"/>\n";
  }
  void dot(Point at, double radius, Colour colour) override {
    out_ << "<circle cx=\"" << number(at.first) << "\" cy=\"" << number(at.second) << "\" r=\""
         << radius << "\" fill=\"" << rgb(colour) << "\"/>\n";
  }
  void text(Point at, const std::string& text, double size, Anchor anchor, Colour colour, bool bold,
            bool vertical) override {
    const char* anchors[] = {"start", "middle", "end"};
    out_ << "<text x=\"" << number(at.first) << "\" y=\"" << number(at.second) << "\" font-size=\""
         << size << "\" fill=\"" << rgb(colour) << "\" text-anchor=\""
         << anchors[static_cast<int>(anchor)] << "\"" << (bold ? " font-weight=\"bold\"" : "");
    if (vertical)
      out_ << " transform=\"rotate(-90 " << number(at.first) << " " << number(at.second) << ")\"";
    out_ << ">" << escape(text) << "</text>\n";
  }
  std::string finish() {
    out_ << "</svg>";
    return out_.str();
  }

 private:
  std::ostringstream out_;
};

#ifdef SATUNET_HAVE_CAIRO
class CairoCanvas final : public Canvas {
 public:
  // Drawn at `scale` device pixels per unit, for sharp lines and text in print.
  CairoCanvas(int width, int height, double scale)
      : surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width * scale),
                                            static_cast<int>(height * scale))),
        cairo_(cairo_create(surface_)) {
    cairo_scale(cairo_, scale, scale);
    cairo_set_source_rgb(cairo_, 1, 1, 1);
    cairo_paint(cairo_);
    cairo_select_font_face(cairo_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
  }
  ~CairoCanvas() override {
    cairo_destroy(cairo_);
    cairo_surface_destroy(surface_);
  }
  CairoCanvas(const CairoCanvas&) = delete;
  CairoCanvas& operator=(const CairoCanvas&) = delete;

  void line(Point from, Point to, Colour colour, double width) override {
    colour_of(colour);
    cairo_set_line_width(cairo_, width);
    cairo_move_to(cairo_, from.first, from.second);
    cairo_line_to(cairo_, to.first, to.second);
    cairo_stroke(cairo_);
  }
  void polyline(const std::vector<Point>& points, Colour colour, double width,
                const std::string&) override {
    colour_of(colour);
    cairo_set_line_width(cairo_, width);
    cairo_set_line_join(cairo_, CAIRO_LINE_JOIN_ROUND);
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (i == 0)
        cairo_move_to(cairo_, points[i].first, points[i].second);
      else
        cairo_line_to(cairo_, points[i].first, points[i].second);
    }
    cairo_stroke(cairo_);
  }
  void dot(Point at, double radius, Colour colour) override {
    colour_of(colour);
    cairo_arc(cairo_, at.first, at.second, radius, 0, 2 * M_PI);
    cairo_fill(cairo_);
  }
  void text(Point at, const std::string& text, double size, Anchor anchor, Colour colour, bool bold,
            bool vertical) override {
    colour_of(colour);
    cairo_select_font_face(cairo_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cairo_, size);
    cairo_text_extents_t extents;
    cairo_text_extents(cairo_, text.c_str(), &extents);
    const double shift = anchor == Anchor::start    ? 0
                         : anchor == Anchor::middle ? extents.x_advance / 2
                                                    : extents.x_advance;
    cairo_save(cairo_);
    cairo_translate(cairo_, at.first, at.second);
    if (vertical)
      cairo_rotate(cairo_, -M_PI / 2);
    cairo_move_to(cairo_, -shift, 0);
    cairo_show_text(cairo_, text.c_str());
    cairo_restore(cairo_);
  }
  void write(const std::string& path) {
    cairo_surface_flush(surface_);
    PendingFile pending(path);
    if (cairo_surface_write_to_png(surface_, pending.temp_path().c_str()) != CAIRO_STATUS_SUCCESS)
      throw Error(path + ": cannot write PNG");
    pending.commit();
  }

 private:
  void colour_of(Colour colour) {
    cairo_set_source_rgb(cairo_, colour.r / 255.0, colour.g / 255.0, colour.b / 255.0);
  }
  cairo_surface_t* surface_;
  cairo_t* cairo_;
};
#endif

std::string tick_label(double value, double step) {
  char text[32];
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step))), 0, 6);
  if (std::abs(value) >= 1e5 || (value != 0 && std::abs(value) < 1e-3))
    std::snprintf(text, sizeof text, "%.2g", value);
  else
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return std::string(text) == "-0" ? "0" : text;
}

std::pair<double, double> finite_range(const std::vector<Series>& series, bool x) {
  double low = std::numeric_limits<double>::infinity();
  double high = -low;
  for (const Series& each : series)
    for (std::size_t i = 0; i < each.x.size() && i < each.y.size(); ++i) {
      const double value = x ? each.x[i] : each.y[i];
      if (std::isfinite(each.x[i]) && std::isfinite(each.y[i])) {
        low = std::min(low, value);
        high = std::max(high, value);
      }
    }
  if (!std::isfinite(low))
    return {0, 1};
  if (high - low < 1e-12) {
    const double pad = std::max(1.0, std::abs(low) * 0.1);
    return {low - pad, high + pad};
  }
  return {low, high};
}

void draw(const Chart& chart, int width, int height, Canvas& canvas) {
  const double left = 74, right = width - 16.0, top = 48, bottom = height - 44.0;
  auto [x_low, x_high] = finite_range(chart.series, true);
  auto [y_low, y_high] = finite_range(chart.series, false);
  const std::vector<double> y_ticks =
      nice_ticks(chart.y_min.value_or(y_low), chart.y_max.value_or(y_high), 5);
  const std::vector<double> x_ticks = nice_ticks(x_low, x_high, 6);
  y_low = chart.y_min.value_or(std::min(y_low, y_ticks.front()));
  y_high = chart.y_max.value_or(std::max(y_high, y_ticks.back()));
  auto px = [&](double x) { return left + (x - x_low) / (x_high - x_low) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_low) / (y_high - y_low) * (bottom - top); };

  canvas.text({left, 18}, chart.title, 14, Anchor::start, kInk, true);
  const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1;
  for (double y : y_ticks) {
    if (y < y_low - 1e-12 || y > y_high + 1e-12)
      continue;
    canvas.line({left, py(y)}, {right, py(y)}, kGrid, 1);
    canvas.text({left - 6, py(y) + 4}, tick_label(y, y_step), kFont - 1, Anchor::end, kInk);
  }
  const double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  for (double x : x_ticks) {
    if (x < x_low - 1e-12 || x > x_high + 1e-12)
      continue;
    canvas.line({px(x), bottom}, {px(x), bottom + 4}, kInk, 1);
    canvas.text({px(x), bottom + 17}, tick_label(x, x_step), kFont - 1, Anchor::middle, kInk);
  }
  canvas.line({left, bottom}, {right, bottom}, kInk, 1);
  canvas.line({left, top}, {left, bottom}, kInk, 1);
  canvas.text({(left + right) / 2, height - 6.0}, chart.x_label, kFont, Anchor::middle, kInk);
  canvas.text({16, (top + bottom) / 2}, chart.y_label, kFont, Anchor::middle, kInk, false, true);

  double legend_x = left;
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const Series& series = chart.series[s];
    const Colour colour = kPalette[s % (sizeof kPalette / sizeof kPalette[0])];
    canvas.line({legend_x, 34}, {legend_x + 18, 34}, colour, 3);
    canvas.text({legend_x + 22, 38}, series.name, kFont - 1, Anchor::start, kInk);
    legend_x += 34 + 6.5 * static_cast<double>(series.name.size());
    std::vector<Point> stretch;
    auto flush = [&] {
      if (!stretch.empty())
        canvas.polyline(stretch, colour, 2, series.name);
      stretch.clear();
    };
    for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) {
        flush();
        continue;
      }
      const Point point{px(series.x[i]), py(std::clamp(series.y[i], y_low, y_high))};
      stretch.push_back(point);
      if (series.markers)
        canvas.dot(point, 3, colour);
    }
    flush();
  }
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int count) {
  if (!(high > low))
    high = low + 1;
  const double raw = (high - low) / std::max(1, count);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw)
      break;
  }
  std::vector<double> ticks;
  for (double tick = std::floor(low / step) * step; tick <= high + step * 0.5; tick += step)
    ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
  return ticks;
}

std::string chart_svg(const Chart& chart, int width, int height) {
  SvgCanvas canvas(width, height, chart.title);
  draw(chart, width, height, canvas);
  return canvas.finish();
}

bool png_supported() {
#ifdef SATUNET_HAVE_CAIRO
  return true;
#else
  return false;
#endif
}

void write_chart_png(const Chart& chart, int width, int height, const std::string& path) {
#ifdef SATUNET_HAVE_CAIRO
  CairoCanvas canvas(width, height, 2.0);
  draw(chart, width, height, canvas);
  canvas.write(path);
#else
  (void)chart;
  (void)width;
  (void)height;
  throw Error(path + ": this satunet was built without cairo, which writes the PNG charts");
#endif
}

}  // namespace satunet::report
