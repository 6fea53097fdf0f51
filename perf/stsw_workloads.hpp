// The stsw side of each comparison: StreamWriter, StreamReader (read_into, verify) and the
// raw Engine, driven the way an application would drive them. Each function returns the
// bytes it moved and throws stsw::Error on failure (a CRC mismatch included).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "bench_file.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"

namespace stsw::bench {

// Where read_into puts each tensor in the destination buffer. The engine reads O_DIRECT
// straight into memory that is congruent to the file offset modulo 4096, and otherwise
// O_DIRECT into the destination shifted by under a block, plus an in-place move.
enum class DstLayout {
  Page,       // every tensor at its own 4096-aligned address (what torch.empty gives)
  Packed,     // dst + offset_begin: the data region's layout, at dst's alignment
  Congruent,  // dst + (data_offset % 4096) + offset_begin: zero-copy O_DIRECT
};

[[nodiscard]] std::string_view to_string(DstLayout l) noexcept;
[[nodiscard]] std::optional<DstLayout> parse_dst_layout(std::string_view s) noexcept;

// Bytes a destination buffer needs for `layout` (tensor bytes plus alignment slack).
[[nodiscard]] std::uint64_t dst_bytes_needed(std::uint64_t data_size, std::size_t tensors) noexcept;

struct StswSettings {
  std::shared_ptr<Engine> engine;  // created once per run, outside the timed sections
  IoMode io_mode = IoMode::Auto;
  ReadMode read_mode = ReadMode::Auto;
  bool read_ahead = true;  // ReaderOptions::read_ahead
};

// StreamWriter::open, write_block of every tensor in order (each waited for, as an
// application saving tensors one by one would), close (durable: fdatasync + dir fsync).
// Returns the file size.
std::uint64_t stsw_write(const std::string& path, const BenchFile& file, const TensorSource& source,
                         bool crc32, const StswSettings& s);

// StreamWriter::write_at of every tensor cut into `piece`-byte pieces, from `threads`
// producer threads, the pieces shuffled within each window of `threads` consecutive pieces
// (windows in order, a barrier between them), then close. Returns the file size.
std::uint64_t stsw_write_at(const std::string& path, const BenchFile& file,
                            const TensorSource& source, const StswSettings& s,
                            unsigned threads = 16, std::size_t piece = std::size_t{1} << 20);

// StreamReader::read_batch of the middle 1/`fraction` of every tensor (read_range each,
// all in flight), packed into dst. Partial ranges carry no CRC check. Returns the bytes.
std::uint64_t stsw_read_ranges(const std::string& path, std::span<std::byte> dst,
                               const StswSettings& s, unsigned fraction = 8);

// StreamReader::open, then read_into of every tensor in file order into dst (placed as
// `layout` says), CRC checked when verify_crc: all in flight at once (in_flight 0), or at
// most `in_flight` calls outstanding, the oldest waited for before the next starts (what a
// model loader filling an arena tensor by tensor does). Returns the tensor bytes read.
std::uint64_t stsw_read_into(const std::string& path, std::span<std::byte> dst, bool verify_crc,
                             const StswSettings& s, DstLayout layout = DstLayout::Page,
                             unsigned in_flight = 0);

// stsw::convert of the safetensors file `input` into `output` (re-laid out, CRCs added,
// durable), the whole call timed (it opens and reads in one call). Returns the output's
// size, the bytes written (as stsw_write).
std::uint64_t stsw_convert(const std::string& input, const std::string& output,
                           const StswSettings& s);

// Like stsw_read_into into freshly mapped, never touched memory (the page faults are
// part of the measurement): what a loader allocating new tensors pays. Each tensor is
// placed congruent with its file offset (DstLayout::Congruent), as stsw.load places the
// tensors it allocates, so that the comparison differs in the memory only.
std::uint64_t stsw_read_into_fresh(const std::string& path, bool verify_crc, const StswSettings& s);

// StreamReader::open + verify(); throws Error(CrcMismatch) when the report did not pass.
// Returns the bytes scrubbed.
std::uint64_t stsw_verify(const std::string& path, const StswSettings& s);

enum class WriteTarget {
  NewFile,    // create or truncate, then fallocate
  Overwrite,  // create if missing, keep existing blocks, fallocate
  Device,     // a block device: open it as it is
};

// The raw engine (engine_workloads.cpp): File::open, fallocate (files), Engine::write of
// `bytes` (rounded up to 4096) repeating `pool`, in requests of the engine's chunk size
// with at most its queue depth in flight (fio's bs x iodepth), then fdatasync; each
// request's latency goes to the measurement (record_request). Returns the bytes.
std::uint64_t engine_write(const std::string& path, std::uint64_t bytes,
                           std::span<const std::byte> pool, const StswSettings& s,
                           WriteTarget target = WriteTarget::NewFile);

// The raw engine: Engine::read of the first `bytes` (0: the whole file) into dst (wrapping
// around dst when the file is larger), in chunk-sized requests at most queue depth in
// flight, with the engine's CRC when want_crc; latencies recorded. Returns the bytes read.
std::uint64_t engine_read(const std::string& path, std::span<std::byte> dst, const StswSettings& s,
                          std::uint64_t bytes = 0, bool want_crc = false);

}  // namespace stsw::bench
