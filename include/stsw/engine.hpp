// The I/O engine: chunked, queue-depth transfers on io_uring (staging buffers and file
// descriptors registered with the ring when possible) or on a
// pread/pwrite thread pool, with CRC-32 computed on worker threads in parallel with the I/O.
//
// Overview. An Engine owns one backend (a ring driven by one thread, or a pool of I/O
// threads), a bounded pool of page-aligned staging buffers (buffer_count x chunk_size,
// registered with the ring when the kernel and RLIMIT_MEMLOCK allow, growing on demand
// with unregistered buffers up to max_buffer_count) and a pool of worker threads for CRC
// and copies. A transfer (write/read/scan) is split into
// chunk_size requests; up to queue_depth of them are in flight at once.
//
// Lifecycle. Create with Engine::create() (or share Engine::shared()); keep the
// shared_ptr alive while operations are pending. Destroying the last reference waits for
// submitted requests to finish and fails every future that has not completed with
// Errc::Cancelled; no callback runs after the destructor returns. (Exception: when the
// last reference is dropped inside a callback, on an engine thread, that shutdown runs
// on a helper thread, since a thread cannot join itself. Engine::wait_for_released_engines()
// waits for those shutdowns; the process also waits for them when it exits, so no engine
// thread outlives main() or exit(). Engine threads are named stsw-uring, stsw-io,
// stsw-worker, stsw-blocking and stsw-shutdown.)
//
// Error handling. Calls never throw for I/O failures: the future (or callback) carries a
// stsw::Error naming the file and offset. Invalid arguments fail the future too.
//
// Partial I/O. Short reads and writes are resubmitted for the remainder; -EAGAIN and
// -EINTR are retried. End of file before a read is satisfied is Errc::Io
// ("unexpected end of file").
//
// O_DIRECT. For a direct File, chunks whose offset, length or memory address are not
// aligned to File::alignment() are transferred through the File's buffered twin fd, so
// callers may pass any offset and size. Reads whose memory is not congruent with the
// file offset (modulo the alignment) stay O_DIRECT without staging buffers: each aligned
// window is read into its own place in the destination, shifted by less than a block,
// its last block (and the partial blocks at either end of the range) into a small
// block the engine allocates per transfer; a worker moves the bytes into place (together
// with the CRC). Nothing outside the destination is written. Only such reads that hold
// no whole block go through staging buffers.
//
// Thread safety. All Engine member functions are safe for concurrent use from many
// threads. Callbacks run on engine threads (or inline, on the caller's thread, for
// invalid arguments and empty ranges): they must not block on other engine futures or
// on acquire_buffer(). Transfers that need staging buffers (scan, reads into memory not
// congruent to the offset that hold no whole block) wait in FIFO order for one when the
// pool is at its cap (max_buffer_count), so holding every buffer up to the cap stalls
// them.
#pragma once

#include "stsw/export.hpp"

#include <atomic>
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

