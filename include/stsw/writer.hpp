// StreamWriter: forward-only, checksummed, crash-safe safetensors writes at disk speed.
//
// Overview. open() validates the tensor list, creates an unnamed file (O_TMPFILE; a hidden
// temporary name where the file system lacks it) in the directory of `path`, preallocates
// the final size and stages the header. write_block() copies caller bytes into the engine's
// staging buffers, each covering one aligned chunk of the final file; a full buffer is
// written while the next fills. The per-tensor CRC-32 is computed with the copy, on engine
// worker threads. close() rewrites the header with the real CRCs at the same length,
// fdatasyncs, links the file into place (atomically replacing any existing file) and fsyncs
// the directory: in the background, the rename and the directory fsync on the engine's
// blocking-call thread (Engine::post_blocking); close() itself does not wait for them.
//
// Lifecycle. open -> (write_block | window | finalize_tensor)* or write_at* -> close or abort.
// With write_block, tensors are written in the order of `metas`; with write_at, pieces come
// in any order; either way each tensor gets exactly nbytes bytes. After close() or abort()
// every call but stats() fails with Errc::InvalidState. Destroying a writer that was
// neither closed nor aborted aborts it (blocking until its writes in flight completed).
// Destroying one whose close() is pending does not block: the close completes in the
// background (the writer's resources, the engine included, stay alive until it did), and
// its future or callback still completes; a close that fails then removes the temporary
// file. (Moving a writer over another acts like destroying the one replaced.)
//
// Crash safety. A kill -9 at any moment leaves either the previous file or the complete new
// one at `path`. The only thing a crash can leave behind is a hidden file
// `.<name>.stsw-*` next to `path`: the complete new file when the crash hit between the
// link and the rename of close(), or the partial data when O_TMPFILE is unsupported.
// Such leftovers do not accumulate: a live writer holds an exclusive flock(2) on its
// temporary file (taken before the file has a name; the kernel drops it when the process
// dies), and open() first removes the hidden files of the same destination name whose lock
// it can take, i.e. those no live writer holds. `stsw clean DIR` and clean_temp_files()
// (stsw/temp_files.hpp, which has the full rule) do the same for a whole directory.
// Destination names up to the file system's limit work: when ".<name>.stsw-" plus 12 hex
// digits would be too long, the hidden name carries a shortened name and a hash of it.
//
// Paths and permissions. The temporary file is an O_TMPFILE, or a fresh random hidden name
// created with O_CREAT | O_EXCL; close() links the O_TMPFILE to a fresh random hidden name
// with linkat(), which never replaces an entry. So an entry planted at a temporary name (a
// symlink, a file) is skipped and never followed, truncated or removed. close() then renames
// over `path`: a symlink at `path` (to a file, to a directory, or dangling) is replaced by
// the new regular file and its target is left untouched. Anything else at `path` (a
// directory, a device node, a FIFO, a socket) is refused with InvalidArgument naming the
// path and its type: by open(), before any data is written, and again just before the
// rename. The directory part of `path` is resolved as usual (symlinks in it are
// followed). New files get mode 0644 minus the process umask; the mode, owner, ACLs and
// extended attributes of a replaced file are not carried over.
//
// Errors. Usage errors (TensorOrder, LengthMismatch, UnknownTensor, InvalidState) reject the
// call and leave the writer as it was. An I/O error (Io, NoSpace, with the path and the
// offset) poisons the writer: every later call fails with it. abort() always works and
// leaves `path` untouched.
//
// Memory. Staging memory is the engine's pool (buffer_count x chunk_size; at most
// `buffer_count` buffers of it held by this writer) plus a copy of the header: peak RSS
// stays bounded whatever the file or tensor sizes.
//
// Thread safety. All member functions may be called from many threads: calls are
// serialized internally, in the order they acquire the writer's lock. With write_block,
// tensors must still be written in order, so concurrent writers must coordinate which
// bytes come next; write_at takes pieces in any order. write_block queues instead of
// waiting for a buffer (see there); window(), write_at(), open() and close() (which first
// stages the queued blocks) may block while every staging buffer is in flight
// (backpressure); never call those from an engine callback.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/engine.hpp"
#include "stsw/header.hpp"
#include "stsw/tensor_meta.hpp"

