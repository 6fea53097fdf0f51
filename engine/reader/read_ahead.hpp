// Read-ahead for loaders that read tensors one after another in file order with only
// one or two read_into calls outstanding (issue 21).
//
// Why. Such a loader leaves the device idle between calls: while a tensor's last chunk is
// copied and checksummed, its future becomes ready and the caller asks for the next
// tensor, nothing is read. Runs of tiny tensors (norms, biases) cost a device round trip
// each. When a read_into that the engine copies into place (O_DIRECT into a destination
// not congruent to the file offset: staged or shifted, io/plan.hpp) that followed the
// previous call in file order completes, and the calls made after it span less than a
// chunk (a loader about to ask for what follows), the reader starts reading the next
// window of the file (one chunk from the latest call's end, the tensor's end for a loader
// with one call outstanding) into a staging buffer of the engine's pool, before the
// caller hears of the completion. Started then rather than at the call, the window takes
// no queue depth from the call's own transfer. The read_into calls whose first bytes lie
// in the window take them from it (copy + CRC on an engine worker) and read only the rest
// through the engine; the CRCs are joined with crc32_combine.
//
// Bounds. One window per shard is current; a window is started only when at least two
// of the engine's registered buffers are free (read-ahead never grows the pool nor waits
// for a buffer), and a replaced window keeps its buffer only until its read is over and
// the calls that take bytes from it have copied them. The current window is dropped when
// the next one replaces it, when a call comes out of order, or when the shard goes (the
// reader and its last pending operation end); until then an unclaimed window holds its
// buffer. A window's read holds the window alive by itself, so a reader destroyed with
// read-ahead in flight returns the buffer when that read completes (or is cancelled by
// the engine's shutdown).
//
// Freshness. A window is used only when the file's size, mtime and ctime (fstat) are
// what they were when the window was started: a file rewritten in the meantime is read
// again, as the reader's contract promises ("seen as it is now"). The check is as fine
// as the file system's timestamps (a rewrite within the same timestamp tick goes
// unnoticed; the stored CRC catches it when there is one).
//
// Errors. A window's read is speculative: when it fails (an I/O error, or a file
// truncated somewhere in the window), each read_into that wanted bytes from it reads
// them again itself, so only a lasting fault in its own bytes fails it, with the
// engine's error ("read <file> at offset <n>: ...") annotated with the tensor's name like
// any other read error. A window nobody claims fails nobody.
//
// Lifetime. The current window belongs to the shard (held by the reader, which holds its
// engine, and by pending operations, which the engine finishes before it goes), so its
// staging buffer never outlives the engine's pool.
//
// Thread safety: all members are thread-safe.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw::detail {

struct FileStamp {
  std::int64_t size = -1;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// The stamp of an open descriptor; size -1 when fstat fails (never equal to a real one).
[[nodiscard]] FileStamp stamp_of(int fd) noexcept;

// One window: file bytes [begin, end) read into a staging buffer.
class ReadWindow {
 public:
  ReadWindow(std::uint64_t begin, std::uint64_t end, StagingBuffer buffer, FileStamp stamp)
      : begin_(begin), end_(end), buffer_(std::move(buffer)), stamp_(stamp) {}

  [[nodiscard]] std::uint64_t begin() const noexcept { return begin_; }
  [[nodiscard]] std::uint64_t end() const noexcept { return end_; }
  [[nodiscard]] const FileStamp& stamp() const noexcept { return stamp_; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept {
    return buffer_.data().first(static_cast<std::size_t>(end_ - begin_));
  }

  // Runs `fn(error)` once the window's read is over: at once on this thread when it is
  // over already, else on the engine thread that completes the read. `fn` must only
  // start work (post or submit), never do it: it may run on the engine's completion
  // thread, under no lock.
  void when_ready(std::function<void(std::exception_ptr)> fn);
  // The window's read completed (error: it failed).
  void finish(const std::exception_ptr& error) noexcept;

 private:
  const std::uint64_t begin_;
  const std::uint64_t end_;
  StagingBuffer buffer_;
  const FileStamp stamp_;
  std::mutex mu_;
  bool done_ = false;
  std::exception_ptr error_;
  std::vector<std::function<void(std::exception_ptr)>> waiters_;
};

class ReadAhead {
 public:
  // Called when a copied (staged or shifted) read_into of file bytes [begin, end) starts
  // (chunk: the engine's chunk_size). Returns the current window when it holds the byte
  // at `begin` and the file is unchanged since it was started (null: read it all as
  // usual); notes whether the call follows the previous one in file order, and drops the
  // window when it does not.
  [[nodiscard]] std::shared_ptr<ReadWindow> on_read(std::uint64_t chunk, int stamp_fd,
                                                    std::uint64_t begin, std::uint64_t end);
  // Called when that read (ending at `end`) succeeded, before its caller hears of it.
  // When the calls run in file order and the calls made after it span less than a
  // chunk (a loader about to ask for what follows), starts the window of one chunk_size
  // from the latest call's end (rounded down to the file's alignment) up to `data_end`
  // on `file`. Started at completion rather than at the call, the window takes no queue
  // depth from the call's own transfer.
  // `owner` keeps `file` open until the window's read is over (the reader may go first).
  void on_done(Engine& engine, const File& file, std::shared_ptr<const void> owner, int stamp_fd,
               std::uint64_t end, std::uint64_t data_end);

  // Windows started so far (tests).
  [[nodiscard]] std::uint64_t started() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t last_end_ = 0;
  bool have_last_ = false;
  bool in_order_ = false;               // the latest call followed the one before in file order
  std::shared_ptr<ReadWindow> window_;  // the latest window
  std::uint64_t started_ = 0;
};

}  // namespace stsw::detail
