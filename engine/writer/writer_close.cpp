// StreamWriter::Impl: the close sequence (header rewrite with CRCs, truncate, fdatasync,
// link into place, directory fsync) and abort.
#include <cstring>

#include "stsw/error.hpp"
#include "writer/writer_impl.hpp"

namespace stsw {

void StreamWriter::Impl::close(DoneCallback done) {
  std::unique_lock<std::mutex> call(call_mu_);
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
    if (window_open_) throw Error(Errc::InvalidState, path_ + ": close() while a window is open");
    if (!all_complete()) {
      const TensorMeta& t = tensors_[cur_];
      throw Error(Errc::LengthMismatch, path_ + ": close(): tensor '" + t.name + "' has " +
                                            std::to_string(cur_written_) + " of its " +
                                            std::to_string(t.nbytes()) + " bytes");
    }
  } catch (...) {
    call.unlock();
    done(std::current_exception());
    return;
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
}

// The steps of the close sequence run on worker threads (never on the ring thread) and
// report failures by throwing, before they start their asynchronous operation.
void StreamWriter::Impl::on_worker(void (Impl::*step)()) {
  engine_->post([this, step] { (this->*step)(); },
                [this](std::exception_ptr e) {
                  if (e) close_failed(std::move(e));
                });
}

void StreamWriter::Impl::finish() { on_worker(&Impl::finish_header); }

void StreamWriter::Impl::finish_header() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) std::rethrow_exception(error_);
    if (phase_ == Phase::Aborted) {
      throw Error(Errc::Cancelled, path_ + ": close() cancelled by abort()");
    }
  }
  if (!options_.crc32) {
    finish_truncate_sync();
    return;
  }
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < tensors_.size(); ++i) tensors_[i].crc32 = final_tensors[i].crc32;
  }
  engine_->write(target_.file(), 0, std::span<const std::byte>(prefix_.get(), prefix_size_),
                 [this](std::exception_ptr e) {
                   if (e) {
                     close_failed(wrap_error(e, "rewrite of the header at offset 0"));
                   } else {
                     on_worker(&Impl::finish_truncate_sync);
                   }
                 });
}

void StreamWriter::Impl::finish_truncate_sync() {
  // O_DIRECT wrote whole blocks past the end of the data.
  if (file_size_ % io_align_ != 0) target_.truncate(file_size_);
  if (!options_.durable) {
    finish_commit();
    return;
  }
  engine_->sync(target_.file(), true, [this](std::exception_ptr e) {
    if (e) {
      close_failed(wrap_error(e, "fdatasync"));
    } else {
      on_worker(&Impl::finish_commit);
    }
  });
}

void StreamWriter::Impl::finish_commit() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::Aborted) {
      throw Error(Errc::Cancelled, path_ + ": close() cancelled by abort()");
    }
  }
  target_.commit(options_.durable);  // link, rename, directory fsync
  close_succeeded();                 // last touch of `this`
}

void StreamWriter::Impl::close_succeeded() {
  DoneCallback done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = Phase::Closed;
    done = std::move(close_done_);
    release_op();  // last touch of `this`
  }
  if (done) done(nullptr);
}

void StreamWriter::Impl::close_failed(std::exception_ptr error) {
  DoneCallback done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = error;
    if (target_.committed()) {
      phase_ = Phase::Closed;  // the file is in place; only the directory fsync failed
    } else if (phase_ != Phase::Aborted) {
      phase_ = Phase::Failed;
    }
    done = std::move(close_done_);
    release_op();  // last touch of `this`
  }
  if (done) done(error);
}

void StreamWriter::Impl::abort() noexcept {
  std::unique_lock<std::mutex> call(call_mu_);
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
