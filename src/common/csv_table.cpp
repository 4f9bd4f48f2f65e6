#include "common/csv_table.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet {
namespace fs = std::filesystem;

std::string CsvRow::cell(const std::string& column) const {
  const auto found = cells.find(column);
  return found == cells.end() ? std::string() : found->second;
}

CsvTable CsvTable::read(const std::string& path, const std::vector<std::string>& known,
                        const std::vector<std::string>& required) {
  std::ifstream file(path);
  if (!file || fs::is_directory(path))
    throw Error(path + ": cannot read the list");
  std::string line;
  if (!std::getline(file, line))
    throw Error(path + ": empty list");
  const std::vector<std::string> header = text::split(line, ',');
  for (const std::string& column : header)
    if (std::find(known.begin(), known.end(), column) == known.end())
      throw Error(path + ": unknown column '" + column + "' (" + text::join(known, ", ") + ")");
  for (const std::string& column : required)
    if (std::find(header.begin(), header.end(), column) == header.end())
      throw Error(path + ": the header has no '" + column + "' column");
  CsvTable table;
  table.base_ = fs::path(path).parent_path().string();
  for (int number = 2; std::getline(file, line); ++number) {
    if (text::trim(line).empty() || text::trim(line)[0] == '#')
      continue;
    const std::vector<std::string> cells = text::split(line, ',');
    const std::string where = path + ":" + std::to_string(number);
    if (cells.size() != header.size())
      throw Error(where + ": " + std::to_string(cells.size()) + " cells, the header has " +
                  std::to_string(header.size()));
    CsvRow row{where, {}};
    for (std::size_t i = 0; i < header.size(); ++i)
      row.cells[header[i]] = cells[i];
    table.rows_.push_back(std::move(row));
  }
  if (table.rows_.empty())
    throw Error(path + ": nothing listed");
  return table;
}

std::string CsvTable::resolve(const std::string& path) const {
  return (path.empty() || fs::path(path).is_absolute()) ? path : (fs::path(base_) / path).string();
}

}  // namespace satunet
