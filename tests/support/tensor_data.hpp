// A tensor's name, dtype, shape and bytes, as the tests lay files out by hand (the reader
// tests' build_file, the CLI tests' write_safetensors). One definition for every test
// binary: two structs of this name in one namespace would be an ODR violation as soon as
// one binary linked both helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stsw/dtype.hpp"

namespace stsw::test {

struct TensorData {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;
  bool with_crc = true;  // build_file writes its "crc32" field (write_safetensors has its
                         // own per-file switch)
};

}  // namespace stsw::test
