#pragma once
// HDF5 identifiers owned by RAII, and HDF5 failures turned into satunet::Error naming the file
// and the operation, so no error path needs a bare H5?close and nothing is printed by HDF5.
#include <hdf5.h>

#include <string>

namespace satunet::shards {

// Turns off HDF5's printing of its error stack on stderr for the calling thread; failures
// then surface only as our exceptions. The setting is per thread in thread-safe HDF5 builds
// (Debian's is one), so every entry point calls this; after the first call it costs nothing.
void silence_hdf5_error_printing();

// The most specific message on HDF5's current error stack, or "" when there is none. Call it
// right after the failing HDF5 call: the next API call clears the stack.
std::string hdf5_error_description();

// "<path>: <operation>[: <HDF5 description>]"
[[noreturn]] void throw_hdf5_error(const std::string& path, const std::string& operation);

// Owns one HDF5 identifier (file, group, dataset, dataspace, datatype, attribute or property
// list) and closes it with the matching H5?close. Move-only.
class Hdf5Handle {
 public:
  Hdf5Handle() = default;
  // Takes ownership of a valid identifier; throws if `id` is negative (a failed H5?create or
  // H5?open), with `path` and `operation` in the message.
  Hdf5Handle(hid_t id, const std::string& path, const std::string& operation);
  ~Hdf5Handle();  // closes, ignoring failures (use close() where they matter)
  Hdf5Handle(Hdf5Handle&& other) noexcept;
  Hdf5Handle& operator=(Hdf5Handle&& other) noexcept;
  Hdf5Handle(const Hdf5Handle&) = delete;
  Hdf5Handle& operator=(const Hdf5Handle&) = delete;

  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  // Closes now and throws on failure: closing a file flushes it, and a failed flush must not
  // go unnoticed.
  void close(const std::string& path, const std::string& operation);

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Throws (see throw_hdf5_error) when an HDF5 call returned a negative status; returns it
// otherwise, so that htri_t results can be tested inline.
inline int check_hdf5(int status, const std::string& path, const std::string& operation) {
  if (status < 0)
    throw_hdf5_error(path, operation);
  return status;
}

}  // namespace satunet::shards