namespace STSW_API stsw {

// Page-cache policy of a file.
enum class IoMode {
  Auto,       // direct where the file system allows it, else buffered (logged)
  Direct,     // O_DIRECT; falls back to buffered (with a log line) where unsupported
  Buffered,   // the page cache
  DontCache,  // RWF_DONTCACHE (Linux 6.14+), else buffered (logged)
};
enum class BackendKind {
  Auto,     // STSW_IO_BACKEND=uring|threads if set, else io_uring if usable, else threads
  Uring,    // io_uring (fails over to threads, with a log line, if the ring cannot be set up)
  Threads,  // pread/pwrite on a thread pool
};

[[nodiscard]] std::string_view to_string(IoMode mode) noexcept;
[[nodiscard]] std::string_view to_string(BackendKind kind) noexcept;  // "auto"/"io_uring"/"threads"
[[nodiscard]] std::optional<IoMode> parse_io_mode(std::string_view s) noexcept;       // "auto",...
[[nodiscard]] std::optional<BackendKind> parse_backend(std::string_view s) noexcept;  // "uring",...

struct EngineOptions {
  BackendKind backend = BackendKind::Auto;
  std::size_t chunk_size = std::size_t{8} << 20;  // bytes per request; multiple of 4096
  unsigned queue_depth = 8;                       // requests in flight per transfer
  // Staging pool size: the registered set (6 x 8 MiB = 48 MiB, pinned when registered).
  // Measured here: 6 buffers write and verify as fast as 8 and keep a reading or
  // writing process under 64 MB peak RSS.
  unsigned buffer_count = 6;
  // The staging memory cap, in buffers: when all buffer_count buffers are out (for
  // example one held by each of many open StreamWriters), the pool maps extra,
  // unregistered buffers on demand up to max_buffer_count x chunk_size bytes in all, and
  // unmaps them when they come back with nobody waiting. 0: the larger of buffer_count and
  // 1 GiB / chunk_size (128 x 8 MiB; at most 65536 buffers). At the cap, acquire_buffer()
  // (and so a StreamWriter) waits while engine operations are in flight and fails with
  // Errc::NoSpace ("staging pool exhausted") when none is: it never waits for a buffer
  // that only another caller's next call could give back. Must be 0 or >= buffer_count.
  unsigned max_buffer_count = 0;
  unsigned worker_threads = 1;   // CRC / copy workers
  unsigned io_threads = 4;       // threads backend: I/O threads
  bool register_buffers = true;  // io_uring fixed buffers when possible
  bool register_files = true;    // io_uring fixed files (a sparse table of 64) when possible
};

struct EngineStats {
  BackendKind backend = BackendKind::Threads;  // the backend actually in use
  bool buffers_registered = false;
  unsigned files_registered = 0;  // descriptors in the ring's file table now
  std::uint64_t bytes_submitted = 0;
  std::uint64_t bytes_completed = 0;
  std::uint64_t requests_submitted = 0;
  std::uint64_t requests_completed = 0;
  std::uint64_t requests_retried = 0;  // short transfers, EAGAIN, EINTR
  std::uint64_t in_flight = 0;
  double crc_seconds = 0;       // time worker threads spent computing CRC-32
  double callback_seconds = 0;  // time spent in scan() chunk callbacks
  unsigned buffers_total = 0;   // registered + extra buffers mapped now
  unsigned buffers_free = 0;    // free registered buffers
  unsigned buffers_max = 0;     // the cap (EngineOptions::max_buffer_count, resolved)
};

namespace detail {
class FileHooks;
}

// An open file. Move-only; closes its descriptors on destruction. Must outlive every
// operation submitted on it. Not synchronized: do not move/destroy it while in use.
// io_uring engines register its descriptors with their rings (fixed files) on first use;
// close() (and the destructor) takes them out of every engine that did, on whatever thread
// it runs, before the descriptors are closed, so a number that open(2) hands out again
// never reaches the old file. Engines and Files may be destroyed in either order.
class File {
 public:
  File() = default;
  // Opens `path` with open(2) `flags` (O_RDONLY, O_RDWR|O_CREAT, O_TMPFILE|O_RDWR with a
  // directory path, ...) and permission bits `perm`. The mode adds O_DIRECT where
  // asked and supported (Auto/Direct fall back to buffered with an info log where the
  // file system refuses it). Throws Error on failure (errno_error, naming the path).
  [[nodiscard]] static File open(const std::string& path, int flags, unsigned perm, IoMode mode);
  // Opens the file `from` holds once more, with its own file offset and flags (`flags`,
  // `mode` as for open(); O_CREAT, O_EXCL and O_TRUNC are ignored). The new descriptor is
  // opened through /proc/self/fd, so a rename over from.path() in the meantime cannot
  // substitute another file; without /proc the path is opened and must still name the same
  // file (Errc::Io otherwise). path() is from.path().
  [[nodiscard]] static File reopen(const File& from, int flags, IoMode mode);
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }  // O_DIRECT when direct()
  [[nodiscard]] int buffered_fd() const noexcept { return bfd_ >= 0 ? bfd_ : fd_; }
  [[nodiscard]] bool direct() const noexcept { return direct_; }
  [[nodiscard]] IoMode mode() const noexcept { return mode_; }               // effective mode
  [[nodiscard]] std::uint32_t alignment() const noexcept { return align_; }  // 1 if buffered
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::uint64_t size() const;  // fstat, now
  void close() noexcept;

  // DontCache mode: true while requests carry RWF_DONTCACHE. The engine calls
  // disable_dontcache() (thread-safe, logged once) when the file system refuses the flag.
  [[nodiscard]] bool dontcache() const noexcept {
    return dontcache_.load(std::memory_order_relaxed);
  }
  void disable_dontcache() const noexcept;

 private:
  static File open_as(const std::string& target, const std::string& path, int flags, unsigned perm,
                      IoMode mode);
  int fd_ = -1;
  int bfd_ = -1;
  bool direct_ = false;
  IoMode mode_ = IoMode::Buffered;
  std::uint32_t align_ = 1;
  std::string path_;
  mutable std::atomic<bool> dontcache_{false};
  // The engines that registered the descriptors (created on first use; io/file_table.hpp).
  friend class detail::FileHooks;
  mutable std::atomic<detail::FileHooks*> hooks_{nullptr};
};

namespace detail {
class BufferPool;
}

// A lease of one staging buffer from an Engine's pool (page-aligned, chunk_size bytes,
// registered with the ring where possible: buffers beyond the first buffer_count, mapped
// when the pool grows, are not). Move-only; returns to the pool when destroyed or when
// passed to Engine::write. Must not outlive its Engine.
class StagingBuffer {
 public:
  StagingBuffer() = default;
  StagingBuffer(StagingBuffer&& other) noexcept;
  StagingBuffer& operator=(StagingBuffer&& other) noexcept;
  StagingBuffer(const StagingBuffer&) = delete;
  StagingBuffer& operator=(const StagingBuffer&) = delete;
  ~StagingBuffer();

