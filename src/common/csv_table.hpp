#pragma once
// The lists of files that commands take as CSV (tile --scenes, evaluate --scenes): a header
// names the columns, blank lines and lines starting with '#' are skipped, and relative paths
// are relative to the CSV file, so that a list travels with its data.
#include <map>
#include <string>
#include <vector>

namespace satunet {

struct CsvRow {
  std::string where;  // "FILE:LINE", for errors about this row
  std::map<std::string, std::string> cells;

  // The cell of `column`, or "" when the column is absent.
  std::string cell(const std::string& column) const;
};

class CsvTable {
 public:
  // Columns outside `known` and a missing `required` column are errors naming the file.
  static CsvTable read(const std::string& path, const std::vector<std::string>& known,
                       const std::vector<std::string>& required);

  const std::vector<CsvRow>& rows() const { return rows_; }
  // `path` as given in a cell: absolute, or relative to the CSV file's folder.
  std::string resolve(const std::string& path) const;

 private:
  std::string base_;
  std::vector<CsvRow> rows_;
};

}  // namespace satunet
