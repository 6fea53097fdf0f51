#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

#include "core/logging.hpp"
#include "io/engine_core.hpp"
#include "io/sys.hpp"
#include "io/transfer.hpp"
#include "io/transfer_state.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(STSW_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace stsw::detail {

namespace xfer {

namespace {

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

}  // namespace

const char* op_name(IoOp op, bool datasync) noexcept {
  switch (op) {
    case IoOp::Read: return "read";
    case IoOp::Write: return "write";
    case IoOp::Sync: return datasync ? "fdatasync" : "fsync";
  }
  return "?";
}

Transfer::Transfer(Core& core, TransferSpec&& spec)
    : core_(core),
      spec_(std::move(spec)),
      plan_(*spec_.file, spec_.offset, spec_.length, spec_.mem, static_cast<bool>(spec_.on_chunk),
            spec_.op == IoOp::Read, core.options().chunk_size) {
  const bool sync = spec_.op == IoOp::Sync;
  end_ = sync ? 1 : plan_.end();
  cursor_ = sync ? 0 : spec_.offset;
  const std::uint64_t pieces = sync ? 1 : plan_.count();
  second_stage_ = plan_.copies() || spec_.want_crc;
  queue_depth_ = core.options().queue_depth;
  // Slots in the worker stage do not count against the queue depth: twice as many slots
  // keep queue_depth requests in flight while as many chunks are being checksummed.
  const std::uint64_t wanted = second_stage_ ? 2 * std::uint64_t{queue_depth_} : queue_depth_;
  nslots_ = static_cast<unsigned>(std::min(wanted, pieces));
  slots_ = std::make_unique<Slot[]>(nslots_);
  for (unsigned i = nslots_; i-- > 0;) {
    slots_[i].owner = this;
    slots_[i].tail.slot = &slots_[i];
    slots_[i].link = idle_;
    idle_ = &slots_[i];
  }
  if (plan_.shifted()) {
    // Mapped once per transfer, outside the staging pool: a block per slot. Mapped, not
    // from the heap: a read of every tensor at once has hundreds of transfers alive, and
    // their blocks freed back to the heap stayed in the process's RSS.
    const std::size_t a = plan_.alignment();
    bounce_ = AlignedBuffer(nslots_ * a, a);
    for (unsigned i = 0; i < nslots_; ++i) slots_[i].bounce = bounce_.data() + i * a;
  }
  if (spec_.want_crc) parts_.resize(pieces);
  if (spec_.mem != nullptr) mem_index_ = core.pool().index_of(spec_.mem, spec_.length);
}

void Transfer::start() noexcept {
  Slot* list = nullptr;
  {
    std::lock_guard lock(mu_);
    ++active_;  // start() itself, so that early completions cannot finish the transfer
    list = pump_locked();
  }
  settle(list, StagingBuffer{}, nullptr);
  bool fin = false;
  {
    std::lock_guard lock(mu_);
    --active_;
    fin = finishing_locked();
  }
  if (fin) core_.workers().push(this);
}

Slot* Transfer::pump_locked() {
  Slot* list = nullptr;
  Slot** tail = &list;
  while (in_io_ < queue_depth_ && idle_ != nullptr && more_locked()) {
    if (core_.stopping()) {
      fail_locked(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
      break;
    }
    Slot& s = *idle_;
    bool queued = false;
    if (plan_.staged() && !s.staging) {
      const BufferPool::Wait w = core_.pool().acquire_or_wait(&s, s.staging);
      if (w == BufferPool::Wait::Closed) {
        fail_locked(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
        break;
      }
      queued = w == BufferPool::Wait::Queued;
    }
    idle_ = s.link;
    s.idle = false;
    ++active_;
    ++in_io_;
    if (queued) {
      s.waiting = true;  // on_buffer follows, possibly on another thread right away
      continue;
    }
    assign_locked(s);
    s.link = nullptr;
    *tail = &s;
    tail = &s.link;
  }
  if (!more_locked()) cancel_waiters_locked();
  return list;
}

void Transfer::assign_locked(Slot& s) {
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
  s.tail_got = 0;
  s.tail_stalls = 0;
}

void Transfer::make_idle_locked(Slot& s) noexcept {
  s.idle = true;
  s.link = idle_;
  idle_ = &s;
  --active_;
}

void Transfer::fail_locked(std::exception_ptr err) noexcept {
  if (!error_) error_ = std::move(err);
  failed_.store(true, std::memory_order_relaxed);
  cancel_waiters_locked();
}

void Transfer::cancel_waiters_locked() noexcept {
  for (unsigned i = 0; i < nslots_; ++i) {
    Slot& s = slots_[i];
    // When cancel_wait fails, on_buffer is already on its way and settles the slot.
    if (s.waiting && core_.pool().cancel_wait(&s)) {
      s.waiting = false;
      --in_io_;
      make_idle_locked(s);
    }
  }
}

bool Transfer::finishing_locked() noexcept {
  if (finished_ || active_ != 0 || more_locked()) return false;
  finished_ = true;
  return true;
}

void Transfer::submit(Slot& s) noexcept {
  const Piece& p = s.piece;
  // A shifted piece's two requests are in flight at once: its O_DIRECT part (none for a
  // piece of one block) and its last block, into the bounce block.
  const bool own = !p.shifted || plan_.landed(p) > 0;
  s.parts.store((own ? 1U : 0U) + (p.shifted ? 1U : 0U), std::memory_order_relaxed);
  if (own) fill(s, false);
  if (p.shifted) fill(s, true);
  // Once the last request is handed over, the slot may move on at once: touch nothing
  // of it after that.
  if (own && p.shifted) {
    issue(s);
    issue(s.tail);
  } else {
    issue(own ? static_cast<IoRequest&>(s) : s.tail);
  }
}

void Transfer::fill(Slot& s, bool tail) noexcept {
  const Piece& p = s.piece;
  const File& f = *spec_.file;
  IoRequest& r = tail ? static_cast<IoRequest&>(s.tail) : s;
  r.op = spec_.op;
  r.datasync = spec_.datasync;
  if (tail) {
    // The shifted piece's last block, into the slot's bounce block (not registered).
    const std::uint32_t landed = plan_.landed(p);
    r.offset = p.io_off + landed + s.tail_got;
    r.len = p.io_len - landed - s.tail_got;
    r.buf = s.bounce + s.tail_got;
    r.buf_index = -1;
  } else {
    r.offset = p.io_off + s.got;
    r.len = p.io_len - s.got;
    if (plan_.staged()) {
      r.buf = s.staging.data().data() + s.got;
      r.buf_index = s.staging.index();
    } else if (p.bounced) {
      r.buf = s.bounce + s.got;
      r.buf_index = -1;
    } else if (p.shifted) {
      // All but the last block, O_DIRECT to the aligned address target + shift(); the
      // worker stage moves it into place.
      r.len = plan_.landed(p) - s.got;
      r.buf = spec_.mem + (p.io_off - spec_.offset) + plan_.shift() + s.got;
      r.buf_index = mem_index_;
    } else {
      r.buf = spec_.mem == nullptr ? nullptr : spec_.mem + (p.io_off - spec_.offset) + s.got;
      r.buf_index = mem_index_;
    }
  }
  const std::uint32_t a = f.alignment();
  const bool direct = p.direct && r.offset % a == 0 && r.len % a == 0 && aligned(r.buf, a);
  r.fd = (direct || spec_.op == IoOp::Sync) ? f.fd() : f.buffered_fd();
  r.rw_flags = (!f.direct() && f.dontcache()) ? RWF_DONTCACHE : 0;
}

void Transfer::issue(IoRequest& r) noexcept {
  check_live(r.buf, r.len);
  auto& c = core_.counters();
  c.requests_submitted.fetch_add(1, std::memory_order_relaxed);
  c.bytes_submitted.fetch_add(r.len, std::memory_order_relaxed);
  c.in_flight.fetch_add(1, std::memory_order_relaxed);
  logger().trace("submit {} {} fd {} offset {} len {}{}", op_name(r.op, r.datasync),
                 spec_.file->path(), r.fd, r.offset, r.len,
                 r.buf_index >= 0 ? " (fixed buffer)" : "");
  core_.backend().submit(&r);
}

void Transfer::io_result(Slot& s, bool tail, int res) noexcept {
  IoRequest& r = tail ? static_cast<IoRequest&>(s.tail) : s;
  std::uint32_t& got = tail ? s.tail_got : s.got;
  unsigned& stalls = tail ? s.tail_stalls : s.stalls;
  auto resubmit = [&] {
    fill(s, tail);
    issue(r);
  };
  auto& c = core_.counters();
  c.requests_completed.fetch_add(1, std::memory_order_relaxed);
  c.in_flight.fetch_sub(1, std::memory_order_relaxed);
  logger().trace("complete {} {} offset {} len {}: {}", op_name(r.op, r.datasync),
                 spec_.file->path(), r.offset, r.len, res);
  if (res < 0) {
    const int err = -res;
    if ((err == EAGAIN || err == EINTR) && ++stalls <= kMaxStalls) {
      c.requests_retried.fetch_add(1, std::memory_order_relaxed);
      resubmit();
      return;
    }
    if ((err == EOPNOTSUPP || err == EINVAL) && (r.rw_flags & RWF_DONTCACHE) != 0) {
      spec_.file->disable_dontcache();
      c.requests_retried.fetch_add(1, std::memory_order_relaxed);
      resubmit();
      return;
    }
    part_over(
        s, tail,
        std::make_exception_ptr(io_error(res, r.op, r.datasync, spec_.file->path(), r.offset)));
    return;
  }
  c.bytes_completed.fetch_add(static_cast<std::uint64_t>(res), std::memory_order_relaxed);
  got += static_cast<std::uint32_t>(res);
  const Piece& p = s.piece;
  std::uint64_t need = p.io_len;
  if (tail) {
    need = p.io_len - plan_.landed(p);
  } else if (p.shifted) {
    need = plan_.landed(p);
  } else if (r.op == IoOp::Read) {
    need = p.data_off + p.data_len - p.io_off;
  }
  if (got >= need) {
    part_over(s, tail, nullptr);
    return;
  }
  if (res == 0) {
    if (r.op == IoOp::Read) {
      part_over(s, tail,
                std::make_exception_ptr(
                    Error(Errc::Io, "read " + spec_.file->path() + " at offset " +
                                        std::to_string(r.offset) + ": unexpected end of file (" +
                                        std::to_string(need - got) + " more bytes expected)")));
      return;
    }
    if (++stalls > kMaxStalls) {
      part_over(
          s, tail,
          std::make_exception_ptr(io_error(-EIO, r.op, r.datasync, spec_.file->path(), r.offset)));
      return;
    }
  } else {
    stalls = 0;
  }
  c.requests_retried.fetch_add(1, std::memory_order_relaxed);
  resubmit();
}

void Transfer::part_over(Slot& s, bool tail, std::exception_ptr err) noexcept {
  // Each request writes only its own error; the last one over reads both.
  if (err) s.part_error[tail ? 1 : 0] = std::move(err);
  if (s.parts.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // The failure at the lower offset: the O_DIRECT part's, then the last block's.
  std::exception_ptr first = s.part_error[0] ? s.part_error[0] : s.part_error[1];
  s.part_error[0] = nullptr;
  s.part_error[1] = nullptr;
  if (first) {
    piece_done(s, std::move(first), true);
  } else if (second_stage_) {
    // The slot leaves the queue for the worker stage: another one can take its place.
    Slot* list = nullptr;
    {
      std::lock_guard lock(mu_);
      --in_io_;
      list = pump_locked();
    }
    settle(list, StagingBuffer{}, nullptr);
    core_.workers().push(&s);
  } else {
    piece_done(s, nullptr, true);
  }
}

}  // namespace xfer

Error io_error(int res, IoOp op, bool datasync, const std::string& path, std::uint64_t offset) {
  return errno_error(-res, std::string(xfer::op_name(op, datasync)) + " " + path + " at offset " +
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
  xfer::Transfer* t = nullptr;
  try {
    t = new xfer::Transfer(core, std::move(spec));
  } catch (...) {
    fail(std::current_exception());
    core.end_op();
    return;
  }
  t->start();
}

}  // namespace stsw::detail
