// The result of StreamReader::verify(): a whole-file CRC scrub, tensor by tensor.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace STSW_API stsw {

enum class TensorStatus {
  Ok,          // the stored crc32 matches the bytes
  Mismatch,    // the stored crc32 differs from the bytes
  NoChecksum,  // the header carries no crc32 for this tensor (computed only)
  Missing,     // the bytes lie beyond the end of a partial file (allow_partial only)
};

[[nodiscard]] std::string_view to_string(TensorStatus status) noexcept;  // "ok", "mismatch", ...

// One tensor's outcome. A plain value type.
struct TensorCheck {
  std::string name;
  std::string file;  // the file (shard) holding the tensor
  TensorStatus status = TensorStatus::NoChecksum;
  std::optional<std::uint32_t> expected;  // the stored crc32, when present
  std::uint32_t actual = 0;               // CRC-32 of the bytes read (0 when Missing)
  std::uint64_t nbytes = 0;
};

// Totals plus one entry per tensor, in keys() order. A plain value type.
struct VerifyReport {
  std::vector<TensorCheck> tensors;
  std::size_t ok = 0;
  std::size_t mismatched = 0;
  std::size_t unchecked = 0;  // NoChecksum
  std::size_t missing = 0;
  std::uint64_t bytes = 0;  // data-region bytes read from disk
  double seconds = 0;       // wall time of the scrub
  // Human-readable remarks, e.g. that a Python stsw file's crc32 fields may hold xxh32
  // values when it was written with the xxhash package installed.
  std::vector<std::string> notes;

  // True when no tensor mismatched and none is missing (unchecked tensors pass).
  [[nodiscard]] bool passed() const noexcept { return mismatched == 0 && missing == 0; }
  // Entries whose status is not Ok and not NoChecksum.
  [[nodiscard]] std::vector<const TensorCheck*> failures() const;
};

}  // namespace stsw
