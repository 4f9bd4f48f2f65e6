#pragma once
// Confusion matrices and the scores derived from them, free of LibTorch so that evaluation of
// rasters needs no model. Matrices of several ranks or tiles add up element by element.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace satunet::scoring {

// Scores in JSON: an undefined one (NaN: a class never seen) as null, and back.
nlohmann::json number_or_null(double value);
double number_or_nan(const nlohmann::json& value);

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int classes = 0);

  // Counts pixels where truth is not kIgnoreLabel; values outside [0, classes) throw.
  void add(const std::uint8_t* truth, const std::uint8_t* prediction, std::size_t pixels);
  void add_pixel(int truth, int prediction) { ++counts_[index(truth, prediction)]; }
  void merge(const ConfusionMatrix& other);

  int classes() const { return classes_; }
  std::int64_t count(int truth, int prediction) const { return counts_[index(truth, prediction)]; }
  std::int64_t total() const;
  // For all-reduce: classes x classes counts, truth-major.
  std::vector<std::int64_t>& counts() { return counts_; }
  const std::vector<std::int64_t>& counts() const { return counts_; }

  double iou(int cls) const;        // TP / (TP + FP + FN); NaN when the class is absent
  double precision(int cls) const;  // TP / (TP + FP)
  double recall(int cls) const;     // TP / (TP + FN)
  double f1(int cls) const;         // 2 TP / (2 TP + FP + FN)
  double pixel_accuracy() const;
  // Mean IoU over classes 1.. (background excluded) that occur in truth or prediction.
  double mean_foreground_iou() const;

  // A table for people, and JSON for scripts; `names` label the classes.
  std::string table(const std::vector<std::string>& names) const;
  std::string json(const std::vector<std::string>& names) const;

 private:
  std::size_t index(int truth, int prediction) const {
    return static_cast<std::size_t>(truth) * classes_ + prediction;
  }
  std::int64_t true_positive(int cls) const { return count(cls, cls); }
  std::int64_t predicted(int cls) const;  // column sum
  std::int64_t actual(int cls) const;     // row sum

  int classes_;
  std::vector<std::int64_t> counts_;
};

}  // namespace satunet::scoring
