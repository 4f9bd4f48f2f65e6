#include <iostream>

#include "cli/command.hpp"
#include "report/run_report.hpp"

namespace satunet::cli {

Command report_command() {
  return make_command("report",
                      "an HTML page of a training run: curves, configuration, data, val tiles",
                      "RUN [--out REPORT.html]", report::report_option_table(),
                      [](const report::ReportOptions& options) {
                        const report::ReportResult result = report::write_run_report(options);
                        std::cout << "report: " << result.html << "\n";
                        for (const std::string& png : result.pngs)
                          std::cout << "chart: " << png << "\n";
                        return 0;
                      });
}

}  // namespace satunet::cli
