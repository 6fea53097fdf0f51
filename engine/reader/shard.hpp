// One opened safetensors file of a StreamReader: its descriptors, parsed header, chosen
// read path, lazily created mapping and get_slice CRC cache. Shared (shared_ptr) between
// the reader and its pending operations, so the files stay open until both are done.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "reader/mapping.hpp"
#include "reader/read_ahead.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"
#include "stsw/reader.hpp"

namespace stsw::detail {

struct Shard {
  std::string path;
  File bfile;  // buffered descriptor: header, mapping, residency probe, buffered reads
  File dfile;  // O_DIRECT descriptor, open only when mode == Direct
  Header header;
  std::uint64_t file_size = 0;  // at open
  ReadMode mode = ReadMode::Buffered;

  // Descriptor for engine reads (verify, for_each, read_into outside Mmap mode).
  [[nodiscard]] const File& io_file() const noexcept {
    return mode == ReadMode::Direct ? dfile : bfile;
  }
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return header.data_offset(); }
  // Absolute file offsets of tensor `i`.
  [[nodiscard]] std::uint64_t abs_begin(std::size_t i) const noexcept {
    return data_offset() + header.tensors[i].offset_begin;
  }
  [[nodiscard]] std::uint64_t abs_end(std::size_t i) const noexcept {
    return data_offset() + header.tensors[i].offset_end;
  }
  // Written by the Python stsw (its crc32 may be xxh32).
  [[nodiscard]] bool python_stsw() const noexcept { return header.version.has_value(); }

  // The whole-file mapping, created on first use (thread-safe). Throws Error.
  [[nodiscard]] const Mapping& mapping() const;

  // Read-ahead for staged read_into calls in file order (read_ahead.hpp); on only for
  // Direct shards with ReaderOptions::read_ahead.
  bool read_ahead_on = false;
  std::uint64_t data_end = 0;  // absolute end of the last tensor's bytes
  mutable ReadAhead read_ahead;

  // get_slice CRC cache per tensor: 0 unchecked, 1 ok, 2 mismatch.
  std::unique_ptr<std::atomic<std::uint8_t>[]> slice_state;

 private:
  mutable std::once_flag map_once_;
  mutable Mapping mapping_;
};

// Opens `path`, reads and parses its header (bounded by the real file size) and picks the
// read path for `mode` (Auto probes the page cache). Throws Error.
[[nodiscard]] std::shared_ptr<Shard> open_shard(const std::string& path,
                                                const ReaderOptions& options);

// Errc::CrcMismatch "<file>: tensor 'w1' (expected 0x..., got 0x...)", with the xxh32 hint
// for Python stsw files.
[[nodiscard]] Error crc_mismatch(const Shard& shard, std::string_view tensor,
                                 std::uint32_t expected, std::uint32_t actual);
// "0x1234abcd"
[[nodiscard]] std::string hex32(std::uint32_t v);
// The remark added to reports and errors for Python stsw files.
[[nodiscard]] std::string_view xxhash_hint() noexcept;

}  // namespace stsw::detail
