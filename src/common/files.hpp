#pragma once
// Outputs are written under a temporary name beside the final one and renamed only when
// complete, so a crash never leaves a file that looks finished.
#include <string>
#include <vector>

namespace satunet {

class PendingFile {
 public:
  explicit PendingFile(std::string final_path);
  ~PendingFile();  // removes the temporary file unless committed
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }
  // fsyncs the temporary file, renames it over the final path and fsyncs the directory.
  void commit();

 private:
  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
};

void ensure_directory(const std::string& path);
bool file_exists(const std::string& path);
// Removes the temporaries (PendingFile's) that a process killed mid-write (SIGKILL, a lost
// node) left in `dir`. Only for a directory this process holds the OutputLock of.
void remove_abandoned_temporaries(const std::string& dir);
// The same for the temporaries of one file alone, for a file no other job may be writing.
void remove_abandoned_temporaries_of(const std::string& final_path);
// Whether two paths name one file (through links and "..").
bool same_file(const std::string& a, const std::string& b);
// Whether `path` is `dir` or lies inside it (through links and "..").
bool lies_inside(const std::string& path, const std::string& dir);
// Refuses an output (a file or a directory) that is one of the command's `inputs` or lies inside
// one (an input directory: a dataset, a prediction, a run).
void check_not_an_input(const std::string& path, const std::vector<std::string>& inputs);
// An output never replaces one of the command's `inputs` nor lies inside one (an input
// directory: a dataset, a prediction, a run), and replaces nothing else without --overwrite;
// its directory exists and it is not one: throws Error naming `path` otherwise.
void check_output_path(const std::string& path, bool overwrite,
                       const std::vector<std::string>& inputs);
// Refuses a path naming the same file as an earlier one of `outputs` (empty ones are not
// given): UsageError "<path> is named for two outputs".
void check_distinct_outputs(const std::vector<std::string>& outputs);
// The whole of `contents` under a temporary name, then renamed into place; a failed write (a
// full disk, a file size limit) throws naming `path` and leaves nothing behind.
void write_file(const std::string& path, const std::string& contents);
// The whole file; throws Error naming `path` when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace satunet
