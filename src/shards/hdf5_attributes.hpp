#pragma once
// Attributes of satunet's HDF5 shard files: scalars on the root group, small arrays of doubles,
// and lists of names in one attribute. Internal to the shards library.
#include <hdf5.h>

#include <string>
#include <vector>

namespace satunet::shards {

void write_int_attribute(hid_t object, const std::string& name, int value, const std::string& path);
void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            const std::string& path);
void write_doubles_attribute(hid_t object, const std::string& name,
                             const std::vector<double>& values, const std::string& path);
int read_int_attribute(hid_t object, const std::string& name, const std::string& path);
// Fixed-length (ours) and variable-length (h5py's) strings alike.
std::string read_string_attribute(hid_t object, const std::string& name, const std::string& path);
std::vector<double> read_doubles_attribute(hid_t object, const std::string& name,
                                           const std::string& path);
bool has_attribute(hid_t object, const std::string& name, const std::string& path);

// Names joined by commas in one attribute; a name holding a comma is refused.
std::string join_names(const std::vector<std::string>& names, const std::string& what,
                       const std::string& path);
std::vector<std::string> split_names(const std::string& joined);

}  // namespace satunet::shards
