#include "common/labels.hpp"

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

}  // namespace satunet
