#pragma once
// Progress of a long job, on rank 0 only: a redrawn bar on a terminal, and a log line every
// few seconds otherwise (batch logs must stay readable).
#include <chrono>
#include <cstdint>
#include <string>

namespace satunet {

class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::string unit = "");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t amount = 1);
  void set(std::int64_t done);
  // Prints the final line with the elapsed time; also called by the destructor.
  void finish();

 private:
  void report(bool final_line);

  std::string label_;
  std::string unit_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool enabled_;
  bool on_terminal_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_report_;
  int exceptions_at_start_ = 0;  // more at destruction: unwinding from an error
};

}  // namespace satunet
