// Checks 1-10 of the official loader (FORMAT.md section 2) and the lenient reading
// of Python stsw files (section 6).
#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>

#include "codec/header_json.hpp"
#include "codec/text.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"
#include "stsw/tensor_meta.hpp"

namespace stsw {

namespace {

std::string offsets_text(const TensorMeta& t) {
  return "data_offsets [" + std::to_string(t.offset_begin) + ", " + std::to_string(t.offset_end) +
         "]";
}

std::string tensor_prefix(std::string_view source, const TensorMeta& t) {
  return std::string(source) + ": tensor " + codec::quote(t.name) + ": ";
}

// Checks 7-9 for one tensor, as the official loader does them.
void check_size(const TensorMeta& t, std::string_view source) {
  std::uint64_t count = 1;
  for (std::uint64_t d : t.shape) {
    if (__builtin_mul_overflow(count, d, &count)) {
      throw Error(Errc::ValidationOverflow, tensor_prefix(source, t) +
                                                "the element count of shape " +
                                                shape_string(t.shape) + " overflows u64");
    }
  }
  std::uint64_t bits = 0;
  if (__builtin_mul_overflow(count, std::uint64_t{bit_size(t.dtype)}, &bits)) {
    throw Error(Errc::ValidationOverflow, tensor_prefix(source, t) + std::to_string(count) +
                                              " elements of " + std::string(to_string(t.dtype)) +
                                              " overflow u64 when counted in bits");
  }
  if (bits % 8 != 0) {
    throw Error(Errc::MisalignedSlice, tensor_prefix(source, t) + std::to_string(count) +
                                           " elements of " + std::string(to_string(t.dtype)) +
                                           " (" + std::to_string(bit_size(t.dtype)) +
                                           " bits each) are not a whole number of bytes");
  }
  if (t.offset_end - t.offset_begin != bits / 8) {
    throw Error(Errc::TensorInvalidInfo, tensor_prefix(source, t) + offsets_text(t) + " hold " +
                                             std::to_string(t.offset_end - t.offset_begin) +
                                             " bytes but shape " + shape_string(t.shape) + " of " +
                                             std::string(to_string(t.dtype)) + " needs " +
                                             std::to_string(bits / 8));
  }
}

// A tensor named "__metadata__": the official loader reads that entry as the string map
// and fails with InvalidHeaderDeserialization ("invalid type: ..., expected a string"), so
// strict parses report that kind; lenient parses keep stsw's own, more precise InvalidName.
void check_names(const codec::RawHeader& raw, std::string_view source, bool strict) {
  if (raw.metadata_tensor_field) {
    throw Error(strict ? Errc::InvalidHeaderDeserialization : Errc::InvalidName,
                std::string(source) +
                    ": a tensor may not be named '__metadata__' (its value "
                    "holds the tensor field " +
                    codec::quote(*raw.metadata_tensor_field) + ")");
  }
  std::unordered_set<std::string_view> names;
  names.reserve(raw.tensors.size());
  for (const TensorMeta& t : raw.tensors) {
    if (!names.insert(t.name).second) {
      throw Error(Errc::DuplicateName, std::string(source) + ": tensor " + codec::quote(t.name) +
                                           " appears more than once in the header");
    }
  }
}

}  // namespace

std::uint64_t Header::total_tensor_bytes() const noexcept {
  std::uint64_t sum = 0;
  for (const TensorMeta& t : tensors) sum += t.nbytes();
  return sum;
}

const TensorMeta* Header::find(std::string_view name) const noexcept {
  for (const TensorMeta& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::uint64_t parse_header_length(std::span<const std::byte> prefix, std::uint64_t file_size,
                                  std::string_view source) {
  if (file_size < 8 || prefix.size() < 8) {
    throw Error(Errc::HeaderTooSmall,
                std::string(source) + ": the file has " +
                    std::to_string(std::min<std::uint64_t>(file_size, prefix.size())) +
                    " bytes, fewer than the 8-byte header length");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(prefix[i]);
  if (n > kMaxHeaderSize) {
    throw Error(Errc::HeaderTooLarge, std::string(source) + ": header length " + std::to_string(n) +
                                          " exceeds the limit of " +
                                          std::to_string(kMaxHeaderSize) + " bytes");
  }
  if (n > file_size - 8) {
    throw Error(Errc::InvalidHeaderLength,
                std::string(source) + ": header length " + std::to_string(n) +
                    " reaches past the end of the file (" + std::to_string(file_size) + " bytes)");
  }
  return n;
}

Header parse_header(std::string_view header_bytes, std::uint64_t data_size,
                    const ParseOptions& options) {
  const std::string_view source = options.source;
  if (header_bytes.size() > kMaxHeaderSize) {
    throw Error(Errc::HeaderTooLarge,
                std::string(source) + ": header length " + std::to_string(header_bytes.size()) +
                    " exceeds the limit of " + std::to_string(kMaxHeaderSize) + " bytes");
  }
  // Check 4: UTF-8, over all N bytes (padding included).
  if (const auto bad = codec::find_invalid_utf8(header_bytes)) {
    throw Error(Errc::InvalidHeader, std::string(source) + ": header byte " + std::to_string(*bad) +
                                         " (file offset " + std::to_string(8 + *bad) +
                                         ") is not valid UTF-8 (byte " +
                                         codec::quote(header_bytes.substr(*bad, 1)) + ")");
  }
  // Check 5.
  codec::RawHeader raw = codec::parse_header_json(header_bytes, !options.strict, source);
  check_names(raw, source, options.strict);
  const bool lenient = !options.strict;
  const bool incomplete = lenient && raw.incomplete.value_or(false);
  if (incomplete && !options.allow_partial) {
    throw Error(Errc::IncompleteFile, std::string(source) +
                                          ": the header says \"__incomplete__\": true (the "
                                          "writer did not finish this file)");
  }

  Header header;
  header.header_size = header_bytes.size();
  header.metadata = std::move(raw.metadata);
  header.version = std::move(raw.version);
  header.incomplete = incomplete;
  header.strict_valid = !raw.version && !raw.incomplete && !raw.dtype_as_map;
  header.tensors = std::move(raw.tensors);
  // The official loader sorts by (begin, end); ties keep the JSON order here.
  std::stable_sort(
      header.tensors.begin(), header.tensors.end(), [](const TensorMeta& a, const TensorMeta& b) {
        return std::pair(a.offset_begin, a.offset_end) < std::pair(b.offset_begin, b.offset_end);
      });

  // Checks 6-9, tensor by tensor in file order, as the official loader interleaves them.
  std::uint64_t end = 0;
  const TensorMeta* previous = nullptr;
  for (const TensorMeta& t : header.tensors) {
    const bool hole = lenient && t.offset_begin > end;
    if ((t.offset_begin != end && !hole) || t.offset_end < t.offset_begin) {
      std::string why = offsets_text(t);
      if (t.offset_end < t.offset_begin) {
        why += " end before they begin";
      } else if (t.offset_begin < end) {
        why += " overlap " + (previous ? "tensor " + codec::quote(previous->name) : "") +
               ", which ends at " + std::to_string(end);
      } else {
        why += " leave a hole: the data before them ends at " + std::to_string(end);
      }
      throw Error(Errc::InvalidOffset, tensor_prefix(source, t) + why);
    }
    if (hole) header.strict_valid = false;
    end = t.offset_end;
    previous = &t;
    check_size(t, source);
  }
  // Check 10.
  if (end != data_size) {
    const bool trailing_ok = lenient && end < data_size;
    const bool partial_ok = incomplete && end > data_size;
    if (!trailing_ok && !partial_ok) {
      std::string why = std::string(source) + ": the data region holds " +
                        std::to_string(data_size) + " bytes but ";
      why += previous ? "the tensors end at " + std::to_string(end) + " (last tensor " +
                            codec::quote(previous->name) + ")"
                      : std::string("the header has no tensors");
      throw Error(Errc::MetadataIncompleteBuffer, why);
    }
    header.strict_valid = false;
  }
  return header;
}

Header parse_file(std::span<const std::byte> file, const ParseOptions& options) {
  const std::uint64_t n = parse_header_length(file, file.size(), options.source);
  const auto* text = reinterpret_cast<const char*>(file.data()) + 8;
  return parse_header(std::string_view(text, static_cast<std::size_t>(n)), file.size() - 8 - n,
                      options);
}

}  // namespace stsw
