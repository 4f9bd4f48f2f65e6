#include "shards/hdf5_handle.hpp"

#include <utility>

#include "common/error.hpp"

namespace satunet::shards {
namespace {

herr_t close_identifier(hid_t id) {
  // Handles may be closed on a thread that never called HDF5 before (a writer destroyed
  // after its thread failed): its errors must not print there either.
  silence_hdf5_error_printing();
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      return H5Fclose(id);
    case H5I_GROUP:
      return H5Gclose(id);
    case H5I_DATASET:
      return H5Dclose(id);
    case H5I_DATASPACE:
      return H5Sclose(id);
    case H5I_DATATYPE:
      return H5Tclose(id);
    case H5I_ATTR:
      return H5Aclose(id);
    case H5I_GENPROP_LST:
      return H5Pclose(id);
    default:
      return H5Idec_ref(id) < 0 ? -1 : 0;
  }
}

herr_t keep_innermost_description(unsigned depth, const H5E_error2_t* error, void* found) {
  // Walked upward, depth 0 is where HDF5 detected the failure: the most specific message.
  if (depth == 0 && error->desc)
    *static_cast<std::string*>(found) = error->desc;
  return 0;
}

}  // namespace

void silence_hdf5_error_printing() {
  thread_local bool silenced = false;
  if (silenced)
    return;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  silenced = true;
}

std::string hdf5_error_description() {
  std::string description;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost_description, &description);
  return description;
}

void throw_hdf5_error(const std::string& path, const std::string& operation) {
  const std::string description = hdf5_error_description();
  throw Error(path + ": " + operation + (description.empty() ? "" : ": " + description));
}

Hdf5Handle::Hdf5Handle(hid_t id, const std::string& path, const std::string& operation) : id_(id) {
  if (id_ < 0)
    throw_hdf5_error(path, operation);
}

Hdf5Handle::~Hdf5Handle() {
  if (id_ >= 0)
    close_identifier(id_);
}

Hdf5Handle::Hdf5Handle(Hdf5Handle&& other) noexcept
    : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}

Hdf5Handle& Hdf5Handle::operator=(Hdf5Handle&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0)
      close_identifier(id_);
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
  }
  return *this;
}

void Hdf5Handle::close(const std::string& path, const std::string& operation) {
  if (id_ < 0)
    return;
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  check_hdf5(close_identifier(id), path, operation);
}

}  // namespace satunet::shards
