// The fallback backend: pread/pwrite (preadv2/pwritev2 when a request carries RWF_*
// flags) and fsync/fdatasync on a small pool of I/O threads.
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/logging.hpp"
#include "io/backend.hpp"
#include "io/engine_threads.hpp"

namespace stsw::detail {

namespace {

int execute(const IoRequest& r) noexcept {
  ssize_t n = 0;
  switch (r.op) {
    case IoOp::Read:
      if (r.rw_flags != 0) {
        iovec iov{r.buf, r.len};
        n = ::preadv2(r.fd, &iov, 1, static_cast<off_t>(r.offset), r.rw_flags);
      } else {
        n = ::pread(r.fd, r.buf, r.len, static_cast<off_t>(r.offset));
      }
      break;
    case IoOp::Write:
      if (r.rw_flags != 0) {
        iovec iov{r.buf, r.len};
        n = ::pwritev2(r.fd, &iov, 1, static_cast<off_t>(r.offset), r.rw_flags);
      } else {
        n = ::pwrite(r.fd, r.buf, r.len, static_cast<off_t>(r.offset));
      }
      break;
    case IoOp::Sync: n = r.datasync ? ::fdatasync(r.fd) : ::fsync(r.fd); break;
  }
  return n < 0 ? -errno : static_cast<int>(n);
}

class ThreadBackend final : public Backend {
 public:
  ThreadBackend(unsigned threads, OwnerTag owner) {
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this, owner] { loop(owner); });
  }
  ~ThreadBackend() override { shutdown(); }

  [[nodiscard]] BackendKind kind() const noexcept override { return BackendKind::Threads; }
  [[nodiscard]] bool buffers_registered() const noexcept override { return false; }

  void submit(IoRequest* req) noexcept override {
    {
      std::lock_guard lock(mu_);
      if (!stop_) {
        req->next = nullptr;
        if (tail_ != nullptr) {
          tail_->next = req;
        } else {
          head_ = req;
        }
        tail_ = req;
        cv_.notify_one();
        return;
      }
    }
    req->on_result(-ECANCELED);
  }

  void shutdown() noexcept override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void loop(OwnerTag owner) noexcept {
    enter_engine_thread(owner, "stsw-io");
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return head_ != nullptr || stop_; });
      if (head_ == nullptr) return;
      IoRequest* req = head_;
      head_ = req->next;
      if (head_ == nullptr) tail_ = nullptr;
      lock.unlock();
      req->on_result(execute(*req));
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  IoRequest* head_ = nullptr;
  IoRequest* tail_ = nullptr;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Backend> make_thread_backend(unsigned threads, OwnerTag owner) {
  return std::make_unique<ThreadBackend>(threads, owner);
}

}  // namespace stsw::detail