  [[nodiscard]] std::span<std::byte> data() const noexcept { return {ptr_, size_}; }
  [[nodiscard]] std::size_t capacity() const noexcept { return size_; }
  // The registered-buffer index, or -1 for a buffer the pool grew beyond its registered set.
  [[nodiscard]] int index() const noexcept { return index_; }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }
  void reset() noexcept;  // returns the buffer to the pool now

 private:
  friend class detail::BufferPool;
  detail::BufferPool* pool_ = nullptr;
  std::byte* ptr_ = nullptr;
  std::size_t size_ = 0;
  int index_ = -1;
  int slot_ = -1;  // the pool's slot (registered index, or an extra buffer's)
};

// Completion callbacks: the exception_ptr is null on success.
using DoneCallback = std::function<void(std::exception_ptr)>;
using CrcCallback = std::function<void(std::exception_ptr, std::uint32_t)>;
// Called for each chunk of a scan with its file offset and bytes (valid during the call).
using ChunkCallback = std::function<void(std::uint64_t, std::span<const std::byte>)>;

class Engine {
 public:
  // Creates an engine; never fails for lack of io_uring (falls back to threads).
  // Throws Error(InvalidArgument) for impossible options.
  [[nodiscard]] static std::shared_ptr<Engine> create(const EngineOptions& options = {});
  // A process-wide engine with default options, created on first use (thread-safe).
  [[nodiscard]] static std::shared_ptr<Engine> shared();
  // Blocks until every engine whose last reference was dropped on one of its own threads
  // has finished shutting down, and every thread it started has exited. Call it before
  // fork() in a process that used engines (a forked child gets only the calling thread),
  // or wherever no stsw thread may still run. Engines still referenced are not affected.
  // Throws Error(InvalidArgument) when called on an engine thread (inside a callback).
  static void wait_for_released_engines();

  virtual ~Engine() = default;

  [[nodiscard]] virtual BackendKind backend() const noexcept = 0;
  [[nodiscard]] virtual const EngineOptions& options() const noexcept = 0;
  [[nodiscard]] virtual EngineStats stats() const = 0;

  // Blocks until a staging buffer is free (the pool grows up to max_buffer_count first).
  // Throws Error(NoSpace) at once when the pool is at its cap and no engine operation is
  // in flight (nothing could give a buffer back), Error(Cancelled) on shutdown.
  [[nodiscard]] virtual StagingBuffer acquire_buffer() = 0;
  [[nodiscard]] virtual std::optional<StagingBuffer> try_acquire_buffer() = 0;

  // Writes all of `src` at `offset`. `src` must stay alive and unchanged until done.
  virtual void write(const File& file, std::uint64_t offset, std::span<const std::byte> src,
                     DoneCallback done) = 0;
  // Writes the first `len` bytes of a staging buffer at `offset`; the buffer goes back
  // to the pool once the write completed (or failed).
  virtual void write(const File& file, std::uint64_t offset, StagingBuffer buffer, std::size_t len,
                     DoneCallback done) = 0;
  // Reads exactly dst.size() bytes at `offset`. With want_crc the callback receives the
  // CRC-32 of dst, computed on worker threads as chunks land (else 0).
  virtual void read(const File& file, std::uint64_t offset, std::span<std::byte> dst, bool want_crc,
                    CrcCallback done) = 0;
  // Streams [offset, offset + length) through staging buffers in order of submission;
  // on_chunk runs on worker threads, possibly concurrently and out of order. `done` runs
  // after the last on_chunk returned; an exception thrown by on_chunk fails the scan.
  virtual void scan(const File& file, std::uint64_t offset, std::uint64_t length,
                    ChunkCallback on_chunk, DoneCallback done) = 0;
  // fdatasync (data_only) or fsync.
  virtual void sync(const File& file, bool data_only, DoneCallback done) = 0;
  // Runs `task` on a worker thread; exceptions go to `done`.
  virtual void post(std::function<void()> task, DoneCallback done) = 0;
  // Runs `task` on the engine's blocking-call thread: one thread, tasks in FIFO order, for
  // file-system calls that may block for long (rename, link, ftruncate, fsync of a
  // directory), so that they never hold up the workers that compute CRCs and copies.
  // Exceptions go to `done`, which runs on that thread (or, once the engine is shutting
  // down, with Errc::Cancelled on the caller's or the shutting-down thread, `task` not run).
  virtual void post_blocking(std::function<void()> task, DoneCallback done) = 0;

  // Future forms of the operations above.
  [[nodiscard]] std::future<void> write(const File& file, std::uint64_t offset,
                                        std::span<const std::byte> src);
  [[nodiscard]] std::future<void> write(const File& file, std::uint64_t offset,
                                        StagingBuffer buffer, std::size_t len);
  [[nodiscard]] std::future<std::uint32_t> read(const File& file, std::uint64_t offset,
                                                std::span<std::byte> dst, bool want_crc = false);
  [[nodiscard]] std::future<void> scan(const File& file, std::uint64_t offset, std::uint64_t length,
                                       ChunkCallback on_chunk);
  [[nodiscard]] std::future<void> sync(const File& file, bool data_only = true);
};

// Waits for every future of `pending`, also after one failed, so that no request still
// uses its memory when this returns; then clears `pending` and rethrows the first failure
// (in vector order), if any. Blocks: not for engine callbacks.
void wait_all(std::vector<std::future<void>>& pending);

}  // namespace stsw
