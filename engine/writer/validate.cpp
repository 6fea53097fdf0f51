#include "writer/validate.hpp"

#include <string>
#include <unordered_set>

#include "codec/text.hpp"
#include "stsw/error.hpp"

namespace stsw::writer {

namespace {

std::string quoted(std::string_view path, const TensorMeta& m) {
  std::string s(path);
  s += ": tensor ";
  s += codec::quote(m.name);
  return s;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept { return !codec::find_invalid_utf8(s); }

void validate_metas(const std::vector<TensorMeta>& metas, std::string_view path) {
  std::unordered_set<std::string_view> names;
  names.reserve(metas.size());
  std::uint64_t expected_begin = 0;
  for (const TensorMeta& m : metas) {
    if (m.name == "__metadata__") {
      throw Error(Errc::InvalidName,
                  quoted(path, m) + ": the name is reserved for the metadata entry");
    }
    if (!is_valid_utf8(m.name)) {
      throw Error(Errc::InvalidName, quoted(path, m) + ": the name is not valid UTF-8");
    }
    if (!names.insert(m.name).second) {
      throw Error(Errc::DuplicateName, quoted(path, m) + ": the name appears twice");
    }
    std::optional<std::uint64_t> size = byte_size(m.dtype, m.shape);
    if (!size) {
      // Tell an overflow from a fractional byte count the way the official loader does.
      bool overflow = !m.numel().has_value();
      if (!overflow) {
        std::uint64_t bits = 0;
        overflow = __builtin_mul_overflow(*m.numel(), std::uint64_t{bit_size(m.dtype)}, &bits);
      }
      if (overflow) {
        throw Error(Errc::ValidationOverflow,
                    quoted(path, m) + ": the shape's byte size overflows 64 bits");
      }
      throw Error(Errc::MisalignedSlice, quoted(path, m) + ": the shape of " +
                                             std::string(to_string(m.dtype)) +
                                             " elements is not a whole number of bytes");
    }
    if (m.offset_end < m.offset_begin) {
      throw Error(Errc::InvalidOffset, quoted(path, m) + ": data_offsets end " +
                                           std::to_string(m.offset_end) + " < begin " +
                                           std::to_string(m.offset_begin));
    }
    if (m.nbytes() != *size) {
      throw Error(Errc::TensorInvalidInfo,
                  quoted(path, m) + ": data_offsets span " + std::to_string(m.nbytes()) +
                      " bytes, shape x dtype needs " + std::to_string(*size));
    }
    if (m.offset_begin != expected_begin) {
      const char* what = m.offset_begin > expected_begin ? "leaves a hole" : "overlaps";
      throw Error(Errc::InvalidOffset, quoted(path, m) + ": begins at " +
                                           std::to_string(m.offset_begin) +
                                           " but the previous "
                                           "tensor ends at " +
                                           std::to_string(expected_begin) + " (" + what +
                                           "; offsets must be contiguous in the "
                                           "order given)");
    }
    expected_begin = m.offset_end;
  }
}

void validate_options(const WriterOptions& options) {
  const std::uint64_t a = options.align;
  if (a < 8 || (a & (a - 1)) != 0) {
    throw Error(Errc::InvalidArgument,
                "writer option align must be a power of two >= 8, got " + std::to_string(a));
  }
  if (options.chunk_size % 4096 != 0) {
    throw Error(Errc::InvalidArgument, "writer option chunk_size must be a multiple of 4096, got " +
                                           std::to_string(options.chunk_size));
  }
  if (options.metadata) {
    for (const auto& [key, value] : *options.metadata) {
      if (!is_valid_utf8(key) || !is_valid_utf8(value)) {
        throw Error(Errc::InvalidArgument,
                    "writer metadata entry '" + key + "' is not valid UTF-8");
      }
    }
  }
}

}  // namespace stsw::writer
