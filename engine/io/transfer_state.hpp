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

namespace stsw::detail::xfer {

// Results in a row without progress (EAGAIN, EINTR, zero-byte writes) before giving up.
inline constexpr unsigned kMaxStalls = 64;

[[nodiscard]] const char* op_name(IoOp op, bool datasync) noexcept;

class Transfer;

class Slot final : public IoRequest, public WorkItem, public BufferWaiter {
 public:
  Transfer* owner = nullptr;
  Piece piece;
  std::uint64_t index = 0;  // piece number
  std::uint32_t got = 0;    // bytes of the piece's window done
  unsigned stalls = 0;      // results in a row without progress
  std::uint32_t crc = 0;
  bool waiting = false;   // queued in the pool for a staging buffer
  bool to_start = false;  // assigned by start(), which submits it after unlocking
  StagingBuffer staging;

  void complete(int res) noexcept override;
  void run() noexcept override;
  void cancel() noexcept override;
  void on_buffer(StagingBuffer buffer) noexcept override;
};

class Transfer final : public WorkItem {
 public:
  Transfer(Core& core, TransferSpec&& spec)
      : core_(core),
        spec_(std::move(spec)),
        plan_(*spec_.file, spec_.offset, spec_.length, spec_.mem, static_cast<bool>(spec_.on_chunk),
              spec_.op == IoOp::Read, core.options().chunk_size) {
    const bool sync = spec_.op == IoOp::Sync;
    end_ = sync ? 1 : plan_.end();
    cursor_ = sync ? 0 : spec_.offset;
    const std::uint64_t pieces = sync ? 1 : plan_.count();
    nslots_ = static_cast<unsigned>(std::min<std::uint64_t>(core.options().queue_depth, pieces));
    slots_ = std::make_unique<Slot[]>(nslots_);
    for (unsigned i = 0; i < nslots_; ++i) slots_[i].owner = this;
    if (spec_.want_crc) parts_.resize(pieces);
    if (spec_.mem != nullptr) mem_index_ = core.pool().index_of(spec_.mem, spec_.length);
    second_stage_ = plan_.staged() || spec_.want_crc;
  }

  void start() noexcept;
  // As a work item: a transfer that completed while start() was still submitting
  // finishes on a worker, so that callbacks never run on the submitting thread.
  void run() noexcept override { finish(); }
  void cancel() noexcept override { finish(); }
  void submit(Slot& s) noexcept;
  void io_result(Slot& s, int res) noexcept;
  void second_stage(Slot& s) noexcept;
  void piece_done(Slot& s, std::exception_ptr err) noexcept;
  void buffer_arrived(Slot& s, StagingBuffer buffer) noexcept;

 private:
  enum class Assign { Assigned, Waiting, Idle };
  struct Part {
    std::uint32_t crc = 0;
    std::uint32_t len = 0;
    bool ready = false;
  };

  Assign assign_locked(Slot& s);
  void fail_locked(std::exception_ptr err) noexcept;
  void cancel_waiters_locked() noexcept;
  [[nodiscard]] bool finishing_locked() noexcept;
  // After a slot was handled under the lock: return a spare buffer, submit, finish.
  // Static: once the lock is released, the transfer may already be gone (another slot
  // finished it) unless this slot was assigned a piece or this thread finishes it.
  static void settle(Slot& s, Assign a, StagingBuffer spare, bool finish) noexcept;
  void finish() noexcept;

  Core& core_;
  TransferSpec spec_;
  Planner plan_;
  std::uint64_t end_ = 0;
  int mem_index_ = -1;
  bool second_stage_ = false;
  unsigned nslots_ = 0;
  std::unique_ptr<Slot[]> slots_;

  std::mutex mu_;
  std::uint64_t cursor_ = 0;
  std::uint64_t next_index_ = 0;
  unsigned active_ = 0;  // slots with a piece or waiting for a buffer, plus start()
  bool finished_ = false;
  std::exception_ptr error_;
  std::vector<Part> parts_;
  std::uint64_t next_part_ = 0;
  std::uint32_t crc_ = 0;
};

}  // namespace stsw::detail::xfer
