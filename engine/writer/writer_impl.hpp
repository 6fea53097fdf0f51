// The StreamWriter pipeline (private).
//
// Staging. The final file is cut into aligned ranges [k*C, (k+1)*C) of the writer's chunk
// size C; a Slot is one staging buffer covering one range. The first slots receive the
// header (encoded with room for the CRCs), then tensor bytes follow in order. Bytes are
// reserved in the current slot under call_mu_ (caller side); the copy and the piece's
// CRC-32 run on an engine worker (large pieces) or inline (small ones). A slot is written
// with Engine::write once it is full (or the last one) and every copy into it finished.
// write_block does not wait for a slot: what finds no buffer waits in backlog_ and is staged
// in order by the next pump (write_block.cpp), from write_done or from a later call.
//
// Locks. call_mu_ serializes the API calls and guards the caller-side cursor (tensor,
// slot fill, backlog_); it may be held while waiting for a buffer (window, close, write_at),
// and is taken through CallLock, whose release runs a pump that found it taken. mu_ guards what
// completions touch (pending counts, CRCs, errors, phase) and is never held across an engine call,
// because an engine may run a callback on the submitting thread.
//
// Lifetime. Callbacks capture `this`; ops_ counts every copy, write and the close sequence
// in flight (begin: under mu_ before the engine call; end: release_op()). abort() and so the
// destructor wait for it to reach zero; the close sequence starts when it does. A writer
// destroyed while its close is pending is not waited for: release() hands the Impl to the
// close sequence (orphan_), which deletes it once the close completed. User callbacks run
// after a completion released everything it held.
//
// The close sequence (writer_close.cpp) is the CloseStep list below, run one step at a time;
// the blocking file-system calls run on the engine's blocking-call thread
// (Engine::post_blocking), never on the workers that compute CRCs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stsw/writer.hpp"
#include "writer/crc_assembler.hpp"
#include "writer/target_file.hpp"
#include "writer/write_request.hpp"

namespace stsw {

class StreamWriter::Impl {
 public:
  Impl(const std::string& path, const std::vector<TensorMeta>& metas, const WriterOptions& options);
  ~Impl();  // abort(): waits for the writes in flight

  // ~StreamWriter: destroys `self` (aborting it), or, while its close is pending, leaves it
  // to the close sequence, which deletes it once complete. Never blocks for a pending close.
  static void release(std::unique_ptr<Impl> self) noexcept;

  void write_block(std::string_view name, std::span<const std::byte> data, DoneCallback done);
  void write_at(std::string_view name, std::uint64_t offset, std::span<const std::byte> data,
                DoneCallback done);
  std::span<std::byte> window(std::string_view name, std::size_t max_bytes);
  void commit_window(std::size_t bytes);
  void finalize_tensor(std::string_view name);
  void close(DoneCallback done);
  void abort() noexcept;

  WriterStats stats() const;
  const std::string& path() const noexcept { return path_; }
  std::vector<TensorMeta> tensors() const;
  std::optional<std::uint32_t> tensor_crc32(std::string_view name) const;
  std::uint64_t header_size() const noexcept { return header_size_; }
  IoMode io_mode() const noexcept { return io_mode_; }

 private:
  struct Slot {
    StagingBuffer buffer;
    std::uint64_t base = 0;  // file offset of buffer byte 0
    std::size_t fill = 0;    // bytes reserved (call_mu_)
    unsigned pending = 0;    // copies / CRCs still running into it (mu_)
    bool sealed = false;     // no more bytes will come (mu_)
    // write_at: the byte runs [offset, offset + length) of the buffer that hold data
    // (call_mu_), and whether the slot holds only part of its chunk (set when sealed):
    // then each run is written on its own instead of the whole chunk.
    std::vector<std::pair<std::size_t, std::size_t>> runs;
    bool partial = false;
  };
  using SlotPtr = std::shared_ptr<Slot>;
  enum class Phase { Open, Closing, Closed, Failed, Aborted };
  // The close sequence, in order. next_step() skips the steps that do not apply.
  enum class CloseStep {
    Drain,        // wait until every copy, CRC and write in flight completed (ops_ == 0)
    Header,       // worker: encode the header with the assembled CRCs        (crc32 on)
    WriteHeader,  // engine: rewrite the header's blocks at offset 0           (crc32 on)
    Truncate,     // blocking thread: cut the O_DIRECT padding of the last block
    SyncFile,     // engine: fdatasync the file                                (durable)
    Publish,      // blocking thread: link and rename the file over `path`
    SyncDir,      // blocking thread: fsync the directory                      (durable)
    Done,         // the close succeeded
  };

