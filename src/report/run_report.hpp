#pragma once
// `satunet report RUN`: one self-contained HTML page about a training run, which opens offline:
// loss (train per step and per epoch, validation), IoU per class, learning rate, samples/s and
// the shares of time spent waiting for data and for communication against the optimizer step
// (vector charts, the same curves as PNG files in RUN/report/ for slides and papers); the
// run's configuration; the dataset's class balance and band statistics; and validation tiles:
// image, truth, prediction and errors.
#include <cstdint>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace satunet::report {

struct ReportOptions {
  std::string run;  // a run directory of satunet train
  std::string out;  // default: RUN/report.html
  // Replace an existing --out page (the run's own page always is).
  bool overwrite = false;
};

const options::Table<ReportOptions>& report_option_table();
void validate(const ReportOptions& options);  // throws UsageError

struct ReportResult {
  std::string html;
  std::vector<std::string> pngs;  // the curves as PNG files (none without cairo)
};
ReportResult write_run_report(const ReportOptions& options);

// Validation tiles the trainer shows in the report: normalised input bands, truth and
// prediction (class ids, 255 = ignored), written as PNGs under RUN/report/tiles/.
struct ValidationTile {
  std::int64_t index = 0;                       // in the val split
  std::vector<float> image;                     // [bands][tile][tile], normalised
  std::vector<std::uint8_t> truth, prediction;  // [tile][tile]
};
void write_validation_tiles(const std::string& run, std::int64_t step, int bands, int tile,
                            const std::vector<std::string>& classes,
                            const std::vector<ValidationTile>& tiles);

}  // namespace satunet::report
