#pragma once
// An advisory lock on an output directory for as long as a job writes into it: a second job
// started on the same directory fails at once, naming the process that holds it, instead of
// both writing and both seeming to succeed.
#include <string>

namespace satunet {

class OutputLock {
 public:
  // Creates DIR if needed. Throws Error("DIR: in use by another satunet (pid N)").
  explicit OutputLock(const std::string& dir);
  // The lock's file in `dir` (left behind, empty of meaning, when the job ends).
  static std::string file_in(const std::string& dir);
  ~OutputLock();  // released (also when the process dies: the kernel drops it)
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace satunet
