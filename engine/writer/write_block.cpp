// StreamWriter::Impl::write_block: in-order staging that never blocks the caller for a
// buffer its own writes will return (issue 16).
//
// Backlog. write_block validates the block and advances the caller-side cursor (cur_,
// cur_written_) at once, then appends the block to backlog_ and stages the backlog as far as
// staging buffers allow (stage_backlog). When every buffer of the writer is in flight, the
// rest stays queued: the call returns and its future completes later, when the completion of
// one of the writer's writes (write_done -> pump) stages it. Queued bytes are staged strictly
// in call order, so the file is the same as with the blocking form. Memory: the backlog
// holds spans of the callers' bytes (which must stay valid until their futures complete),
// never copies.
//
// Blocking is left only where a buffer can come from nowhere but the engine's shared pool:
// at the pool's cap with none of this writer's writes in flight (next_slot says Block). A
// caller thread then waits in Engine::acquire_buffer (which fails at once with NoSpace when
// no engine I/O is in flight); on an engine thread the pump hands that wait to the engine's
// blocking-call thread. window() and close() first stage the whole backlog (they may block,
// as documented). An error while staging queued bytes poisons the writer: the queued
// requests fail with it, and so does every later call.
#include <algorithm>

#include "stsw/error.hpp"
#include "writer/write_request.hpp"
#include "writer/writer_impl.hpp"

namespace stsw {

using writer::kInlineBytes;
using writer::Request;

StreamWriter::Impl::Got StreamWriter::Impl::next_slot(bool may_block) {
  if (slot_) return Got::Slot;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!may_block && !error_ && phase_ != Phase::Aborted && held_buffers_ >= max_buffers_) {
      return Got::Later;  // every buffer of ours is in flight: a write_done pumps
    }
    cv_.wait(lock,
             [&] { return held_buffers_ < max_buffers_ || error_ || phase_ == Phase::Aborted; });
    if (error_) std::rethrow_exception(error_);
    if (phase_ == Phase::Aborted) throw Error(Errc::Cancelled, path_ + ": writer aborted");
    ++held_buffers_;
  }
  StagingBuffer buffer;
  if (may_block) {
    buffer = acquire_counted(stream_pos_);
  } else if (std::optional<StagingBuffer> b = engine_->try_acquire_buffer()) {
    buffer = std::move(*b);
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    --held_buffers_;
    cv_.notify_all();
    // A write of ours in flight returns a buffer (and pumps); else only the pool can.
    return held_buffers_ > 0 ? Got::Later : Got::Block;
  }
  slot_ = std::make_shared<Slot>();
  slot_->buffer = std::move(buffer);
  slot_->base = stream_pos_;
  return Got::Slot;
}

StreamWriter::Impl::Slot& StreamWriter::Impl::current_slot() {
  (void)next_slot(true);  // blocking: always a slot, or throws
  return *slot_;
}

bool StreamWriter::Impl::stage_backlog(bool may_block, Finished& finished) {
  try {
    while (!backlog_.empty()) {
      const Got got = next_slot(may_block);
      if (got != Got::Slot) return got == Got::Later;
      Queued& q = backlog_.front();
      Slot& s = *slot_;
      const std::size_t n = std::min<std::size_t>(q.data.size(), chunk_ - s.fill);
      const std::size_t at = s.fill;
      const std::uint64_t data_offset = stream_pos_ - data_offset_;
      const std::span<const std::byte> piece = q.data.first(n);
      s.fill += n;
      stream_pos_ += n;
      q.data = q.data.subspan(n);
      {
        std::lock_guard<std::mutex> lock(mu_);
        bytes_staged_ += n;
      }
      if (n < kInlineBytes) {
        stage_inline(s, at, piece, data_offset, true);
      } else {
        stage_on_worker(slot_, s.buffer.data().data() + at, piece, true, data_offset, q.request);
      }
      if (s.fill == chunk_) seal_current();
      if (q.data.empty()) {
        finished.emplace_back(std::move(q.request), nullptr);
        backlog_.pop_front();
      }
    }
  } catch (...) {
    // The cursor ran ahead of the staged bytes: nothing more can be staged in order.
    const std::exception_ptr e = std::current_exception();
    {
      std::lock_guard<std::mutex> lock(mu_);
      fail(e);
    }
    for (Queued& q : backlog_) finished.emplace_back(std::move(q.request), e);
    backlog_.clear();
  }
  backlog_waiting_.store(!backlog_.empty());
  return true;
}

void StreamWriter::Impl::finish_all(Finished& finished) noexcept {
  for (auto& [request, error] : finished) request->finish(error);
  finished.clear();
}

void StreamWriter::Impl::pump(bool may_block) noexcept {
  pump_wanted_.store(true);
  // Whoever holds call_mu_ now sees pump_wanted_ after unlocking and comes back here.
  while (pump_wanted_.load()) {
    std::unique_lock<std::mutex> call(call_mu_, std::try_to_lock);
    if (!call) return;
    pump_wanted_.store(false);
    Finished finished;
    if (!stage_backlog(may_block, finished)) {
      // Only the shared pool can give a buffer now, and this thread must not wait for it.
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++ops_;  // keeps the writer alive until the blocking pump ran
      }
      engine_->post_blocking([this] { pump(true); },
                             [this](const std::exception_ptr&) {
                               std::unique_lock<std::mutex> lock(mu_);
                               if (release_op()) {
                                 lock.unlock();
                                 finish();
                               }
                             });
    }
    call.unlock();
    finish_all(finished);
  }
}

void StreamWriter::Impl::write_block(std::string_view name, std::span<const std::byte> data,
                                     DoneCallback done) {
  CallLock call(*this);
  try {
    check_usable("write_block");
    check_stream("write_block");
    if (window_open_) {
      throw Error(Errc::InvalidState, path_ + ": write_block while a window is open");
    }
    const std::size_t i = resolve(name);
    const std::uint64_t remaining = tensors_[i].nbytes() - cur_written_;
    if (data.size() > remaining) {
      throw Error(Errc::LengthMismatch, path_ + ": tensor '" + tensors_[i].name + "': a block of " +
                                            std::to_string(data.size()) + " bytes exceeds the " +
                                            std::to_string(remaining) +
                                            " bytes still expected (of " +
                                            std::to_string(tensors_[i].nbytes()) + ")");
    }
  } catch (...) {
    call.unlock();
    done(std::current_exception());
    return;
  }
  auto request = std::make_shared<Request>(std::move(done));
  Finished finished;
  if (!data.empty()) {
    streamed_ = true;
    cur_written_ += data.size();  // accepted: later calls are checked against it
    {
      std::lock_guard<std::mutex> lock(request->mu);
      ++request->pending;  // until its last byte is staged
    }
    backlog_.push_back({data, request});
    backlog_waiting_.store(true);  // before staging: a write_done from now on pumps
    // On the caller's thread a buffer only the shared pool can give is waited for here.
    if (!stage_backlog(false, finished)) (void)stage_backlog(true, finished);
  }
  call.unlock();
  finish_all(finished);
  request->finish(nullptr);
}

void StreamWriter::Impl::drain_backlog(Finished& finished) {
  if (!backlog_.empty()) (void)stage_backlog(true, finished);
}

}  // namespace stsw
