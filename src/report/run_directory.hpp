#pragma once
// The run directory of `satunet train`, spelled in one place: what the trainer writes there,
// and `satunet report` (and launch/bench.sh, by column name) reads back.
//
//   RUN/config.json              the run's configuration
//   RUN/metrics.csv              a row per epoch end (and one where the run ends mid-epoch)
//   RUN/steps.csv                a row per optimizer step
//   RUN/checkpoints/last.pt      the latest state; best.pt that of the best validation
//   RUN/report.html, RUN/report/ the report page; its PNG charts and validation tiles
//
// No LibTorch here: the report library reads runs without it.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/csv_table.hpp"
#include "common/output_directory.hpp"

namespace satunet::report {

// A row of metrics.csv.
struct EpochMetrics {
  std::int64_t epoch = 0;  // counted from 1
  std::int64_t step = 0;   // optimizer steps done in all
  double loss = 0;         // the epoch's mean train loss, over its finite steps and the ranks
  double lr = 0;
  double samples_per_second = 0;  // of all ranks
  double data_wait_percent = 0;
  double comm_wait_percent = 0;
  std::vector<double> iou;  // validation IoU per class; empty when the epoch did not validate
  double mean_foreground_iou = std::numeric_limits<double>::quiet_NaN();
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  std::int64_t skipped_steps = 0;  // in all, not finite (--on-nonfinite skip)
};

// A row of steps.csv.
struct StepMetrics {
  std::int64_t step = 0;   // counted from 1
  std::int64_t epoch = 0;  // counted from 0, as steps.csv has always had it
  double loss = 0;         // the mean over the ranks
  double lr = 0;
};

// metrics.csv or steps.csv read back: its columns, and each row's cells by column name.
class RunLog {
 public:
  const std::vector<std::string>& columns() const { return columns_; }
  bool has(const std::string& column) const;
  const std::vector<CsvRow>& rows() const { return rows_; }
  // The column's numbers, row by row: NaN where a cell is empty or the column absent.
  std::vector<double> numbers(const std::string& column) const;

 private:
  friend class RunDirectory;
  std::vector<std::string> columns_;
  std::vector<CsvRow> rows_;
};

class RunDirectory {
 public:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string config() const { return at(kConfig); }
  std::string metrics() const { return at(kMetrics); }
  std::string steps() const { return at(kSteps); }
  std::string checkpoints() const { return at(kCheckpoints); }
  std::string last_checkpoint() const { return at(kLast); }
  std::string best_checkpoint() const { return at(kBest); }
  std::string report_page() const { return at(kReportPage); }
  std::string report_files() const { return at(kReportFiles); }  // charts as PNG, tiles
  std::string validation_tiles() const { return report_files() + "/tiles"; }

  // What a run is to the output-directory policy (common/output_directory.hpp): there when a
  // checkpoint or metrics.csv is; replaced as every file a run writes, and nothing else.
  static Product product();

  // metrics.csv's header for `classes`: the columns its rows follow.
  static std::vector<std::string> metrics_columns(const std::vector<std::string>& classes);
  // The classes a metrics.csv has validation IoU columns for, in order.
  static std::vector<std::string> classes_of(const RunLog& metrics);

  // metrics.csv and steps.csv begun with their headers; with `keep`, a log already there is
  // kept as it is (a resumed run goes on appending to it).
  void start_logs(const std::vector<std::string>& classes, bool keep) const;
  // A row appended to metrics.csv (begun for `classes`) or steps.csv.
  void append(const EpochMetrics& row, const std::vector<std::string>& classes) const;
  void append(const StepMetrics& row) const;

  // The logs as they are: no columns and no rows where a file is missing or empty. Throws
  // "<file>:<line>: ..." for a row of more or fewer cells than the header.
  RunLog read_metrics() const { return read_log(metrics()); }
  RunLog read_steps() const { return read_log(steps()); }

 private:
  // Relative to the run directory.
  static constexpr const char* kConfig = "config.json";
  static constexpr const char* kMetrics = "metrics.csv";
  static constexpr const char* kSteps = "steps.csv";
  static constexpr const char* kCheckpoints = "checkpoints";
  static constexpr const char* kLast = "checkpoints/last.pt";
  static constexpr const char* kBest = "checkpoints/best.pt";
  static constexpr const char* kReportPage = "report.html";
  static constexpr const char* kReportFiles = "report";

  std::string at(const char* relative) const { return path_ + "/" + relative; }
  static RunLog read_log(const std::string& path);

  std::string path_;
};

}  // namespace satunet::report