  // --- caller side (call_mu_ held) ---
  void check_usable(std::string_view what) const;  // throws InvalidState / the I/O error
  std::size_t resolve(std::string_view name);      // the tensor `name`, implicit finalize
  Slot& current_slot();                            // acquires a buffer, blocking when needed
  // --- write_block's backlog (write_block.cpp) ---
  struct Queued {
    std::span<const std::byte> data;  // the caller's bytes not staged yet
    std::shared_ptr<writer::Request> request;
  };
  using Finished = std::vector<std::pair<std::shared_ptr<writer::Request>, std::exception_ptr>>;
  // Slot: slot_ is set. Later: every buffer of this writer is in flight (a write_done
  // pumps). Block: only a blocking acquisition from the shared pool can give one.
  enum class Got { Slot, Later, Block };
  Got next_slot(bool may_block);
  // Stages queued bytes in order while buffers allow; requests done go to `finished` (run
  // them after releasing call_mu_). False: stopped at Block without may_block.
  bool stage_backlog(bool may_block, Finished& finished);
  void drain_backlog(Finished& finished);  // stages all of it (blocking)
  static void finish_all(Finished& finished) noexcept;
  // Stages the backlog from any thread, if call_mu_ is free; else its holder does it when it
  // releases call_mu_ (CallLock). Never blocks unless may_block.
  void pump(bool may_block) noexcept;
  // call_mu_ for one API call; releasing it runs a pump that found call_mu_ taken.
  class CallLock {
   public:
    explicit CallLock(Impl& w) : w_(w), lock_(w.call_mu_) {}
    CallLock(const CallLock&) = delete;
    CallLock& operator=(const CallLock&) = delete;
    ~CallLock() { unlock(); }
    void unlock() noexcept {
      if (!lock_.owns_lock()) return;
      lock_.unlock();
      if (w_.pump_wanted_.load()) w_.pump(false);
    }

   private:
    Impl& w_;
    std::unique_lock<std::mutex> lock_;
  };
  // A buffer from the engine for the chunk at file `offset`, held_buffers_ already counted
  // for it (given back when the engine throws; the error then names the file).
  StagingBuffer acquire_counted(std::uint64_t offset);
  void stage_header();
  void stage_inline(Slot& slot, std::size_t at, std::span<const std::byte> src,
                    std::uint64_t data_offset, bool copy);
  void seal_current();  // seal the current slot (write_at: every open slot) and forget it
  // --- write_at (write_at.cpp; call_mu_ held) ---
  void enter_random(std::string_view what);        // switches to write_at staging, or throws
  void check_stream(std::string_view what) const;  // throws InvalidState after write_at
  Slot& random_slot(std::uint64_t chunk);          // the open slot of a chunk (evicts, waits)
  void seal_random(std::uint64_t chunk);           // seals an open slot (whole or partial)
  void evict_one();                                // seals the fullest open slot as partial
  [[nodiscard]] std::uint64_t chunk_bytes(std::uint64_t chunk) const noexcept;
  void check_gaps() const;         // LengthMismatch naming the first gap
  void submit_runs(SlotPtr slot);  // mu_ not held: writes a partial slot's runs
  bool all_complete();             // advances past complete tensors; true when none is missing

