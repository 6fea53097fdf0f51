#include "reader/read_ahead.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

namespace stsw::detail {

namespace {

std::int64_t ns(const timespec& t) noexcept {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

FileStamp stamp_of(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FileStamp{};
  return FileStamp{static_cast<std::int64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
}

void ReadWindow::when_ready(std::function<void(std::exception_ptr)> fn) {
  std::exception_ptr err;
  {
    std::lock_guard lock(mu_);
    if (!done_) {
      waiters_.push_back(std::move(fn));
      return;
    }
    err = error_;
  }
  fn(err);
}

void ReadWindow::finish(const std::exception_ptr& error) noexcept {
  std::vector<std::function<void(std::exception_ptr)>> waiters;
  {
    std::lock_guard lock(mu_);
    done_ = true;
    error_ = error;
    waiters.swap(waiters_);
  }
  for (auto& fn : waiters) fn(error);
}

std::shared_ptr<ReadWindow> ReadAhead::on_read(std::uint64_t chunk, int stamp_fd,
                                               std::uint64_t begin, std::uint64_t end) {
  const FileStamp now = stamp_of(stamp_fd);
  std::lock_guard lock(mu_);
  std::shared_ptr<ReadWindow> hit;
  if (window_ && begin >= window_->begin() && begin < window_->end() && window_->stamp() == now) {
    hit = window_;
  }
  in_order_ = hit != nullptr || (have_last_ && begin >= last_end_ && begin - last_end_ <= chunk);
  have_last_ = true;
  last_end_ = end;
  // A call out of order drops the window (its buffer returns once its read is over).
  if (!in_order_) window_.reset();
  return hit;
}

void ReadAhead::on_done(Engine& engine, const File& file, std::shared_ptr<const void> owner,
                        int stamp_fd, std::uint64_t end, std::uint64_t data_end) {
  std::uint64_t wb = 0;
  std::uint64_t we = 0;
  {
    std::lock_guard lock(mu_);
    // Only when the calls run in file order and those still pending after this one (a
    // second call in flight) hold less than a chunk, too little to keep the device busy;
    // the window starts after the latest call, unless one already reaches past it.
    const std::uint64_t chunk = engine.options().chunk_size;
    const std::uint64_t from = last_end_;
    if (!in_order_ || from < end || from - end >= chunk || from >= data_end ||
        (window_ && window_->end() > from)) {
      return;
    }
    const std::uint64_t a = std::max<std::uint64_t>(file.alignment(), 1);
    wb = from / a * a;
    we = std::min(wb + chunk, data_end);
  }
  // Never grow the pool or wait for a buffer: leave one for the transfers at least.
  if (engine.stats().buffers_free < 2) return;
  std::optional<StagingBuffer> buffer = engine.try_acquire_buffer();
  if (!buffer) return;
  const FileStamp now = stamp_of(stamp_fd);
  if (now.size < 0) return;
  auto w = std::make_shared<ReadWindow>(wb, we, std::move(*buffer), now);
  {
    std::lock_guard lock(mu_);
    window_ = w;
    ++started_;
  }
  engine.read(file, wb, w->bytes(), false,
              [w, owner = std::move(owner)](std::exception_ptr err, std::uint32_t) {
                w->finish(std::move(err));
              });
}

std::uint64_t ReadAhead::started() const {
  std::lock_guard lock(mu_);
  return started_;
}

}  // namespace stsw::detail
