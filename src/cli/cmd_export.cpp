#include <iostream>

#include "cli/command.hpp"
#include "export/export.hpp"

namespace satunet::cli {

Command export_command() {
  return make_command(kExportText.name, kExportText.summary, kExportText.usage,
                      exporting::export_option_table(),
                      [](const exporting::ExportOptions& options) {
                        std::cout << exporting::describe(exporting::export_model(options));
                        return 0;
                      });
}

}  // namespace satunet::cli
