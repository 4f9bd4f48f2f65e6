#pragma once
// One policy for every directory a command writes its product into (a dataset, a prediction, a
// training run), in two steps so that nothing is removed before the job's inputs are known to
// be good:
//   1. claim: the directory is locked for the job (OutputLock); an earlier product in it is
//      refused unless the command replaces (--overwrite) or continues (--resume) it; an input
//      lying inside what would be replaced is refused;
//   2. clear, once every input has been opened and checked: the earlier product's parts removed
//      (the part that marks it complete first, so that a crash meanwhile leaves it visibly
//      incomplete), and the temporaries a killed job left.
#include <string>
#include <vector>

#include "common/output_lock.hpp"

namespace satunet {

// What a command writes into its output directory, as the layer that owns its format names it.
struct Product {
  std::string name;  // "a dataset", "a prediction", "a training run"
  // Relative to the directory: any of them there (a file, or a directory that is not empty)
  // says a product is there.
  std::vector<std::string> marks;
  // Relative to the directory: what replacing it removes, the part that marks it complete first.
  std::vector<std::string> parts;
  std::string advice = "--overwrite replaces it";  // the way out, in the refusal
};

enum class Earlier {
  refuse,     // a product already there is an error
  replace,    // --overwrite
  continue_,  // --resume: kept as it is
};

// Refuses to replace `product` in `dir` while one of `inputs` lies in a part that replacing it
// removes: "INPUT: an input of this command inside DIR/PART, which --overwrite would replace".
void check_replaceable(const std::string& dir, const Product& product,
                       const std::vector<std::string>& inputs);
// Removes `product`'s parts from `dir` (what --overwrite replaces).
void remove_product(const std::string& dir, const Product& product);

class OutputDirectory {
 public:
  // Step 1. Throws "DIR: holds PRODUCT already; ADVICE", "INPUT: an input of this command
  // inside DIR/PART, which --overwrite would replace; ...", or OutputLock's refusal.
  OutputDirectory(std::string dir, Product product, Earlier earlier,
                  const std::vector<std::string>& inputs = {});
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;

  // Step 2. Temporaries are looked for in the directory and in its product's directories.
  void clear() const;

  const std::string& path() const { return dir_; }
  bool had_earlier() const { return had_earlier_; }

 private:
  std::string dir_;
  Product product_;
  Earlier earlier_;
  bool had_earlier_ = false;
  OutputLock lock_;
};

}  // namespace satunet
