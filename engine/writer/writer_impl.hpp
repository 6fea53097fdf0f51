// The StreamWriter pipeline (private).
//
// Staging. The final file is cut into aligned ranges [k*C, (k+1)*C) of the writer's chunk
// size C; a Slot is one staging buffer covering one range. The first slots receive the
// header (encoded with room for the CRCs), then tensor bytes follow in order. Bytes are
// reserved in the current slot under call_mu_ (caller side); the copy and the piece's
// CRC-32 run on an engine worker (large pieces) or inline (small ones). A slot is written
// with Engine::write once it is full (or the last one) and every copy into it finished.
//
// Locks. call_mu_ serializes the API calls and guards the caller-side cursor (tensor,
// slot fill); it may be held while waiting for a buffer. mu_ guards what completions touch
// (pending counts, CRCs, errors, phase) and is never held across an engine call, because an
// engine may run a callback on the submitting thread.
//
// Lifetime. Callbacks capture `this`; ops_ counts every copy, write and close step in
// flight, and the destructor waits for it to reach zero. User callbacks run after a
// completion released everything it held.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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

namespace stsw {

class StreamWriter::Impl {
 public:
  Impl(const std::string& path, const std::vector<TensorMeta>& metas, const WriterOptions& options);
  ~Impl();

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

  // --- caller side (call_mu_ held) ---
  void check_usable(std::string_view what) const;  // throws InvalidState / the I/O error
  std::size_t resolve(std::string_view name);      // the tensor `name`, implicit finalize
  Slot& current_slot();                            // acquires a buffer when needed
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
  void write_done(std::uint64_t offset, std::size_t length, std::exception_ptr error);
  void fail(std::exception_ptr error);  // records the first error (mu_ held)
  // ops_-- (mu_ held); true when the caller must run finish() after unlocking.
  bool release_op();
  std::exception_ptr wrap_error(const std::exception_ptr& error, const std::string& what) const;
  void on_worker(void (Impl::*step)());  // runs a close step on a worker thread
  void finish();                         // the close sequence: header, sync, commit
  void finish_header();
  void finish_truncate_sync();
  void finish_commit();
  void close_failed(std::exception_ptr error);
  void close_succeeded();

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
};

}  // namespace stsw
