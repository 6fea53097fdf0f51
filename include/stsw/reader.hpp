// StreamReader: zero-copy, streaming and CRC-verified reads of safetensors files and of
// sharded checkpoints (model.safetensors.index.json).
//
//   auto r = stsw::StreamReader::open("model.safetensors", {});
//   for (const auto& name : r.keys()) { ... r.meta(name) ... }
//   std::vector<std::byte> dst(r.meta("w1").nbytes());
//   r.read_into("w1", dst).get();            // engine read + CRC check
//   std::span<const std::byte> v = r.get_slice("w1");   // zero-copy mmap view
//   stsw::VerifyReport rep = r.verify().get();          // whole-file scrub
//
// Overview. open() reads and validates the header only (8 bytes, then the N header bytes;
// memory is bounded by the real file size, never by what the file claims). Data is read
// later by one of four paths: get_slice (a read-only mmap of the file), read_into (the
// Engine, into caller memory, CRC computed as chunks land), for_each (the Engine, through
// a bounded set of buffers, in file order) and verify (one sequential Engine scan of the
// data region with per-tensor CRCs joined with crc32_combine). For loaders: read_range
// (a byte range of a tensor), read_block (a rows x columns block of a 2-D tensor) and
// read_batch (many tensors or ranges, bounded bytes in flight, a callback per request).
//
// Errors. open() throws stsw::Error: the official error kind for a malformed file in strict
// mode (messages name the file and, where known, the tensor), InvalidIndex for a bad
// sharded index, Io for operating-system failures (EISDIR for a directory), InvalidArgument
// for a path that is not a regular file (a FIFO is refused, never waited on). Asynchronous
// calls never throw: their future or callback carries the Error. CRC mismatches are
// Errc::CrcMismatch "<file>: tensor 'w1' (expected 0x..., got 0x...)".
//
// A file truncated or rewritten after open(). read_into, verify and for_each fail the
// affected reads with Errc::Io (never SIGBUS): the engine reports "unexpected end of file"
// and the mmap read path copies with a fault-safe primitive (process_vm_readv) that fails
// with EFAULT instead of faulting. get_slice is different: it returns a view of a shared
// mapping. It checks the file's current size before handing out the view (Errc::Io when
// the tensor's bytes are gone), but if the file is truncated later, touching the view's
// vanished pages raises SIGBUS in the caller, as with any mmap. Use read_into when the
// file may change under the process. A file whose bytes are rewritten in place is seen
// as it is now (and caught by the CRC when one is stored).
//
// Lifetime. A StreamReader owns its files, mappings and a reference to its Engine. Views
// from get_slice and TensorMeta references stay valid until the reader is destroyed or
// moved from. A pending read_into/verify keeps the reader's files open by itself, so the
// reader may be destroyed before its futures are ready; destination spans must stay alive
// and untouched until the future is ready (or the callback ran).
//
// Thread safety. All const member functions are safe for concurrent use from many
// threads; many read_into calls may be in flight at once. Callbacks run on engine
// threads and must not block on other engine futures.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"
#include "stsw/tensor_meta.hpp"
#include "stsw/verify_report.hpp"

