#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "io/engine_core.hpp"
#include "io/logging.hpp"
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
