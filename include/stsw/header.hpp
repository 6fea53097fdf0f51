// The safetensors header codec: parsing/validation (strict and lenient) and the
// canonical, byte-exact header builder. Pure functions: no I/O, thread-safe.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/tensor_meta.hpp"

namespace STSW_API stsw {

using Metadata = std::map<std::string, std::string>;

// Headers larger than this are rejected (HeaderTooLarge), as by the official loader.
inline constexpr std::uint64_t kMaxHeaderSize = 100'000'000;
// The official loader's JSON recursion limit (serde_json's 128): a header may nest
// at most kMaxJsonDepth - 1 = 127 arrays/objects, counting the header object itself
// (so an ignored extra field inside a tensor entry may nest 125 deep). Deeper input
// is InvalidHeaderDeserialization; the parser never recurses beyond this.
inline constexpr unsigned kMaxJsonDepth = 128;

struct ParseOptions {
  // true: exactly the official loader's checks, in its order (FORMAT.md section 2),
  // with its error kinds (a tensor named "__metadata__" is InvalidHeaderDeserialization, as
  // the official loader reads that entry as the string map; a dtype written {"F16":{}} is
  // InvalidHeaderDeserialization, "expected unit"), plus stsw's refusal of duplicate names
  // (DuplicateName, in both modes: stricter than the official loader on purpose, which
  // keeps the last entry and silently drops the others) and of malformed "crc32" fields.
  // false (lenient): also loads Python stsw 1.0 files (FORMAT.md section 6): a
  // top-level "__version__" string and "__incomplete__" boolean are read (not taken
  // for tensors), holes between tensors and bytes after the last one are tolerated;
  // overlaps and ranges past the end of the data are still errors.
  bool strict = true;
  // Lenient mode only: accept "__incomplete__": true (else IncompleteFile). Such a
  // header may then describe tensors that lie past the end of the data written so
  // far: the caller must check each tensor's range against the data it has.
  bool allow_partial = false;
  // Names the input in error messages (usually the file path).
  std::string source = "<memory>";
};

// A parsed and validated header.
struct Header {
  std::uint64_t header_size = 0;     // N: the JSON length including padding
  std::vector<TensorMeta> tensors;   // sorted by (offset_begin, offset_end): file order
  std::optional<Metadata> metadata;  // nullopt: no "__metadata__" key (or null)
  // True when the official loader would accept this header and data size (a strict
  // parse succeeded, or a lenient parse needed none of its allowances).
  bool strict_valid = true;
  // Python stsw extras, seen only in lenient mode.
  std::optional<std::string> version;  // "__version__"
  bool incomplete = false;             // "__incomplete__": true

  // File offset of the data region: 8 + N.
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return 8 + header_size; }
  // Sum of nbytes over tensors.
  [[nodiscard]] std::uint64_t total_tensor_bytes() const noexcept;
  // Linear lookup by name; nullptr if absent.
  [[nodiscard]] const TensorMeta* find(std::string_view name) const noexcept;
};

// Checks 1-3 of the official order on the first bytes of a file: at least 8 bytes
// (HeaderTooSmall), N <= kMaxHeaderSize (HeaderTooLarge), 8 + N <= file_size
// (InvalidHeaderLength). Returns N. `prefix` holds at least the first 8 bytes when
// the file has them (it may be shorter: then HeaderTooSmall).
[[nodiscard]] std::uint64_t parse_header_length(std::span<const std::byte> prefix,
                                                std::uint64_t file_size,
                                                std::string_view source = "<memory>");

// Checks 4-10 on the N header bytes, given the size of the data region
// (file_size - 8 - N). Throws Error with the official kind; stsw's own kinds are
// DuplicateName (two tensors with one name, after JSON errors), InvalidName (lenient
// parses only: a tensor named "__metadata__", i.e. that key holding "dtype", "shape" or
// "data_offsets" with a non-string value; strict parses report the official
// InvalidHeaderDeserialization) and IncompleteFile. A "crc32" field in a tensor entry must be an
// integer in [0, 2^32) (else InvalidHeaderDeserialization, in both modes). Messages
// name options.source, the tensor and the offending value or header byte offset.
// Tensor entries are read as serde reads the official struct: also as an array
// [dtype, shape, data_offsets], dtype also as {"F32": null} ({"F32": {}} only when lenient). Never
// recurses unboundedly; memory is linear in the header size.
[[nodiscard]] Header parse_header(std::string_view header_bytes, std::uint64_t data_size,
                                  const ParseOptions& options = {});

// Convenience: all checks on a complete in-memory file.
[[nodiscard]] Header parse_file(std::span<const std::byte> file, const ParseOptions& options = {});

// ---------------------------------------------------------------------------------------
// Building headers.

enum class LayoutOrder {
  Canonical,  // the official writer's order: dtype rank descending, then name bytes
  Keep,       // the order given
};

struct TensorSpec {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
};

struct EncodeOptions {
  // The data region starts at a multiple of `align` (a power of two >= 8): the
  // header is padded with spaces. 8 reproduces the official writer.
  std::uint64_t align = 8;
  // Reserve room for a "crc32" field of the widest value (10 digits) in every
  // tensor entry, so that a later encode with the real CRCs fits the same N.
  bool reserve_crc32 = false;
  // When set, pad to exactly this N (Error InvalidArgument if the JSON does not fit
  // or the result would break `align`). Used to rewrite a header in place.
  std::optional<std::uint64_t> exact_header_size;
};

// Encodes the 8-byte length and the padded JSON header for `tensors` in the order
// given (the caller orders them; offsets are written as they are). Metadata keys
// are written sorted by bytes; `__metadata__` comes first; an empty map is written as
// `"__metadata__":{}`. A tensor's crc32, when set, is written as a "crc32" field after
// data_offsets. Validates names (DuplicateName; InvalidName for "__metadata__" or
// non-UTF-8), metadata (InvalidArgument if not UTF-8) and that offsets are
// contiguous from 0 (InvalidOffset) and match shape x dtype (ValidationOverflow,
// MisalignedSlice, TensorInvalidInfo). Returns 8 + N bytes; N <= kMaxHeaderSize
// (else HeaderTooLarge).
[[nodiscard]] std::string encode_header(const std::vector<TensorMeta>& tensors,
                                        const std::optional<Metadata>& metadata,
                                        const EncodeOptions& options = {});

// A planned file: tensors with offsets, in file order, and the header size.
struct Layout {
  std::vector<TensorMeta> tensors;  // file order, contiguous offsets from 0, no crc32
  std::uint64_t header_size = 0;    // N for encode_header(tensors, metadata, {align, reserve})
  std::uint64_t data_size = 0;      // sum of tensor bytes
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return 8 + header_size; }
  [[nodiscard]] std::uint64_t file_size() const noexcept { return data_offset() + data_size; }
};

// Computes contiguous offsets for `tensors` in canonical or given order and the header
// size for the given alignment (and metadata / crc reservation, which change N).
// With LayoutOrder::Canonical, align 8, no crc: encode_header(layout.tensors, md) is
// byte-identical to the official serializer. Errors: DuplicateName, InvalidName,
// ValidationOverflow / MisalignedSlice for impossible shapes, InvalidArgument for align.
[[nodiscard]] Layout plan_layout(const std::vector<TensorSpec>& tensors, LayoutOrder order,
                                 std::uint64_t align = 8,
                                 const std::optional<Metadata>& metadata = std::nullopt,
                                 bool reserve_crc32 = false);

// Orders tensors as the official writer does (stable; used by plan_layout).
void sort_canonical(std::vector<TensorSpec>& tensors);

}  // namespace stsw
