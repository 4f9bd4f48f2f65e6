#include "common/bench_record.hpp"

#include <cmath>
#include <fstream>

#include "common/error.hpp"

namespace satunet::bench {

nlohmann::ordered_json record(const std::string& bench, const std::string& name, double value,
                              const std::string& unit, const nlohmann::json& fields) {
  nlohmann::ordered_json line;
  line["bench"] = bench;
  line["name"] = name;
  line["value"] = std::isfinite(value) ? nlohmann::ordered_json(value) : nullptr;
  line["unit"] = unit;
  if (!fields.is_object())
    throw std::logic_error("bench::record: fields must be a JSON object");
  for (const auto& [key, field] : fields.items()) {
    if (line.contains(key))
      throw std::logic_error("bench::record: field '" + key + "' is one of the record's own");
    line[key] = field;
  }
  return line;
}

void RecordFile::write(const std::string& bench, const std::string& name, double value,
                       const std::string& unit, const nlohmann::json& fields) const {
  if (!enabled())
    return;
  const std::string line = record(bench, name, value, unit, fields).dump() + "\n";
  std::ofstream out(path_, std::ios::app | std::ios::binary);
  out << line;
  out.close();
  if (!out)
    throw Error("cannot append the benchmark's record to " + path_);
}

const options::Table<std::string>& jsonl_option_table() {
  // A chained call on a line of its own, as every declaration (the CLI test finds them so).
  // clang-format off
  static const auto table =
      options::Table<std::string>()
          .value_at(
              "jsonl", [](std::string& path) -> std::string& { return path; },
              "append one JSON line per measurement to this file: bench, name, value, unit and "
              "the configuration (common/bench_record.hpp)",
              "FILE");
  // clang-format on
  return table;
}

std::string take_jsonl_option(std::vector<std::string>& args) {
  std::string path;
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == "--jsonl") {
      if (i + 1 >= args.size() || args[i + 1].empty())
        throw UsageError("--jsonl needs a FILE");
      path = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
                 args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else if (args[i].rfind("--jsonl=", 0) == 0) {
      path = args[i].substr(8);
      if (path.empty())
        throw UsageError("--jsonl needs a FILE");
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return path;
}

}  // namespace satunet::bench