namespace STSW_API stsw {

// How read_into reaches the file (verify and for_each use Direct or Buffered).
enum class ReadMode {
  // Per file at open: probes the page cache (mincore over samples of the data region);
  // mostly resident -> Buffered (a warm cache is never slower than buffered reads),
  // otherwise Direct (a cold cache is never slower than O_DIRECT reads).
  Auto,
  Direct,    // O_DIRECT: straight into destinations congruent to the file offset modulo
             // the block size, else through aligned staging buffers; Buffered where the
             // file system refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE)
  Buffered,  // the page cache (pread / io_uring reads)
  Mmap,      // read_into copies from the file's read-only mapping (fault-safe copy)
};

[[nodiscard]] std::string_view to_string(ReadMode mode) noexcept;  // "auto", "direct", ...
[[nodiscard]] std::optional<ReadMode> parse_read_mode(std::string_view s) noexcept;

struct ReaderOptions {
  // true: exactly the official loader's checks. false (lenient): also reads files of the
  // Python stsw 1.0 (FORMAT.md section 6).
  bool strict = true;
  // Check the CRC of tensors whose header entry carries a crc32 (read_into, get_slice,
  // for_each). verify() always checks.
  bool verify_crc = true;
  // Lenient mode only: open files marked "__incomplete__": true.
  bool allow_partial = false;
  ReadMode io_mode = ReadMode::Auto;
  // Bytes per buffer of for_each (a multiple of 4096); 0: the engine's chunk_size.
  std::size_t chunk_size = 0;
  // Buffers for_each keeps in flight (memory: buffer_count x chunk_size); 0: 4.
  unsigned buffer_count = 0;
  // The engine doing the I/O; null: Engine::shared().
  std::shared_ptr<Engine> engine;
  // Direct reads only: when read_into calls for destinations not congruent to the file
  // offset (mod 4096) come in file order and one completes with less than a chunk
  // requested after it, read the next chunk of the file (the following tensors' first
  // bytes) into one staging buffer of the engine's pool before the caller hears of the
  // completion, so that a loader with one or two calls outstanding keeps the device busy
  // between calls and runs of tiny tensors cost no device round trip each. One current
  // window per file, started only while two of the engine's registered buffers are free
  // (never grows the pool); while the reader lives, an unclaimed window keeps its buffer
  // (a call out of order drops it). Bytes are used only when the file's size and
  // timestamps have not changed since they were read; a failed read-ahead is read again
  // by the call that needs the bytes (a lasting error then names file, tensor, offset).
  bool read_ahead = true;
};

// Facts about one opened file (one per shard; a single file is one shard).
struct ShardInfo {
  std::string path;
  std::uint64_t file_size = 0;         // at open
  std::uint64_t data_offset = 0;       // 8 + N
  ReadMode mode = ReadMode::Buffered;  // effective: Direct, Buffered or Mmap, never Auto
};

// A block of a 2-D tensor [R, C]: rows [row_begin, row_end) x columns [col_begin, col_end).
struct Block2D {
  std::uint64_t row_begin = 0;
  std::uint64_t row_end = 0;
  std::uint64_t col_begin = 0;
  std::uint64_t col_end = 0;
};

// One destination of read_batch: `dst.size()` bytes of tensor `name` from byte `offset`
// (offset 0 and dst.size() == nbytes: the whole tensor, CRC-checked as read_into).
struct ReadRequest {
  std::string name;
  std::uint64_t offset = 0;
  std::span<std::byte> dst;
};

// Options of StreamReader::read_batch.
struct ReadBatchOptions {
  // Most destination bytes being read at once (a request larger than this runs alone).
  // Requests start in the order given, so a loader listing layer 0 first gets it first.
  std::uint64_t max_bytes_in_flight = std::uint64_t{256} << 20;
  // Called once per request, as soon as it completed (null error) or failed, on an
  // engine thread, possibly concurrently for different requests; the request's `dst`
  // is then complete and no longer touched. Must not block on engine futures.
  std::function<void(std::size_t index, std::exception_ptr error)> on_done;
};

namespace detail {
struct ReaderState;
}

class StreamReader {
 public:
  // Opens a .safetensors file, or a sharded set through its index (a path ending in
  // ".json", e.g. "model.safetensors.index.json": every shard named by its weight_map is
  // opened, from the index's directory). Throws stsw::Error.
  [[nodiscard]] static StreamReader open(const std::string& path,
                                         const ReaderOptions& options = {});

  StreamReader(StreamReader&& other) noexcept;
  StreamReader& operator=(StreamReader&& other) noexcept;
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;
  ~StreamReader();

  // Tensor names in file order (for a sharded set: shard by shard, in shard-name order).
  [[nodiscard]] std::vector<std::string> keys() const;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool contains(std::string_view name) const noexcept;
  // Offsets are relative to the data region of the tensor's own file. Throws
  // Error(UnknownTensor) for a name that is not in the file.
  [[nodiscard]] const TensorMeta& meta(std::string_view name) const;
  // The "__metadata__" map (empty when absent). Sharded: the first shard's.
  [[nodiscard]] const Metadata& metadata() const noexcept;
  // Sharded: the index's "metadata" object (non-string values as JSON text); else empty.
  [[nodiscard]] const Metadata& index_metadata() const noexcept;

  [[nodiscard]] const std::string& path() const noexcept;  // as given to open()
  [[nodiscard]] bool sharded() const noexcept;
  [[nodiscard]] std::vector<ShardInfo> shards() const;
  [[nodiscard]] const Header& header(std::size_t shard = 0) const;  // parsed header of a file
  // The file holding `name` (the path for a single file). Throws UnknownTensor.
  [[nodiscard]] const std::string& file_of(std::string_view name) const;
  [[nodiscard]] Engine& engine() const;  // the engine doing this reader's I/O

  // A zero-copy view of the tensor's bytes in a read-only mapping of its file (mapped
  // once, on first use). With verify_crc and a stored crc32 the bytes are checked on the
  // first access to each tensor and the result cached (a mismatch throws CrcMismatch on
  // every access). Throws UnknownTensor, CrcMismatch, Io (file now shorter than the
  // tensor's end, or a tensor of a partial file beyond its end). See "A file truncated
  // after open()" above for SIGBUS.
  [[nodiscard]] std::span<const std::byte> get_slice(std::string_view name) const;

