// The transfer layer's private state: a Transfer and its request slots (see
// transfer.hpp for the behaviour). transfer.cpp holds issuing and completion handling,
// transfer_stages.cpp the worker stage, piece bookkeeping and finishing.
//
// Locking. A transfer's mutex guards its cursor, counters, error and CRC parts. Nothing
// is submitted, no buffer is released and no callback runs while it is held; the pool's
// lock may be taken inside it (never the other way round).
//
// Lifetime. A transfer deletes itself in finish(), which runs exactly once, when no slot
// is busy. A thread that released the lock without a busy slot and without the duty to
// finish must not touch the transfer again (see settle()).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "io/backend.hpp"
#include "io/buffer_pool.hpp"
#include "io/engine_core.hpp"
#include "io/plan.hpp"
#include "io/transfer.hpp"
#include "io/worker_pool.hpp"
#include "stsw/aligned_buffer.hpp"

namespace stsw::detail::xfer {

// Results in a row without progress (EAGAIN, EINTR, zero-byte writes) before giving up.
inline constexpr unsigned kMaxStalls = 64;

[[nodiscard]] const char* op_name(IoOp op, bool datasync) noexcept;

class Transfer;
class Slot;

// A shifted piece's second request (its last block, into the slot's bounce block), in
// flight beside the slot's own.
class BounceRequest final : public IoRequest {
 public:
  Slot* slot = nullptr;
  void complete(int res) noexcept override;
};

// One request slot. A slot is idle (on the transfer's idle stack), waiting for a
// staging buffer, in I/O, or in the worker stage; at most queue_depth slots are in I/O
// or waiting, so that a slot being checksummed does not cost queue depth.
class Slot final : public IoRequest, public WorkItem, public BufferWaiter {
 public:
  Transfer* owner = nullptr;
  Slot* link = nullptr;  // idle stack, or the list of slots to submit
  Piece piece;
  std::uint64_t index = 0;  // piece number
  std::uint32_t got = 0;    // bytes of the piece's window done (shifted: of its O_DIRECT part)
  unsigned stalls = 0;      // results in a row without progress
  // Shifted pieces: the last block's request and its progress. The piece leaves I/O when
  // the last of its `parts` requests (1 or 2) is over; each request keeps its own failure
  // in part_error (0: the slot's own, 1: the bounce block's).
  BounceRequest tail;
  std::uint32_t tail_got = 0;
  unsigned tail_stalls = 0;
  std::atomic<unsigned> parts{0};
  std::exception_ptr part_error[2];
  std::uint32_t crc = 0;
  bool idle = true;
  bool waiting = false;  // queued in the pool for a staging buffer
  StagingBuffer staging;
  std::byte* bounce = nullptr;  // Shifted reads: the slot's block for a piece's last block

  void complete(int res) noexcept override;
  void run() noexcept override;
  void cancel() noexcept override;
  void on_buffer(StagingBuffer buffer) noexcept override;
};

class Transfer final : public WorkItem {
 public:
  Transfer(Core& core, TransferSpec&& spec);

  void start() noexcept;
  // As a work item: a transfer that completed while start() was still submitting
  // finishes on a worker, so that callbacks never run on the submitting thread.
  void run() noexcept override { finish(); }
  void cancel() noexcept override { finish(); }

  // Submits the slot's piece: one request, two for a shifted piece.
  void submit(Slot& s) noexcept;
  // A result of the slot's own request, or of its bounce request (`tail`): resubmits the
  // rest, or hands the request's outcome to part_over().
  void io_result(Slot& s, bool tail, int res) noexcept;
  void second_stage(Slot& s) noexcept;
  // The slot's piece is over (from_io: it never reached the worker stage).
  void piece_done(Slot& s, std::exception_ptr err, bool from_io) noexcept;
  void buffer_arrived(Slot& s, StagingBuffer buffer) noexcept;

 private:
  struct Part {
    std::uint32_t crc = 0;
    std::uint32_t len = 0;
    bool ready = false;
  };

  // Hands pieces to idle slots while fewer than queue_depth are in I/O; returns the
  // slots to submit once the lock is released (linked through Slot::link).
  // Sets up the slot's own request (or its bounce request) for what is left of it.
  void fill(Slot& s, bool tail) noexcept;
  void issue(IoRequest& r) noexcept;
  // One request of the piece is over; the last one moves the piece on.
  void part_over(Slot& s, bool tail, std::exception_ptr err) noexcept;
  [[nodiscard]] Slot* pump_locked();
  void assign_locked(Slot& s);
  void make_idle_locked(Slot& s) noexcept;
  void fail_locked(std::exception_ptr err) noexcept;
  void cancel_waiters_locked() noexcept;
  [[nodiscard]] bool finishing_locked() noexcept;
  [[nodiscard]] bool more_locked() const noexcept { return !error_ && cursor_ < end_; }
  // After the lock is released: return a spare buffer (which `holder` counted in
  // active_, so it cannot finish before the buffer is back), submit `list`, finish when
  // `finisher` is set or the release made `holder` finish. Static: unless a slot of
  // `list` is still to be submitted, a spare is held, or this thread is the finisher,
  // the transfer may already be gone (another thread finished it).
  static void settle(Slot* list, StagingBuffer spare, Transfer* finisher,
                     Transfer* holder = nullptr) noexcept;
  void finish() noexcept;

  Core& core_;
  TransferSpec spec_;
  Planner plan_;
  std::uint64_t end_ = 0;
  int mem_index_ = -1;
  bool second_stage_ = false;
  unsigned queue_depth_ = 0;
  unsigned nslots_ = 0;
  std::unique_ptr<Slot[]> slots_;
  AlignedBuffer bounce_;  // Shifted reads: one block per slot

  std::mutex mu_;
  std::uint64_t cursor_ = 0;
  std::uint64_t next_index_ = 0;
  Slot* idle_ = nullptr;
  unsigned in_io_ = 0;   // slots in I/O or waiting for a buffer (at most queue_depth_)
  unsigned active_ = 0;  // slots that are not idle, plus start() while it submits
  bool finished_ = false;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};  // error_ is set (read without the lock)
  std::vector<Part> parts_;
  std::uint64_t next_part_ = 0;
  std::uint32_t crc_ = 0;
};

}  // namespace stsw::detail::xfer
