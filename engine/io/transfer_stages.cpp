// The second half of a piece's life: the worker stage (staging copy, the shifted move,
// CRC-32, scan callback), in-order CRC joining, recycling of slots and buffers, and
// finishing.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/logging.hpp"
#include "io/engine_core.hpp"
#include "io/transfer_state.hpp"
#include "stsw/crc32.hpp"

namespace stsw::detail::xfer {

namespace {

// Copy-and-CRC block: small enough that the copied block is still in L2 for the CRC.
constexpr std::size_t kFuseBlock = std::size_t{256} << 10;

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Copies len bytes from src to dst (which may overlap with dst below src) in blocks and,
// when want_crc, continues `crc` over each block while the copy has it in cache, instead
// of reading the whole piece from memory a second time.
void move_block_wise(std::byte* dst, const std::byte* src, std::size_t len, bool want_crc,
                     std::uint32_t& crc, StatCounters& c) noexcept {
  if (!want_crc) {
    std::memmove(dst, src, len);
    return;
  }
  std::uint64_t crc_ns = 0;
  for (std::size_t done = 0; done < len;) {
    const std::size_t n = std::min(kFuseBlock, len - done);
    std::memmove(dst + done, src + done, n);
    const std::uint64_t t0 = now_ns();
    crc = crc32(std::span<const std::byte>(dst + done, n), crc);
    crc_ns += now_ns() - t0;
    done += n;
  }
  c.crc_ns.fetch_add(crc_ns, std::memory_order_relaxed);
}

}  // namespace

void Slot::complete(int res) noexcept { owner->io_result(*this, false, res); }
void BounceRequest::complete(int res) noexcept { slot->owner->io_result(*slot, true, res); }
void Slot::run() noexcept { owner->second_stage(*this); }
void Slot::cancel() noexcept {
  owner->piece_done(*this, std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")),
                    false);
}
void Slot::on_buffer(StagingBuffer buffer) noexcept {
  owner->buffer_arrived(*this, std::move(buffer));
}

void Transfer::second_stage(Slot& s) noexcept {
  const Piece& p = s.piece;
  std::exception_ptr err;
  auto& c = core_.counters();
  if (failed_.load(std::memory_order_relaxed)) {
    // The transfer already failed: its result is decided, skip the work.
  } else if (spec_.on_chunk) {
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
    if (p.shifted) {
      // Down by shift() (forward, block by block: a block's destination lies below every
      // byte still to move), then the bounce block behind it.
      const std::uint32_t landed = plan_.landed(p);
      std::uint32_t crc = 0;
      move_block_wise(dst, dst + plan_.shift(), landed, spec_.want_crc, crc, c);
      move_block_wise(dst + landed, s.bounce, p.io_len - landed, spec_.want_crc, crc, c);
      s.crc = crc;
    } else if (plan_.staged() || p.bounced) {
      const std::byte* src =
          (p.bounced ? s.bounce : s.staging.data().data()) + (p.data_off - p.io_off);
      std::uint32_t crc = 0;
      move_block_wise(dst, src, p.data_len, spec_.want_crc, crc, c);
      s.crc = crc;
    } else if (spec_.want_crc) {
      const std::uint64_t t0 = now_ns();
      s.crc = crc32(std::span<const std::byte>(dst, p.data_len));
      c.crc_ns.fetch_add(now_ns() - t0, std::memory_order_relaxed);
    }
  }
  piece_done(s, std::move(err), false);
}

void Transfer::piece_done(Slot& s, std::exception_ptr err, bool from_io) noexcept {
  StagingBuffer spare;
  Slot* list = nullptr;
  bool fin = false;
  {
    std::lock_guard lock(mu_);
    if (from_io) --in_io_;
    if (err) {
      fail_locked(std::move(err));
    } else if (spec_.want_crc) {
      parts_[s.index] = Part{s.crc, s.piece.data_len, true};
      while (next_part_ < parts_.size() && parts_[next_part_].ready) {
        crc_ = crc32_combine(crc_, parts_[next_part_].crc, parts_[next_part_].len);
        ++next_part_;
      }
    }
    make_idle_locked(s);
    list = pump_locked();  // the idle stack is LIFO: s comes first, with its buffer
    if (s.idle && s.staging) {
      spare = std::move(s.staging);
      ++active_;  // released by settle(): the transfer finishes after the buffer is back
    }
    fin = finishing_locked();
  }
  settle(list, std::move(spare), fin ? this : nullptr, this);
}

void Transfer::buffer_arrived(Slot& s, StagingBuffer buffer) noexcept {
  StagingBuffer spare;
  Slot* list = nullptr;
  bool fin = false;
  {
    std::lock_guard lock(mu_);
    s.waiting = false;
    if (!buffer || core_.stopping()) {
      fail_locked(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
    }
    s.staging = std::move(buffer);
    if (more_locked()) {
      assign_locked(s);  // already counted in in_io_ while it waited
      s.link = nullptr;
      list = &s;
    } else {
      --in_io_;
      make_idle_locked(s);
      if (s.staging) {
        spare = std::move(s.staging);
        ++active_;  // released by settle(), as in piece_done()
      }
    }
    fin = finishing_locked();
  }
  settle(list, std::move(spare), fin ? this : nullptr, this);
}

void Transfer::settle(Slot* list, StagingBuffer spare, Transfer* finisher,
                      Transfer* holder) noexcept {
  if (spare) {
    // The buffer goes back to the pool before the transfer can finish, so that a caller
    // whose future is ready finds the pool full again.
    spare.reset();
    bool fin = false;
    {
      std::lock_guard lock(holder->mu_);
      --holder->active_;
      fin = holder->finishing_locked();
    }
    if (fin) finisher = holder;
  }
  while (list != nullptr) {
    Slot* next = list->link;  // read first: once submitted, the slot may be reused at once
    list->owner->submit(*list);
    list = next;
  }
  if (finisher != nullptr) finisher->finish();
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

}  // namespace stsw::detail::xfer
