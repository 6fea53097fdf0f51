// StreamWriter::Impl: close() and its sequence of steps (CloseStep, writer_impl.hpp), the
// release of a writer whose close is pending, and abort.
#include <cstring>

#include "stsw/error.hpp"
#include "writer/writer_impl.hpp"

namespace stsw {

void StreamWriter::Impl::close(DoneCallback done) {
  for (;;) {
    Finished finished;  // write_block requests whose queued bytes were staged here
    {
      CallLock call(*this);
      try {
        {
          std::lock_guard<std::mutex> lock(mu_);
          switch (phase_) {
            case Phase::Open: break;
            case Phase::Closing:
              throw Error(Errc::InvalidState, path_ + ": close() is already in progress");
            case Phase::Closed: throw Error(Errc::InvalidState, path_ + ": close() after close()");
            case Phase::Aborted: throw Error(Errc::InvalidState, path_ + ": close() after abort()");
            case Phase::Failed: break;
          }
          if (error_) std::rethrow_exception(error_);
        }
        if (window_open_) {
          throw Error(Errc::InvalidState, path_ + ": close() while a window is open");
        }
        if (backlog_.empty()) {
          if (!all_complete()) {
            const TensorMeta& t = tensors_[cur_];
            throw Error(Errc::LengthMismatch, path_ + ": close(): tensor '" + t.name + "' has " +
                                                  std::to_string(cur_written_) + " of its " +
                                                  std::to_string(t.nbytes()) + " bytes");
          }
          {
            std::lock_guard<std::mutex> lock(mu_);
            phase_ = Phase::Closing;
            close_done_ = std::move(done);
            ++ops_;  // nothing may finish before the last slot is submitted
          }
          seal_current();
          call.unlock();
          std::unique_lock<std::mutex> lock(mu_);
          if (release_op()) {
            lock.unlock();
            finish();
          }
          return;
        }
        drain_backlog(finished);  // stage what write_block queued first (may block)
      } catch (...) {
        call.unlock();
        done(std::current_exception());
        return;
      }
    }
    finish_all(finished);
  }
}

// ---- the close sequence -------------------------------------------------------------------
//
// close() seals the last slot and marks the writer Closing (step Drain); the completion that
// brings ops_ to zero calls finish(), and from then on each step's completion runs the next
// one (after_step). Every step reports failure through its callback, so close_completed()
// runs exactly once: with the error, or with null after the Done step. The sequence holds
// one op until it completes, so abort() waits for it; before the file is published a pending
// abort() cancels the rest (Errc::Cancelled, `path` untouched).

void StreamWriter::Impl::finish() { run_step(next_step(CloseStep::Drain)); }

StreamWriter::Impl::CloseStep StreamWriter::Impl::next_step(CloseStep after) const noexcept {
  auto step = static_cast<CloseStep>(static_cast<int>(after) + 1);
  while (step != CloseStep::Done) {
    const bool skip =
        ((step == CloseStep::Header || step == CloseStep::WriteHeader) && !options_.crc32) ||
        (step == CloseStep::Truncate && file_size_ % io_align_ == 0) ||
        ((step == CloseStep::SyncFile || step == CloseStep::SyncDir) && !options_.durable);
    if (!skip) break;
    step = static_cast<CloseStep>(static_cast<int>(step) + 1);
  }
  return step;
}

void StreamWriter::Impl::throw_if_cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_) std::rethrow_exception(error_);
  if (phase_ == Phase::Aborted) {
    throw Error(Errc::Cancelled, path_ + ": close() cancelled by abort()");
  }
}

DoneCallback StreamWriter::Impl::after_step(CloseStep step, const char* what) {
  return [this, step, what](std::exception_ptr e) {
    if (e) {
      close_completed(what != nullptr ? wrap_error(e, what) : std::move(e));
    } else {
      run_step(next_step(step));
    }
  };
}

void StreamWriter::Impl::run_step(CloseStep step) {
  if (step <= CloseStep::Publish) {  // once published, the close completes whatever comes
    try {
      throw_if_cancelled();
    } catch (...) {
      close_completed(std::current_exception());
      return;
    }
  }
  switch (step) {
    case CloseStep::Drain: break;  // not a step of its own: finish() starts after it
    case CloseStep::Header:
      engine_->post([this] { encode_final_header(); }, after_step(step, nullptr));
      return;
    case CloseStep::WriteHeader:
      engine_->write(target_.file(), 0, std::span<const std::byte>(prefix_.get(), prefix_size_),
                     after_step(step, "rewrite of the header at offset 0"));
      return;
    case CloseStep::Truncate:  // O_DIRECT wrote whole blocks past the end of the data
      engine_->post_blocking([this] { target_.truncate(file_size_); }, after_step(step, nullptr));
      return;
    case CloseStep::SyncFile:
      engine_->sync(target_.file(), true, after_step(step, "fdatasync"));
      return;
    case CloseStep::Publish:
      engine_->post_blocking(
          [this] {
            throw_if_cancelled();  // an abort() since run_step still wins
            target_.publish();
          },
          after_step(step, nullptr));
      return;
    case CloseStep::SyncDir:
      engine_->post_blocking([this] { target_.sync_directory(); }, after_step(step, nullptr));
      return;
    case CloseStep::Done: close_completed(nullptr); return;
  }
}