namespace STSW_API stsw {

struct WriterOptions {
  // Store a "crc32" field (zlib's CRC-32) in every tensor entry.
  bool crc32 = true;
  // The data region starts at a multiple of `align` (a power of two >= 8) through header
  // padding; tensors stay contiguous. 8 with crc32 off reproduces the official writer.
  std::uint64_t align = 64;
  // nullopt: no "__metadata__" key; an empty map: "__metadata__":{}.
  std::optional<Metadata> metadata;
  // fdatasync the file and fsync its directory before close() completes.
  bool durable = true;
  // Page-cache policy of the file (Auto: O_DIRECT where the file system allows it).
  IoMode io_mode = IoMode::Auto;
  // The engine doing the I/O. Null: Engine::shared(), or a private engine when
  // chunk_size or buffer_count is set.
  std::shared_ptr<Engine> engine;
  // Bytes per staging buffer / write request (multiple of 4096, at most the engine's
  // chunk size); 0: the engine's chunk size.
  std::size_t chunk_size = 0;
  // Most staging buffers this writer holds at once (>= 2 keeps the disk busy while the
  // next buffer fills); 0: the engine's pool size. An open writer keeps one partly filled
  // buffer between calls; when more writers are open than the engine has registered
  // buffers, the engine's pool grows up to EngineOptions::max_buffer_count (1 GiB of
  // buffers by default). At that cap a writer waits only while engine I/O is in flight
  // (it returns buffers); otherwise open() / write_block() fail at once with NoSpace
  // ("staging pool exhausted", naming the path). Never a silent hang.
  unsigned buffer_count = 0;
};

struct WriterStats {
  std::uint64_t bytes_staged = 0;    // tensor bytes accepted by write_block / commit_window
  std::uint64_t bytes_written = 0;   // tensor bytes whose write to the file completed
  std::uint64_t bytes_total = 0;     // sum of the tensors' sizes
  double elapsed_seconds = 0;        // since open
  double mb_per_s = 0;               // bytes_written / elapsed, in 10^6 bytes per second
  double eta_seconds = 0;            // remaining bytes at the current rate (0 when unknown)
  std::uint64_t peak_rss_bytes = 0;  // the process's peak resident set size
};

class StreamWriter {
 public:
  // Validates `metas` (names unique and not "__metadata__", valid UTF-8; sizes equal shape x
  // dtype; offsets contiguous from 0 in the given order: InvalidName, DuplicateName,
  // ValidationOverflow, MisalignedSlice, TensorInvalidInfo, InvalidOffset) and the options
  // (InvalidArgument), then creates the temporary file next to `path` (Io / NoSpace naming
  // the path). `path` itself is not touched until close().
  [[nodiscard]] static StreamWriter open(const std::string& path,
                                         const std::vector<TensorMeta>& metas,
                                         const WriterOptions& options = {});

  StreamWriter(StreamWriter&&) noexcept;
  StreamWriter& operator=(StreamWriter&&) noexcept;
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;
  ~StreamWriter();

  // Appends `data` to tensor `name`, which must be the current tensor: the first one not
  // yet complete (earlier complete tensors are finalized implicitly, zero-size ones
  // included). The future is ready once `data` has been copied and may be reused or freed;
  // it fails with TensorOrder, UnknownTensor, LengthMismatch (more bytes than remain),
  // InvalidState, or the writer's I/O error. `data` must stay alive and unchanged until
  // then. Small blocks are copied inline when a buffer is free (the future is then already
  // ready).
  // Backpressure: write_block does not wait for staging buffers. When every buffer of the
  // writer is busy, the rest of the block is queued (a reference to `data`, no copy) and the
  // call returns; queued blocks are staged in call order as the writer's writes complete,
  // and each future completes when its last byte is staged. The checks above count queued
  // bytes. The caller waits only where no write of this writer is in flight and the
  // engine's pool is at its cap (Engine::acquire_buffer: while other engine I/O is in
  // flight; NoSpace at once otherwise). An error while staging queued bytes (NoSpace from
  // the pool, a failed copy) fails the queued blocks and poisons the writer; abort() fails
  // them with Cancelled.
  [[nodiscard]] std::future<void> write_block(std::string_view name,
                                              std::span<const std::byte> data);
  // Callback form: `done` runs exactly once, possibly on the calling thread before
  // write_block returns, else on an engine thread or on the thread of a later call on this
  // writer that staged the block's last queued bytes (close(), window(), abort()).
  void write_block(std::string_view name, std::span<const std::byte> data, DoneCallback done);

