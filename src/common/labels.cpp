#include "common/labels.hpp"

#include <algorithm>
#include <set>

#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet {

void check_class_names(const std::vector<std::string>& names, const std::string& option) {
  if (names.size() < 2 || names.size() > static_cast<std::size_t>(kMaxClasses))
    throw UsageError(option + " needs 2 to " + std::to_string(kMaxClasses) +
                     " names, background first");
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (name.empty())
      throw UsageError(option + ": an empty class name in '" + text::join(names, ",") + "'");
    if (!seen.insert(name).second)
      throw UsageError(option + ": class '" + name + "' is named twice");
  }
}

int class_index(const std::vector<std::string>& classes, const std::string& name,
                const std::string& where) {
  const auto found = std::find(classes.begin(), classes.end(), name);
  if (found == classes.end())
    throw UsageError(where + ": class '" + name + "' is not in --classes (" +
                     text::join(classes, ",") + ")");
  return static_cast<int>(found - classes.begin());
}

LabelFile parse_label_file(const std::string& text, const std::string& what) {
  const auto equals = text.find('=');
  // A '=' after a path separator belongs to the file name, not to a CLASS= prefix.
  if (equals == std::string::npos || text.find('/') < equals)
    return {"", text};
  const auto [name, path] = text::split_key_value(text, what);
  return {name, path};
}

void parse(const std::string& text, const std::string& option, LabelFile& value) {
  value = parse_label_file(text, option);
}

std::vector<LabelFile> parse_label_files(const std::string& text, const std::string& what) {
  std::vector<LabelFile> files;
  if (!text.empty())
    for (const std::string& part : text::split(text, ';'))
      files.push_back(parse_label_file(part, what));
  return files;
}

}  // namespace satunet
