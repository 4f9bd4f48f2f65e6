#include "scoring/confusion_matrix.hpp"

#include <cmath>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/labels.hpp"

namespace satunet::scoring {
namespace {

double ratio(std::int64_t numerator, std::int64_t denominator) {
  return denominator == 0 ? std::numeric_limits<double>::quiet_NaN()
                          : static_cast<double>(numerator) / static_cast<double>(denominator);
}

}  // namespace

nlohmann::json number_or_null(double value) {
  return std::isnan(value) ? nlohmann::json() : nlohmann::json(value);
}

double number_or_nan(const nlohmann::json& value) {
  return value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
}

ConfusionMatrix::ConfusionMatrix(int classes)
    : classes_(classes), counts_(static_cast<std::size_t>(classes) * classes, 0) {}

void ConfusionMatrix::add(const std::uint8_t* truth, const std::uint8_t* prediction,
                          std::size_t pixels) {
  for (std::size_t i = 0; i < pixels; ++i) {
    if (truth[i] == kIgnoreLabel)
      continue;
    if (truth[i] >= classes_ || prediction[i] >= classes_)
      throw Error("class id " + std::to_string(std::max(truth[i], prediction[i])) +
                  " outside the " + std::to_string(classes_) + " classes");
    ++counts_[index(truth[i], prediction[i])];
  }
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  if (other.classes_ != classes_)
    throw Error("cannot add confusion matrices of " + std::to_string(classes_) + " and " +
                std::to_string(other.classes_) + " classes");
  for (std::size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
}

std::int64_t ConfusionMatrix::total() const {
  std::int64_t sum = 0;
  for (std::int64_t count : counts_)
    sum += count;
  return sum;
}

std::int64_t ConfusionMatrix::predicted(int cls) const {
  std::int64_t sum = 0;
  for (int t = 0; t < classes_; ++t)
    sum += count(t, cls);
  return sum;
}

std::int64_t ConfusionMatrix::actual(int cls) const {
  std::int64_t sum = 0;
  for (int p = 0; p < classes_; ++p)
    sum += count(cls, p);
  return sum;
}

double ConfusionMatrix::iou(int cls) const {
  return ratio(true_positive(cls), actual(cls) + predicted(cls) - true_positive(cls));
}
double ConfusionMatrix::precision(int cls) const {
  return ratio(true_positive(cls), predicted(cls));
}
double ConfusionMatrix::recall(int cls) const {
  return ratio(true_positive(cls), actual(cls));
}
double ConfusionMatrix::f1(int cls) const {
  return ratio(2 * true_positive(cls), actual(cls) + predicted(cls));
}

double ConfusionMatrix::pixel_accuracy() const {
  std::int64_t correct = 0;
  for (int c = 0; c < classes_; ++c)
    correct += true_positive(c);
  return ratio(correct, total());
}

double ConfusionMatrix::mean_foreground_iou() const {
  double sum = 0;
  int present = 0;
  for (int c = 1; c < classes_; ++c) {
    const double value = iou(c);
    if (std::isnan(value))
      continue;
    sum += value;
    ++present;
  }
  return present ? sum / present : std::numeric_limits<double>::quiet_NaN();
}

std::string ConfusionMatrix::table(const std::vector<std::string>& names) const {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4);
  out << std::left << std::setw(14) << "class" << std::right << std::setw(10) << "IoU"
      << std::setw(10) << "F1" << std::setw(11) << "precision" << std::setw(10) << "recall"
      << std::setw(14) << "pixels"
      << "\n";
  for (int c = 0; c < classes_; ++c) {
    const std::string name = c < static_cast<int>(names.size()) ? names[c] : std::to_string(c);
    out << std::left << std::setw(14) << name << std::right << std::setw(10) << iou(c)
        << std::setw(10) << f1(c) << std::setw(11) << precision(c) << std::setw(10) << recall(c)
        << std::setw(14) << actual(c) << "\n";
  }
  out << "pixel accuracy " << pixel_accuracy() << ", mean foreground IoU " << mean_foreground_iou()
      << "\n";
  return out.str();
}

std::string ConfusionMatrix::json(const std::vector<std::string>& names) const {
  nlohmann::json classes = nlohmann::json::object();
  for (int c = 0; c < classes_; ++c) {
    const std::string name = c < static_cast<int>(names.size()) ? names[c] : std::to_string(c);
    classes[name] = {{"iou", number_or_null(iou(c))},
                     {"f1", number_or_null(f1(c))},
                     {"precision", number_or_null(precision(c))},
                     {"recall", number_or_null(recall(c))},
                     {"pixels", actual(c)}};
  }
  return nlohmann::json{{"classes", classes},
                        {"pixel_accuracy", number_or_null(pixel_accuracy())},
                        {"mean_foreground_iou", number_or_null(mean_foreground_iou())},
                        {"confusion", counts_}}
      .dump(2);
}

}  // namespace satunet::scoring