void StreamWriter::Impl::encode_final_header() {
  std::vector<TensorMeta> final_tensors = tensors_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!crcs_.complete()) {
      throw Error(Errc::InvalidState, path_ + ": internal error: CRCs missing at close");
    }
    for (std::size_t i = 0; i < final_tensors.size(); ++i) final_tensors[i].crc32 = crcs_.crc(i);
  }
  EncodeOptions enc;
  enc.align = options_.align;
  enc.exact_header_size = header_size_;
  const std::string header = encode_header(final_tensors, options_.metadata, enc);
  if (header.size() != header_.size()) {
    throw Error(Errc::InvalidState, path_ + ": internal error: the header with CRCs takes " +
                                        std::to_string(header.size()) + " bytes, not " +
                                        std::to_string(header_.size()));
  }
  std::memcpy(prefix_.get(), header.data(), header.size());
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = 0; i < tensors_.size(); ++i) tensors_[i].crc32 = final_tensors[i].crc32;
}

// The end of the sequence, exactly once: null `error` after the Done step.
void StreamWriter::Impl::close_completed(std::exception_ptr error) {
  DoneCallback done;
  std::unique_ptr<Impl> orphan;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error || target_.committed()) {
      phase_ = Phase::Closed;  // a failure after the rename: the file is in place
    } else if (phase_ != Phase::Aborted) {
      phase_ = Phase::Failed;
    }
    if (error && !error_) error_ = error;
    done = std::move(close_done_);
    orphan = std::move(orphan_);
    release_op();  // last touch of `this` unless orphaned
  }
  if (done) done(error);
  dispose(std::move(orphan));
}

// ---- lifetime ------------------------------------------------------------------------------

void StreamWriter::Impl::release(std::unique_ptr<Impl> self) noexcept {
  if (!self) return;
  Impl* impl = self.get();
  {
    std::lock_guard<std::mutex> lock(impl->mu_);
    if (impl->phase_ == Phase::Closing) {
      impl->orphan_ = std::move(self);  // the close sequence deletes it (dispose)
      return;
    }
  }
  self.reset();  // ~Impl: abort()
}

void StreamWriter::Impl::dispose(std::unique_ptr<Impl> orphan) noexcept {
  if (!orphan) return;
  // Not here: the engine operation whose callback completed the close may still use the
  // file. The blocking-call thread deletes it next (a failed close's temporary file goes
  // with it, by abort()); the Impl's reference keeps the engine alive until then.
  const std::shared_ptr<Engine> engine = orphan->engine_;
  auto holder = std::make_shared<std::unique_ptr<Impl>>(std::move(orphan));
  engine->post_blocking([holder] { holder->reset(); }, [holder](const std::exception_ptr&) {});
}

void StreamWriter::Impl::abort() noexcept {
  // write_block requests with queued bytes fail, once call_mu_ is released (declared first).
  Finished queued;
  struct FinishLater {
    Finished& f;
    ~FinishLater() { finish_all(f); }
  } finish_later{queued};
  std::unique_lock<std::mutex> call(call_mu_);
  if (!backlog_.empty()) {
    const auto cancelled = std::make_exception_ptr(
        Error(Errc::Cancelled, path_ + ": write_block cancelled by abort()"));
    for (Queued& q : backlog_) queued.emplace_back(std::move(q.request), cancelled);
    backlog_.clear();
    backlog_waiting_.store(false);
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (phase_ == Phase::Closed || phase_ == Phase::Aborted) return;
  phase_ = Phase::Aborted;
  cv_.notify_all();
  cv_.wait(lock, [&] { return ops_ == 0; });
  window_open_ = false;
  if (slot_) {
    slot_->buffer.reset();
    slot_.reset();
    --held_buffers_;
  }
  held_buffers_ -= static_cast<unsigned>(open_.size());
  open_.clear();              // write_at slots being filled: their buffers go back to the pool
  if (target_.committed()) {  // close() won the race (and completed its callback)
    phase_ = Phase::Closed;
    return;
  }
  // A close() whose sequence never started (its last write was still in flight when the
  // abort came) still owns its callback: it completes here, once, with Cancelled.
  DoneCallback pending_close = std::move(close_done_);
  close_done_ = nullptr;
  lock.unlock();
  target_.discard();
  call.unlock();
  if (pending_close) {
    pending_close(
        std::make_exception_ptr(Error(Errc::Cancelled, path_ + ": close() cancelled by abort()")));
  }
}

}  // namespace stsw
