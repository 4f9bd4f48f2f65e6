#pragma once
// The benchmarks' machine-readable records: JSON lines, as nccl-tests and llama-bench write
// them. Each measurement is one JSON object on a line of its own, appended to the file the
// benchmark was given (--jsonl FILE):
//
//   {"bench": "predict", "name": "pipeline.rate", "value": 51.7, "unit": "Mpx/s", "tile": 256, ...}
//
//   bench  the benchmark (program or part) that measured it: "read", "predict", "allreduce" ...
//   name   what was measured, unique within the bench for one configuration: "pipeline.seconds"
//   value  the figure, a number (null where it is not finite)
//   unit   its unit: "s", "MB/s", "Mpx/s", "GB/s", "MB", "samples/s", "ms", "" (a ratio, a count)
//   ...    the configuration it was measured in, as flat fields (strings, numbers, booleans)
//
// This is the one definition of the format: the C++ benchmarks write through RecordFile;
// launch/bench/records.py writes the shell's own measurements (wall time, peak memory) in the
// same form, and launch/bench/compare.py reads both against launch/bench/goals.json.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/options.hpp"

namespace satunet::bench {

// The record of one measurement: bench, name, value and unit first, then `fields` (an object;
// its keys must not be those four).
nlohmann::ordered_json record(const std::string& bench, const std::string& name, double value,
                              const std::string& unit,
                              const nlohmann::json& fields = nlohmann::json::object());

// The file a benchmark appends its records to; with no path, records go nowhere.
class RecordFile {
 public:
  RecordFile() = default;
  explicit RecordFile(std::string path) : path_(std::move(path)) {}

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // Appends one line (opened, written and closed: several processes may append in turn).
  // Throws Error when the file cannot be written.
  void write(const std::string& bench, const std::string& name, double value,
             const std::string& unit,
             const nlohmann::json& fields = nlohmann::json::object()) const;

 private:
  std::string path_;
};

// --jsonl FILE, for the options tables of `satunet bench`'s benchmarks (included by each).
const options::Table<std::string>& jsonl_option_table();

// For programs with plain argument lists (tests/bench): removes "--jsonl FILE" (or
// "--jsonl=FILE") from `args` wherever it stands and returns FILE, "" when absent. Throws
// UsageError when FILE is missing.
std::string take_jsonl_option(std::vector<std::string>& args);

}  // namespace satunet::bench
