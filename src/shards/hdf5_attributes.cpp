#include "shards/hdf5_attributes.hpp"

#include <cstring>

#include "common/text.hpp"
#include "shards/hdf5_handle.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

namespace {

void write_attribute(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type,
                     const void* value, const std::string& path) {
  const Hdf5Handle space(H5Screate(H5S_SCALAR), path, "cannot create a scalar dataspace");
  const Hdf5Handle attribute(
      H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
      "cannot create attribute " + name);
  check_hdf5(H5Awrite(attribute.get(), memory_type, value), path, "cannot write attribute " + name);
}

}  // namespace

void write_int_attribute(hid_t object, const std::string& name, int value,
                         const std::string& path) {
  const std::int32_t stored = value;
  write_attribute(object, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &stored, path);
}

void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            const std::string& path) {
  // Fixed length, terminator included: HDF5 refuses zero-sized strings, and "" is valid here.
  const Hdf5Handle type(H5Tcopy(H5T_C_S1), path, "cannot create a string type");
  check_hdf5(H5Tset_size(type.get(), value.size() + 1), path, "cannot size attribute " + name);
  check_hdf5(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), path, "cannot pad attribute " + name);
  write_attribute(object, name, type.get(), type.get(), value.c_str(), path);
}

namespace {

// Opens a scalar attribute: reading an array into one value would overflow the buffer.
Hdf5Handle open_scalar_attribute(hid_t object, const std::string& name, const std::string& path) {
  Hdf5Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), path,
                       "cannot open attribute " + name);
  const Hdf5Handle space(H5Aget_space(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, path, ": attribute ", name,
               " holds more than one value");
  return attribute;
}

}  // namespace

int read_int_attribute(hid_t object, const std::string& name, const std::string& path) {
  const Hdf5Handle attribute = open_scalar_attribute(object, name, path);
  const Hdf5Handle type(H5Aget_type(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, path, ": attribute ", name,
               " is not an integer");
  std::int32_t value = 0;
  check_hdf5(H5Aread(attribute.get(), H5T_NATIVE_INT32, &value), path,
             "cannot read attribute " + name);
  return value;
}

// Reads both fixed-length strings (what ShardWriter writes) and variable-length ones (what
// h5py writes for a Python str), so shards made by other tools load too.
std::string read_string_attribute(hid_t object, const std::string& name, const std::string& path) {
  const Hdf5Handle attribute = open_scalar_attribute(object, name, path);
  const Hdf5Handle type(H5Aget_type(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Tget_class(type.get()) == H5T_STRING, path, ": attribute ", name,
               " is not a string");
  const std::string operation = "cannot read attribute " + name;
  if (check_hdf5(H5Tis_variable_str(type.get()), path, operation) > 0) {
    char* text = nullptr;
    check_hdf5(H5Aread(attribute.get(), type.get(), &text), path, operation);
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type.get()), '\0');
  check_hdf5(H5Aread(attribute.get(), type.get(), value.data()), path, operation);
  value.resize(std::strlen(value.c_str()));  // fixed-length strings may be padded with NULs
  return value;
}

std::string join_names(const std::vector<std::string>& names, const std::string& what,
                       const std::string& path) {
  for (const std::string& name : names)
    SHARDS_CHECK(name.find(',') == std::string::npos, path, ": ", what, " '", name,
                 "' contains a comma, which separates names in the shard");
  return text::join(names, ",");
}

std::vector<std::string> split_names(const std::string& joined) {
  if (joined.empty())
    return {};
  return text::split(joined, ',');
}

void write_doubles_attribute(hid_t object, const std::string& name,
                             const std::vector<double>& values, const std::string& path) {
  const hsize_t count = values.size();
  const Hdf5Handle space(H5Screate_simple(1, &count, nullptr), path,
                         "cannot create a dataspace for attribute " + name);
  const Hdf5Handle attribute(
      H5Acreate2(object, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
      "cannot create attribute " + name);
  check_hdf5(H5Awrite(attribute.get(), H5T_NATIVE_DOUBLE, values.data()), path,
             "cannot write attribute " + name);
}

std::vector<double> read_doubles_attribute(hid_t object, const std::string& name,
                                           const std::string& path) {
  const Hdf5Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), path,
                             "cannot open attribute " + name);
  const Hdf5Handle type(H5Aget_type(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Tget_class(type.get()) == H5T_FLOAT, path, ": attribute ", name,
               " is not floating point");
  const Hdf5Handle space(H5Aget_space(attribute.get()), path, "cannot inspect attribute " + name);
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  check_hdf5(static_cast<int>(count < 0 ? -1 : 0), path, "cannot inspect attribute " + name);
  std::vector<double> values(static_cast<std::size_t>(count));
  check_hdf5(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, values.data()), path,
             "cannot read attribute " + name);
  return values;
}

bool has_attribute(hid_t object, const std::string& name, const std::string& path) {
  return check_hdf5(H5Aexists(object, name.c_str()), path, "cannot look for attribute " + name) > 0;
}

}  // namespace satunet::shards
