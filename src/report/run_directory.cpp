#include "report/run_directory.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/files.hpp"
#include "common/text.hpp"

namespace satunet::report {
namespace {

const std::string kIouPrefix = "val_iou_";

// A log's columns, each with its cell of one row.
using Cells = std::vector<std::pair<std::string, std::string>>;

// Six significant digits, as the logs have always had them.
std::string number(double value) {
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

std::string unless_nan(double value) {
  return std::isnan(value) ? "" : std::to_string(value);
}

// metrics.csv's columns and `row`'s cells: the one list that its header and rows follow.
Cells metrics_cells(const EpochMetrics& row, const std::vector<std::string>& classes) {
  Cells cells = {{"epoch", std::to_string(row.epoch)},
                 {"step", std::to_string(row.step)},
                 {"loss", number(row.loss)},
                 {"lr", number(row.lr)},
                 {"samples_per_s", number(row.samples_per_second)},
                 {"data_wait_pct", number(row.data_wait_percent)},
                 {"comm_wait_pct", number(row.comm_wait_percent)}};
  for (std::size_t c = 0; c < classes.size(); ++c)
    cells.emplace_back(kIouPrefix + classes[c],
                       c < row.iou.size() ? std::to_string(row.iou[c]) : "");
  cells.emplace_back("val_mean_foreground_iou", unless_nan(row.mean_foreground_iou));
  cells.emplace_back("val_loss", unless_nan(row.val_loss));
  cells.emplace_back("skipped_steps", std::to_string(row.skipped_steps));
  return cells;
}

// steps.csv's.
Cells step_cells(const StepMetrics& row) {
  return {{"step", std::to_string(row.step)},
          {"epoch", std::to_string(row.epoch)},
          {"loss", number(row.loss)},
          {"lr", number(row.lr)}};
}

std::vector<std::string> names(const Cells& cells) {
  std::vector<std::string> out;
  for (const auto& cell : cells)
    out.push_back(cell.first);
  return out;
}

std::vector<std::string> values(const Cells& cells) {
  std::vector<std::string> out;
  for (const auto& cell : cells)
    out.push_back(cell.second);
  return out;
}

void start_log(const std::string& path, const Cells& columns, bool keep) {
  if (!keep || !file_exists(path))
    write_file(path, text::join(names(columns), ",") + "\n");
}

// Appending a line is all-or-nothing enough for a log; the file itself was made atomically.
void append_row(const std::string& path, const Cells& cells) {
  std::ofstream(path, std::ios::app) << text::join(values(cells), ",") + "\n";
}

}  // namespace

bool RunLog::has(const std::string& column) const {
  return std::find(columns_.begin(), columns_.end(), column) != columns_.end();
}

std::vector<double> RunLog::numbers(const std::string& column) const {
  std::vector<double> out;
  out.reserve(rows_.size());
  for (const CsvRow& row : rows_) {
    const std::string cell = row.cell(column);
    out.push_back(cell.empty() ? std::numeric_limits<double>::quiet_NaN()
                               : std::strtod(cell.c_str(), nullptr));
  }
  return out;
}

Product RunDirectory::product() {
  return {"a training run",
          {kLast, kMetrics, kBest},
          {kCheckpoints, kReportFiles, kMetrics, kSteps, kConfig, kReportPage},
          "--resume continues it, --overwrite replaces it"};
}

std::vector<std::string> RunDirectory::metrics_columns(const std::vector<std::string>& classes) {
  return names(metrics_cells({}, classes));
}

std::vector<std::string> RunDirectory::classes_of(const RunLog& metrics) {
  std::vector<std::string> classes;
  for (const std::string& column : metrics.columns())
    if (column.rfind(kIouPrefix, 0) == 0)
      classes.push_back(column.substr(kIouPrefix.size()));
  return classes;
}

void RunDirectory::start_logs(const std::vector<std::string>& classes, bool keep) const {
  start_log(metrics(), metrics_cells({}, classes), keep);
  start_log(steps(), step_cells({}), keep);
}

void RunDirectory::append(const EpochMetrics& row, const std::vector<std::string>& classes) const {
  append_row(metrics(), metrics_cells(row, classes));
}

void RunDirectory::append(const StepMetrics& row) const {
  append_row(steps(), step_cells(row));
}

// The header first: CsvTable takes a list of known columns (here whatever the header names)
// and refuses a list without rows, which a log just begun is.
RunLog RunDirectory::read_log(const std::string& path) {
  RunLog log;
  std::ifstream file(path);
  std::string line;
  if (!std::getline(file, line))
    return log;
  log.columns_ = text::split(line, ',');
  bool any_row = false;
  while (!any_row && std::getline(file, line)) {
    const std::string content = text::trim(line);
    any_row = !content.empty() && content[0] != '#';
  }
  if (any_row)
    log.rows_ = CsvTable::read(path, log.columns_, {}).rows();
  return log;
}

}  // namespace satunet::report