  // Reads the tensor into `dst`, which must hold exactly meta(name).nbytes() bytes
  // (LengthMismatch otherwise; UnknownTensor for an unknown name). Large tensors are read
  // in chunked requests kept in flight by the engine; the CRC is computed as chunks land.
  // `dst` must stay alive and untouched until completion.
  [[nodiscard]] std::future<void> read_into(std::string_view name, std::span<std::byte> dst) const;
  // Callback form: `done` runs exactly once on an engine thread (also for argument errors).
  void read_into(std::string_view name, std::span<std::byte> dst, DoneCallback done) const;

  // Reads dst.size() bytes of tensor `name` starting at byte `offset` of the tensor into
  // `dst`, through the engine (O_DIRECT where the file and the alignment allow it, staged
  // through aligned buffers where not; a fault-safe copy from the mapping in Mmap mode).
  // Errors: UnknownTensor; InvalidArgument when [offset, offset + dst.size()) is not
  // inside the tensor (the message names the file, the tensor, the offset and the size);
  // Io (file, offset, tensor) for read failures, a file truncated after open included.
  // CRC: a range covering the whole tensor (offset 0, dst.size() == nbytes) is exactly
  // read_into and is CRC-checked (with verify_crc and a stored crc32). A partial range is
  // NOT checked: a CRC-32 covers the whole tensor, so a partial read can only promise the
  // bytes the file holds now at those offsets; corruption inside the range goes unnoticed
  // (run verify(), or read whole tensors, where that matters). An empty dst completes at
  // once (offset <= nbytes required). `dst` must stay alive and untouched until done.
  [[nodiscard]] std::future<void> read_range(std::string_view name, std::uint64_t offset,
                                             std::span<std::byte> dst) const;
  // Callback form: `done` runs exactly once on an engine thread (also for argument errors).
  void read_range(std::string_view name, std::uint64_t offset, std::span<std::byte> dst,
                  DoneCallback done) const;

  // Reads `block` of the 2-D tensor `name` into `dst`, densely in row-major order
  // (dst.size() == rows x cols x element size, LengthMismatch otherwise) - the
  // tensor-parallel column split. Never element-sized I/O: when a row's segment is large
  // (>= 128 KiB) each row's segment is read straight into dst (a few rows in flight);
  // otherwise the rows' span of the file is streamed through the engine's staging buffers
  // (row-spanning chunks) and workers scatter the segments into dst. Errors:
  // UnknownTensor; InvalidArgument for a tensor that is not 2-D, a block outside its
  // shape, or column bounds that do not fall on byte boundaries (sub-byte dtypes); Io as
  // read_range. A block covering the whole tensor is CRC-checked like read_into; other
  // blocks are not (see read_range). An empty block completes at once.
  [[nodiscard]] std::future<void> read_block(std::string_view name, const Block2D& block,
                                             std::span<std::byte> dst) const;
  void read_block(std::string_view name, const Block2D& block, std::span<std::byte> dst,
                  DoneCallback done) const;

  // Model-loader batch read: every request (see ReadRequest and read_range's errors) into
  // its caller destination, at most max_bytes_in_flight bytes in flight. After the first
  // failure no new request starts (those not started report Errc::Cancelled to on_done);
  // the future is ready once every started request finished, holding the first error.
  // Every dst must stay alive until the future is ready.
  [[nodiscard]] std::future<void> read_batch(std::vector<ReadRequest> requests,
                                             ReadBatchOptions options = {}) const;

  // Reads every data region once, sequentially (shard by shard), and checks every
  // tensor's crc32. I/O errors (a file truncated after open) fail the future; CRC results
  // are in the report.
  [[nodiscard]] std::future<VerifyReport> verify() const;
  using VerifyCallback = std::function<void(std::exception_ptr, VerifyReport)>;
  void verify(VerifyCallback done) const;

  // Streams every tensor in file order through buffer_count buffers of chunk_size bytes,
  // calling `callback(meta, offset_in_tensor, bytes)` on the calling thread, in order:
  // each tensor gets one or more calls whose pieces cover [0, nbytes) in increasing order
  // (one call with an empty span for a zero-size tensor); a tensor that fits in a buffer
  // arrives in one piece. `bytes` is valid only during the call. With verify_crc, a tensor
  // delivered in one piece is checked before the call; a larger tensor is checked after
  // its last piece, so a CrcMismatch thrown then means its pieces must be discarded.
  // Blocks until done; throws Error (Io, CrcMismatch) or what the callback threw, after
  // the reads in flight have finished.
  using PieceCallback = std::function<void(const TensorMeta& meta, std::uint64_t offset_in_tensor,
                                           std::span<const std::byte> bytes)>;
  void for_each(const PieceCallback& callback) const;

 private:
  explicit StreamReader(std::shared_ptr<detail::ReaderState> state);
  std::shared_ptr<detail::ReaderState> state_;
};

}  // namespace stsw
