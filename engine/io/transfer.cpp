#include "io/transfer.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "io/buffer_pool.hpp"
#include "io/engine_core.hpp"
#include "io/logging.hpp"
#include "io/plan.hpp"
#include "io/sys.hpp"
#include "io/worker_pool.hpp"
#include "stsw/crc32.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(STSW_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace stsw::detail {

namespace {

constexpr unsigned kMaxStalls = 64;

const char* op_name(IoOp op, bool datasync) noexcept {
  switch (op) {
    case IoOp::Read: return "read";
    case IoOp::Write: return "write";
    case IoOp::Sync: return datasync ? "fdatasync" : "fsync";
  }
  return "?";
}

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Under ASan, memory handed to the kernel must be live: a poisoned range here is a
// buffer used after it went back to the pool (or after it was freed).
void check_live(const void* p, std::size_t len) noexcept {
#if defined(__SANITIZE_ADDRESS__) || defined(STSW_ASAN)
  if (len != 0 && __asan_region_is_poisoned(const_cast<void*>(p), len) != nullptr) {
    logger().critical("I/O submitted on memory that is not live ({} bytes at {})", len, p);
    std::abort();
  }
#else
  (void)p;
  (void)len;
#endif
}

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
  void settle(Slot& s, Assign a, StagingBuffer spare, bool finish) noexcept;
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

void Slot::complete(int res) noexcept { owner->io_result(*this, res); }
void Slot::run() noexcept { owner->second_stage(*this); }
void Slot::cancel() noexcept {
  owner->piece_done(*this, std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
}
void Slot::on_buffer(StagingBuffer buffer) noexcept {
  owner->buffer_arrived(*this, std::move(buffer));
}

void Transfer::start() noexcept {
  {
    std::lock_guard lock(mu_);
    ++active_;  // start() itself, so that early completions cannot finish the transfer
    for (unsigned i = 0; i < nslots_; ++i) {
      const Assign a = assign_locked(slots_[i]);
      if (a == Assign::Idle) break;
      slots_[i].to_start = a == Assign::Assigned;
    }
  }
  for (unsigned i = 0; i < nslots_; ++i) {
    if (slots_[i].to_start) {
      slots_[i].to_start = false;
      submit(slots_[i]);
    }
  }
  bool fin = false;
  {
    std::lock_guard lock(mu_);
    --active_;
    fin = finishing_locked();
  }
  if (fin) core_.workers().push(this);
}

Transfer::Assign Transfer::assign_locked(Slot& s) {
  if (error_ || cursor_ >= end_) return Assign::Idle;
  if (core_.stopping()) {
    fail_locked(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
    return Assign::Idle;
  }
  if (plan_.staged() && !s.staging) {
    switch (core_.pool().acquire_or_wait(&s, s.staging)) {
      case BufferPool::Wait::Got: break;
      case BufferPool::Wait::Queued:
        s.waiting = true;
        ++active_;
        return Assign::Waiting;
      case BufferPool::Wait::Closed:
        fail_locked(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
        return Assign::Idle;
    }
  }
  if (spec_.op == IoOp::Sync) {
    s.piece = Piece{};
    cursor_ = end_;
  } else {
    s.piece = plan_.at(cursor_);
    cursor_ = s.piece.data_off + s.piece.data_len;
  }
  s.index = next_index_++;
  s.got = 0;
  s.stalls = 0;
  ++active_;
  if (cursor_ >= end_) cancel_waiters_locked();
  return Assign::Assigned;
}

void Transfer::fail_locked(std::exception_ptr err) noexcept {
  if (!error_) error_ = std::move(err);
  cancel_waiters_locked();
}

void Transfer::cancel_waiters_locked() noexcept {
  for (unsigned i = 0; i < nslots_; ++i) {
    Slot& s = slots_[i];
    // When cancel_wait fails, on_buffer is already on its way and settles the slot.
    if (s.waiting && core_.pool().cancel_wait(&s)) {
      s.waiting = false;
      --active_;
    }
  }
}

bool Transfer::finishing_locked() noexcept {
  if (finished_ || active_ != 0 || (!error_ && cursor_ < end_)) return false;
  finished_ = true;
  return true;
}

void Transfer::submit(Slot& s) noexcept {
  const Piece& p = s.piece;
  const File& f = *spec_.file;
  s.op = spec_.op;
  s.offset = p.io_off + s.got;
  s.len = p.io_len - s.got;
  s.datasync = spec_.datasync;
  if (plan_.staged()) {
    s.buf = s.staging.data().data() + s.got;
    s.buf_index = s.staging.index();
  } else {
    s.buf = spec_.mem == nullptr ? nullptr : spec_.mem + (p.io_off - spec_.offset) + s.got;
    s.buf_index = mem_index_;
  }
  const std::uint32_t a = f.alignment();
  const bool direct = p.direct && s.offset % a == 0 && s.len % a == 0 && aligned(s.buf, a);
  s.fd = (direct || spec_.op == IoOp::Sync) ? f.fd() : f.buffered_fd();
  s.rw_flags = (!f.direct() && f.dontcache()) ? RWF_DONTCACHE : 0;
  check_live(s.buf, s.len);
  auto& c = core_.counters();
  c.requests_submitted.fetch_add(1, std::memory_order_relaxed);
  c.bytes_submitted.fetch_add(s.len, std::memory_order_relaxed);
  c.in_flight.fetch_add(1, std::memory_order_relaxed);
  logger().trace("submit {} {} fd {} offset {} len {}{}", op_name(s.op, s.datasync), f.path(), s.fd,
                 s.offset, s.len, s.buf_index >= 0 ? " (fixed buffer)" : "");
  core_.backend().submit(&s);
}

void Transfer::io_result(Slot& s, int res) noexcept {
  auto& c = core_.counters();
  c.requests_completed.fetch_add(1, std::memory_order_relaxed);
  c.in_flight.fetch_sub(1, std::memory_order_relaxed);
  logger().trace("complete {} {} offset {} len {}: {}", op_name(s.op, s.datasync),
                 spec_.file->path(), s.offset, s.len, res);
  if (res < 0) {
    const int err = -res;
    if ((err == EAGAIN || err == EINTR) && ++s.stalls <= kMaxStalls) {
      c.requests_retried.fetch_add(1, std::memory_order_relaxed);
      submit(s);
      return;
    }
    if ((err == EOPNOTSUPP || err == EINVAL) && (s.rw_flags & RWF_DONTCACHE) != 0) {
      spec_.file->disable_dontcache();
      c.requests_retried.fetch_add(1, std::memory_order_relaxed);
      submit(s);
      return;
    }
    piece_done(
        s, std::make_exception_ptr(io_error(res, s.op, s.datasync, spec_.file->path(), s.offset)));
    return;
  }
  c.bytes_completed.fetch_add(static_cast<std::uint64_t>(res), std::memory_order_relaxed);
  s.got += static_cast<std::uint32_t>(res);
  const Piece& p = s.piece;
  const std::uint64_t need =
      s.op == IoOp::Read ? p.data_off + p.data_len - p.io_off : std::uint64_t{p.io_len};
  if (s.got >= need) {
    if (second_stage_) {
      core_.workers().push(&s);
    } else {
      piece_done(s, nullptr);
    }
    return;
  }
  if (res == 0) {
    if (s.op == IoOp::Read) {
      piece_done(s, std::make_exception_ptr(Error(
                        Errc::Io, "read " + spec_.file->path() + " at offset " +
                                      std::to_string(s.offset) + ": unexpected end of file (" +
                                      std::to_string(need - s.got) + " more bytes expected)")));
      return;
    }
    if (++s.stalls > kMaxStalls) {
      piece_done(s, std::make_exception_ptr(
                        io_error(-EIO, s.op, s.datasync, spec_.file->path(), s.offset)));
      return;
    }
  } else {
    s.stalls = 0;
  }
  c.requests_retried.fetch_add(1, std::memory_order_relaxed);
  submit(s);
}

void Transfer::second_stage(Slot& s) noexcept {
  const Piece& p = s.piece;
  std::exception_ptr err;
  auto& c = core_.counters();
  if (spec_.on_chunk) {
    const std::span<const std::byte> data(s.staging.data().data() + (p.data_off - p.io_off),
                                          p.data_len);
    const std::uint64_t t0 = now_ns();
    try {
      spec_.on_chunk(p.data_off, data);
    } catch (...) {
      err = std::current_exception();
    }
    c.callback_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
  } else {
    std::byte* dst = spec_.mem + (p.data_off - spec_.offset);
    if (plan_.staged()) {
      std::memcpy(dst, s.staging.data().data() + (p.data_off - p.io_off), p.data_len);
    }
    if (spec_.want_crc) {
      const std::uint64_t t0 = now_ns();
      s.crc = crc32(std::span<const std::byte>(dst, p.data_len));
      c.crc_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
    }
  }
  piece_done(s, std::move(err));
}

void Transfer::piece_done(Slot& s, std::exception_ptr err) noexcept {
  StagingBuffer spare;
  Assign a = Assign::Idle;
  bool fin = false;
  {
    std::lock_guard lock(mu_);
    --active_;
    if (err) {
      fail_locked(std::move(err));
    } else if (spec_.want_crc) {
      parts_[s.index] = Part{s.crc, s.piece.data_len, true};
      while (next_part_ < parts_.size() && parts_[next_part_].ready) {
        crc_ = crc32_combine(crc_, parts_[next_part_].crc, parts_[next_part_].len);
        ++next_part_;
      }
    }
    a = assign_locked(s);
    if (a == Assign::Idle) spare = std::move(s.staging);
    fin = finishing_locked();
  }
  settle(s, a, std::move(spare), fin);
}

void Transfer::buffer_arrived(Slot& s, StagingBuffer buffer) noexcept {
  StagingBuffer spare;
  Assign a = Assign::Idle;
  bool fin = false;
  {
    std::lock_guard lock(mu_);
    s.waiting = false;
    --active_;
    if (buffer) {
      s.staging = std::move(buffer);
    } else {
      fail_locked(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
    }
    a = assign_locked(s);
    if (a == Assign::Idle) spare = std::move(s.staging);
    fin = finishing_locked();
  }
  settle(s, a, std::move(spare), fin);
}

void Transfer::settle(Slot& s, Assign a, StagingBuffer spare, bool finish_now) noexcept {
  spare.reset();
  if (a == Assign::Assigned) submit(s);
  if (finish_now) finish();
}

void Transfer::finish() noexcept {
  // Every slot is idle: no request, work item or buffer wait refers to this any more.
  for (unsigned i = 0; i < nslots_; ++i) slots_[i].staging.reset();
  spec_.owned.reset();
  std::exception_ptr err = error_;
  const std::uint32_t crc = spec_.want_crc ? crc_ : 0;
  DoneCallback done = std::move(spec_.done);
  CrcCallback crc_done = std::move(spec_.crc_done);
  Core& core = core_;
  delete this;
  try {
    if (crc_done) crc_done(err, err ? 0 : crc);
    if (done) done(err);
  } catch (const std::exception& e) {
    logger().error("an engine completion callback threw: {}", e.what());
  } catch (...) {
    logger().error("an engine completion callback threw");
  }
  core.end_op();
  // The callbacks die here, after end_op(): one of them may hold the engine's last
  // reference, and destroying the engine waits for end_op().
}

}  // namespace

Error io_error(int res, IoOp op, bool datasync, const std::string& path, std::uint64_t offset) {
  return errno_error(-res, std::string(op_name(op, datasync)) + " " + path + " at offset " +
                               std::to_string(offset));
}

void run_transfer(Core& core, TransferSpec spec) noexcept {
  auto fail = [&spec](std::exception_ptr err) {
    spec.owned.reset();
    try {
      if (spec.crc_done) spec.crc_done(err, 0);
      if (spec.done) spec.done(err);
    } catch (...) {
      logger().error("an engine completion callback threw");
    }
  };
  const File* f = spec.file;
  if (f == nullptr || !f->is_open()) {
    fail(std::make_exception_ptr(Error(Errc::InvalidArgument, "file is not open")));
    return;
  }
  if (spec.offset + spec.length < spec.offset) {
    fail(std::make_exception_ptr(Error(
        Errc::InvalidArgument, f->path() + ": offset " + std::to_string(spec.offset) +
                                   " + length " + std::to_string(spec.length) + " overflows")));
    return;
  }
  if (spec.op != IoOp::Sync && spec.length == 0) {
    fail(nullptr);
    return;
  }
  if (!core.begin_op()) {
    fail(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
    return;
  }
  Transfer* t = nullptr;
  try {
    t = new Transfer(core, std::move(spec));
  } catch (...) {
    fail(std::current_exception());
    core.end_op();
    return;
  }
  t->start();
}

}  // namespace stsw::detail