  // --- completions (take mu_) ---
  void seal(const SlotPtr& slot);  // submits it when nothing is pending
  void piece_done(const SlotPtr& slot, std::uint64_t data_offset, std::uint64_t length,
                  std::uint32_t crc);
  void submit(SlotPtr slot);  // mu_ not held
  // Copies the bytes [at, at + length) of the slot that fall in the header's blocks into
  // prefix_ (rewritten with the CRCs at close).
  void keep_prefix(const Slot& slot, std::size_t at, std::size_t length);
  // ops_ += writes before a slot's writes are submitted; false (the buffer released) when
  // the writer failed or was aborted and nothing is to be written.
  [[nodiscard]] bool begin_writes(Slot& slot, unsigned writes);
  // A write completed; `buffer_back`: it was the slot's last, its buffer went back.
  void write_done(std::uint64_t offset, std::size_t length, std::exception_ptr error,
                  bool buffer_back);
  void fail(std::exception_ptr error);  // records the first error (mu_ held)
  // ops_-- (mu_ held); true when the caller must run finish() after unlocking.
  bool release_op();
  std::exception_ptr wrap_error(const std::exception_ptr& error, const std::string& what) const;
  // Copies `src` to `dst` (when `copy`; else `src` is already there) and computes its CRC-32
  // on an engine worker; the slot is not written before. `request` (may be null) is
  // finished with the result.
  void stage_on_worker(const SlotPtr& slot, std::byte* dst, std::span<const std::byte> src,
                       bool copy, std::uint64_t data_offset,
                       const std::shared_ptr<writer::Request>& request);
  // --- the close sequence (writer_close.cpp) ---
  void finish();  // Drain is over: runs the first step after it
  [[nodiscard]] CloseStep next_step(CloseStep after) const noexcept;
  void run_step(CloseStep step);
  // The completion of `step`'s operation: the next step, or close_completed(error); `what` names
  // the operation in the error (nullptr: the error already names it).
  DoneCallback after_step(CloseStep step, const char* what);
  void encode_final_header();
  void throw_if_cancelled() const;  // the writer's error, or Cancelled after abort()
  static void dispose(std::unique_ptr<Impl> orphan) noexcept;  // deletes it off this thread
  void close_completed(std::exception_ptr error);              // null: success

  // Immutable after construction.
  std::string path_;
  WriterOptions options_;
  std::shared_ptr<Engine> engine_;
  std::vector<TensorMeta> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::uint64_t header_size_ = 0;  // N
  std::uint64_t data_offset_ = 0;  // 8 + N
  std::uint64_t file_size_ = 0;
  std::size_t chunk_ = 0;
  unsigned max_buffers_ = 0;
  std::uint32_t io_align_ = 1;  // padding of the last write (O_DIRECT block size)
  IoMode io_mode_ = IoMode::Buffered;
  std::uint64_t prefix_size_ = 0;  // bytes [0, prefix_size_) rewritten at close (crc on)
  std::unique_ptr<std::byte, void (*)(void*)> prefix_{nullptr, nullptr};
  std::string header_;  // the staged header: 8 + N bytes
  std::chrono::steady_clock::time_point start_;
  writer::TargetFile target_;

  // Caller side, under call_mu_.
  std::mutex call_mu_;
  std::size_t cur_ = 0;            // current tensor
  std::uint64_t cur_written_ = 0;  // bytes staged into it
  std::uint64_t stream_pos_ = 0;   // next file offset to stage
  SlotPtr slot_;                   // current slot
  bool window_open_ = false;
  std::size_t window_size_ = 0;
  // write_at staging (write_at.cpp): a writer stages through write_block/window or
  // through write_at, never both.
  bool streamed_ = false;                            // write_block / window staged tensor bytes
  bool random_ = false;                              // write_at was used
  std::map<std::uint64_t, std::uint64_t> written_;   // data-region [begin -> end)
  std::unordered_map<std::uint64_t, SlotPtr> open_;  // chunk -> slot being filled
  std::unordered_map<std::uint64_t, std::uint64_t> chunk_cov_;  // chunk -> bytes staged
  std::deque<Queued> backlog_;  // write_block bytes accepted, not staged yet (in order)
  std::atomic<bool> backlog_waiting_{false};  // !backlog_.empty(), readable without call_mu_
  std::atomic<bool> pump_wanted_{false};      // a pump found call_mu_ taken

  // Completion side, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::Open;
  unsigned held_buffers_ = 0;
  unsigned ops_ = 0;
  bool finishing_ = false;
  std::exception_ptr error_;
  writer::CrcAssembler crcs_;
  std::uint64_t bytes_staged_ = 0;
  std::uint64_t bytes_written_ = 0;
  DoneCallback close_done_;
  std::unique_ptr<Impl> orphan_;  // this writer, when its StreamWriter died during the close
};

}  // namespace stsw