  // Out-of-order staging: the bytes of tensor `name` starting at byte `offset` of that
  // tensor, in any order, from any thread (calls are serialized internally; the copies of
  // large pieces run on engine workers in parallel). The future is ready once `data` was
  // copied (it must stay alive and unchanged until then). The per-tensor CRC-32 is
  // assembled from the pieces (crc32_combine); a chunk of the file is written once all of
  // its bytes are staged, so the file is byte-identical to the one written in order.
  // Memory: at most `buffer_count` staging buffers; when pieces are spread over more
  // chunks than that, the fullest partly staged chunk is written in runs (slower, still
  // exact) and the caller waits only for writes in flight. Errors (the piece is rejected,
  // the writer stays as it was): UnknownTensor; LengthMismatch for bytes past the tensor's
  // end; InvalidArgument for bytes that overlap bytes already written; InvalidState after
  // write_block/window staged bytes (a writer stages either in order or with write_at;
  // write_block, window and finalize_tensor fail with InvalidState after write_at). I/O
  // errors poison the writer as for write_block. close() fails with LengthMismatch naming
  // the tensor and its first missing byte when a gap remains (the writer stays open:
  // write the gap, or abort()).
  [[nodiscard]] std::future<void> write_at(std::string_view name, std::uint64_t offset,
                                           std::span<const std::byte> data);
  // Callback form: `done` runs exactly once, possibly on the calling thread before
  // write_at returns, else on an engine thread.
  void write_at(std::string_view name, std::uint64_t offset, std::span<const std::byte> data,
                DoneCallback done);

  // Zero-copy path: a writable window of at most `max_bytes` into the staging buffer, for
  // the next bytes of tensor `name` (same ordering rules as write_block). Its size is the
  // smaller of max_bytes, the bytes the tensor still needs and the room left in the current
  // buffer (never 0 unless the tensor is complete). Fill it, then commit_window(n) with the
  // n <= size bytes written; the window is invalid afterwards. One window at a time; other
  // calls fail with InvalidState while it is open. Throws the errors write_block reports.
  [[nodiscard]] std::span<std::byte> window(std::string_view name,
                                            std::size_t max_bytes = SIZE_MAX);
  void commit_window(std::size_t bytes);

  // Declares tensor `name` complete. LengthMismatch if bytes are missing, TensorOrder if
  // a tensor before it is incomplete; a no-op for an already finalized tensor.
  void finalize_tensor(std::string_view name);

  // Finishes the file (see the overview). The future is ready when the complete file is at
  // `path` (and durable when options.durable). LengthMismatch if a tensor is incomplete
  // (the writer stays open); the writer's I/O error otherwise. After a failed close,
  // abort() removes the temporary data. abort() while close() is pending completes the
  // close exactly once: with success when the file was already published, else with
  // Errc::Cancelled, `path` untouched.
  [[nodiscard]] std::future<void> close();
  void close(DoneCallback done);

  // Waits for pending I/O, removes the temporary file and leaves `path` untouched. Never
  // throws; a no-op after a successful close or a previous abort.
  void abort() noexcept;

  [[nodiscard]] WriterStats stats() const;
  [[nodiscard]] const std::string& path() const noexcept;
  // The tensors in file order, with crc32 set once close() succeeded.
  [[nodiscard]] std::vector<TensorMeta> tensors() const;
  // The CRC-32 (zlib's) of tensor `name` as the writer computed it while staging, for a
  // caller that checks the bytes it copied through the writer without a second pass (stsw
  // convert). Set once every byte of the tensor and of the tensors before it was staged
  // and the calls that staged them have completed (write_block / write_at futures or
  // callbacks, commit_window); nullopt before that, or with options.crc32 off.
  // UnknownTensor for a name not in the plan.
  [[nodiscard]] std::optional<std::uint32_t> tensor_crc32(std::string_view name) const;
  // N, the header length (padding included), and the data region's file offset (8 + N).
  [[nodiscard]] std::uint64_t header_size() const noexcept;
  // The effective I/O mode of the file (Direct or Buffered after fallbacks).
  [[nodiscard]] IoMode io_mode() const noexcept;

  class Impl;

 private:
  explicit StreamWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stsw
