// What users would otherwise run: the naive baselines.
// - naive_write: what Python tools do (1 MiB write() calls through the page cache, then
//   fsync); durable like stsw's writer.
// - mmap_memcpy_read: the official loader (mmap the file, copy each tensor out).
// - pread_loop_read: a pread() per tensor through the page cache.
// Each returns the payload bytes it moved and throws stsw::Error(Io) naming the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "bench_file.hpp"

namespace stsw::bench {

// Writes the official header and every tensor's bytes from `source` to `path`
// (created/truncated) in `block`-byte write() calls, then fsync. Returns the file size.
std::uint64_t naive_write(const std::string& path, const BenchFile& file,
                          const TensorSource& source, std::size_t block = 1 << 20);

// Maps `path` read-only and copies each tensor to dst + offset_begin. The data region
// starts at 8 + N, N read from the file. dst must hold file.data_size bytes.
std::uint64_t mmap_memcpy_read(const std::string& path, const BenchFile& file,
                               std::span<std::byte> dst);

// pread()s each tensor into dst + offset_begin (looping over short reads).
std::uint64_t pread_loop_read(const std::string& path, const BenchFile& file,
                              std::span<std::byte> dst);

}  // namespace stsw::bench
