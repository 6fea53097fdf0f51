// The NumPy .npy header: magic, version (1.0, 2.0, 3.0), and the Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } describing the array.
// Only numeric dtypes safetensors can hold are accepted; strings, objects (whose data is
// a pickle, never read), structured and void dtypes are refused by name.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/dtype.hpp"

namespace stsw::cvt {

struct NpyHeader {
  std::string descr;  // as written, e.g. "<f4"
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  bool fortran_order = false;
  // Bytes per word to swap to reach little-endian (0: none; a big-endian c8 swaps 4).
  unsigned swap_unit = 0;
  std::uint64_t data_offset = 0;  // bytes from the start of the .npy to its data
  std::uint64_t data_size = 0;    // element count x element size
};

// The largest header accepted (numpy itself writes a few hundred bytes).
inline constexpr std::uint32_t kMaxNpyHeader = 1u << 20;

// Reads the header through `read`, which must fill exactly the span it is given from the
// next bytes of the .npy stream (or throw). `source` names the input in errors.
// Throws Error: InvalidArgument for a malformed header, Unsupported for a dtype
// safetensors cannot hold.
[[nodiscard]] NpyHeader read_npy_header(const std::function<void(std::span<std::byte>)>& read,
                                        const std::string& source);

// Parses the header dict text alone (the part after the length field).
[[nodiscard]] NpyHeader parse_npy_dict(std::string_view text, const std::string& source);

// The safetensors dtype of a numpy type string such as "<f4", "|b1", ">i8", with the
// byte swap it needs; throws Unsupported naming the dtype otherwise.
[[nodiscard]] std::pair<DType, unsigned> npy_descr_dtype(std::string_view descr,
                                                         const std::string& source);

}  // namespace stsw::cvt
