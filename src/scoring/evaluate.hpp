#pragma once
// `satunet evaluate`: a predicted class map against the truth (a class raster on the same grid,
// or vector labels rasterized onto it), strip by strip; 255 on either side is ignored.
#include <map>
#include <string>
#include <vector>

#include "common/options.hpp"
#include "scoring/confusion_matrix.hpp"

namespace satunet::scoring {

struct EvaluateOptions {
  std::string prediction;  // class raster (uint8), 255 = nodata
  std::string truth;       // class raster on the same grid, or
  std::vector<std::pair<std::string, std::string>> truth_labels;  // CLASS=FILE vectors
  std::vector<std::string> classes;            // names; default: the prediction's categories
  std::map<std::string, double> line_width_m;  // for vector truth
  std::string width_field;
  std::string json;  // also write the scores here
  std::int64_t strip_rows = 256;
};

struct Evaluation {
  std::vector<std::string> classes;
  ConfusionMatrix matrix;
};

const options::Table<EvaluateOptions>& evaluate_option_table();
void validate(const EvaluateOptions& options);  // throws UsageError
Evaluation evaluate(const EvaluateOptions& options);

}  // namespace satunet::scoring
