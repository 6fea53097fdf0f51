// Blocking positional reads and writes on a plain file descriptor, for the small
// transfers that do not go through an Engine: headers, index files, tools' baselines.
// The one place that retries EINTR and short transfers (the engine's own I/O does not use
// these). Thread-safe as pread(2)/pwrite(2) are; the descriptor stays the caller's.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace STSW_API stsw {

// Reads dst.size() bytes at `offset`, retrying EINTR and short reads. Returns how many
// were read: fewer than dst.size() only when the file ends first (the caller decides
// whether that is an error). Throws errno_error naming `path` and the offset.
std::size_t pread_full(int fd, std::span<std::byte> dst, std::uint64_t offset,
                       std::string_view path);

// Writes all of `src` at `offset`, retrying EINTR and short writes. Throws errno_error
// naming `path` and the offset (ENOSPC for a write that makes no progress).
void pwrite_full(int fd, std::span<const std::byte> src, std::uint64_t offset,
                 std::string_view path);

}  // namespace stsw
