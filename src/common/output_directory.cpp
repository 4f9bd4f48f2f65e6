#include "common/output_directory.hpp"

#include <filesystem>

#include "common/error.hpp"
#include "common/files.hpp"

namespace satunet {
namespace fs = std::filesystem;

namespace {

bool present(const std::string& path) {
  std::error_code ignored;
  const fs::file_status status = fs::symlink_status(path, ignored);
  if (status.type() == fs::file_type::directory)
    return !fs::is_empty(path, ignored);
  return fs::exists(status);
}

}  // namespace

OutputDirectory::OutputDirectory(std::string dir, Product product, Earlier earlier,
                                 const std::vector<std::string>& inputs)
    // Checked before the lock, which would write inside an input.
    : dir_((check_not_an_input(dir, inputs), std::move(dir))),
      product_(std::move(product)),
      earlier_(earlier),
      lock_(dir_) {
  for (const std::string& mark : product_.marks)
    had_earlier_ = had_earlier_ || present(dir_ + "/" + mark);
  if (!had_earlier_ || earlier_ == Earlier::continue_)
    return;
  if (earlier_ == Earlier::refuse)
    throw Error(dir_ + ": holds " + product_.name + " already; " + product_.advice);
  check_replaceable(dir_, product_, inputs);
}

void check_replaceable(const std::string& dir, const Product& product,
                       const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs)
    for (const std::string& part : product.parts)
      if (!input.empty() && lies_inside(input, dir + "/" + part))
        throw Error(input + ": an input of this command inside " + dir + "/" + part +
                    ", which --overwrite would replace; copy it elsewhere first");
}

void remove_product(const std::string& dir, const Product& product) {
  for (const std::string& part : product.parts) {
    std::error_code error;
    fs::remove_all(dir + "/" + part, error);
    if (error)
      throw Error(dir + "/" + part +
                  ": cannot remove what --overwrite replaces: " + error.message());
  }
}

void OutputDirectory::clear() const {
  if (had_earlier_ && earlier_ == Earlier::replace)
    remove_product(dir_, product_);
  // Ours alone now: what a killed job was writing is of no use.
  remove_abandoned_temporaries(dir_);
  for (const std::string& part : product_.parts)
    remove_abandoned_temporaries(dir_ + "/" + part);
}

}  // namespace satunet
