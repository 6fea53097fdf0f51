// The io_uring backend: one ring driven by one thread.
//
// The driver thread creates the ring (so that IORING_SETUP_SINGLE_ISSUER names it as the
// submitter, which DEFER_TASKRUN requires), registers the staging buffers and a sparse
// file table, and then loops: take the requests other threads queued, turn them into
// SQEs (READ_FIXED / WRITE_FIXED for registered staging buffers, IOSQE_FIXED_FILE with
// the slot of a registered descriptor: io/file_table.hpp), submit and wait, and hand each CQE's
// result to the IoRequest behind its user_data. Other threads queue requests under a
// mutex and wake the driver through an eventfd that the ring itself keeps a read armed on.
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "core/logging.hpp"
#include "io/backend.hpp"
#include "io/engine_threads.hpp"
#include "io/file_table.hpp"

namespace stsw::detail {

namespace {

constexpr unsigned kSqEntries = 256;
constexpr unsigned kCqEntries = 1024;
constexpr std::uint64_t kEventTag = 1;  // user_data of the eventfd read (no request is at 1)

class UringBackend;
thread_local const UringBackend* tl_driver = nullptr;  // set on each ring's driver thread

struct InitResult {
  int err = 0;  // positive errno when the ring could not be set up
  std::string setup;
  bool registered = false;
  bool files = false;  // the sparse file table is registered
};

class UringBackend final : public Backend {
 public:
  explicit UringBackend(OwnerTag owner) : owner_(owner) {}
  ~UringBackend() override { shutdown(); }

  // Starts the driver; returns the positive errno of a failed setup (and joins it).
  int start(const EngineOptions& options, std::span<const iovec> buffers, std::string& why) {
    efd_ = ::eventfd(0, EFD_CLOEXEC);
    if (efd_ < 0) {
      why = std::string("eventfd: ") + std::strerror(errno);
      return errno;
    }
    std::promise<InitResult> ready;
    auto result = ready.get_future();
    const bool want_registered = options.register_buffers && !buffers.empty();
    const bool want_files = options.register_files;
    driver_ = std::thread([this, &ready, buffers, want_registered, want_files] {
      enter_engine_thread(owner_, "stsw-uring");
      tl_driver = this;
      InitResult r = setup(buffers, want_registered, want_files);
      const bool ok = r.err == 0;
      ready.set_value(std::move(r));
      if (ok) run();
    });
    InitResult r = result.get();
    if (r.err != 0) {
      driver_.join();
      why = r.setup;
      return r.err;
    }
    registered_ = r.registered;
    logger().info("io_uring ring ready ({}), staging buffers {}, files {}", r.setup,
                  registered_ ? "registered" : "not registered",
                  files_ ? "registered on first use" : "not registered");
    return 0;
  }

  [[nodiscard]] BackendKind kind() const noexcept override { return BackendKind::Uring; }
  [[nodiscard]] bool buffers_registered() const noexcept override { return registered_; }
  void note_file(const File& file) noexcept override {
    if (files_) files_->note(file);
  }
  [[nodiscard]] unsigned files_registered() const noexcept override {
    return files_ ? files_->registered() : 0;
  }

  void submit(IoRequest* req) noexcept override {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (!stop_) {
        req->next = nullptr;
        // The driver drains the queue before it waits: only a queue that was empty
        // needs a wakeup, and never when the driver itself submits.
        wake = head_ == nullptr && tl_driver != this;
        if (tail_ != nullptr) {
          tail_->next = req;
        } else {
          head_ = req;
        }
        tail_ = req;
        if (wake) notify();
        return;
      }
    }
    req->on_result(-ECANCELED);
  }

  void shutdown() noexcept override {
    {
      std::lock_guard lock(mu_);
      if (stop_ && !driver_.joinable()) return;
      stop_ = true;
    }
    notify();
    if (driver_.joinable()) driver_.join();
    // Closing Files wake the driver through efd_: cut them off before it is closed.
    if (files_) files_->detach();
    if (efd_ >= 0) ::close(efd_);
    efd_ = -1;
  }

 private:
  void notify() noexcept {
    const std::uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
  }

  static int update_file(void* self, unsigned slot, int fd) {
    return io_uring_register_files_update(&static_cast<UringBackend*>(self)->ring_, slot, &fd, 1);
  }
  static void wake(void* self) { static_cast<UringBackend*>(self)->notify(); }

  InitResult setup(std::span<const iovec> buffers, bool want_registered, bool want_files) noexcept {
    InitResult r;
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = kCqEntries;
    int ret = io_uring_queue_init_params(kSqEntries, &ring_, &p);
    r.setup = "SINGLE_ISSUER|DEFER_TASKRUN";
    if (ret == -EINVAL) {
      logger().info("io_uring: kernel refuses SINGLE_ISSUER|DEFER_TASKRUN; using a plain ring");
      p = io_uring_params{};
      p.flags = IORING_SETUP_CQSIZE;
      p.cq_entries = kCqEntries;
      ret = io_uring_queue_init_params(kSqEntries, &ring_, &p);
      r.setup = "plain";
    }
    if (ret < 0) {
      r.err = -ret;
      r.setup = std::string("io_uring_queue_init: ") + std::strerror(-ret);
      return r;
    }
    max_in_flight_ = p.cq_entries - 8;
    if (want_registered) {
      ret =
          io_uring_register_buffers(&ring_, buffers.data(), static_cast<unsigned>(buffers.size()));
      if (ret == 0) {
        r.registered = true;
      } else {
        logger().info(
            "io_uring_register_buffers failed: {} (RLIMIT_MEMLOCK?); using unregistered buffers",
            std::strerror(-ret));
      }
    }
    if (want_files) {
      // Kernels before 5.19 have no sparse tables: files then go by plain descriptor.
      ret = io_uring_register_files_sparse(&ring_, kRegisteredFileSlots);
      if (ret == 0) {
        try {
          files_ = std::make_unique<FileTable>(kRegisteredFileSlots, &update_file, &wake, this);
        } catch (...) {
          files_.reset();
        }
      } else {
        logger().info("io_uring_register_files_sparse failed: {}; using plain descriptors",
                      std::strerror(-ret));
      }
    }
    r.setup +=
        ", " + std::to_string(p.sq_entries) + "/" + std::to_string(p.cq_entries) + " entries";
    return r;
  }

  void prep(io_uring_sqe* sqe, IoRequest* r) noexcept {
    const bool fixed = registered_ && r->buf_index >= 0;
    const int slot = files_ ? files_->slot_for(r->fd) : -1;
    const int fd = slot >= 0 ? slot : r->fd;
    switch (r->op) {
      case IoOp::Read:
        if (fixed) {
          io_uring_prep_read_fixed(sqe, fd, r->buf, r->len, r->offset, r->buf_index);
        } else {
          io_uring_prep_read(sqe, fd, r->buf, r->len, r->offset);
        }
        sqe->rw_flags = r->rw_flags;
        break;
      case IoOp::Write:
        if (fixed) {
          io_uring_prep_write_fixed(sqe, fd, r->buf, r->len, r->offset, r->buf_index);
        } else {
          io_uring_prep_write(sqe, fd, r->buf, r->len, r->offset);
        }
        sqe->rw_flags = r->rw_flags;
        break;
      case IoOp::Sync: io_uring_prep_fsync(sqe, fd, r->datasync ? IORING_FSYNC_DATASYNC : 0); break;
    }
    if (slot >= 0) sqe->flags |= IOSQE_FIXED_FILE;  // after prep, which clears the flags
    io_uring_sqe_set_data(sqe, r);
  }

  bool arm_eventfd() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return false;
    io_uring_prep_read(sqe, efd_, &efd_value_, sizeof efd_value_, 0);
    io_uring_sqe_set_data64(sqe, kEventTag);
    return true;
  }

  void run() noexcept {
    bool armed = arm_eventfd();
    IoRequest* pending = nullptr;  // taken from the queue, not yet in the ring (FIFO)
    IoRequest* pending_tail = nullptr;
    unsigned in_flight = 0;
    for (;;) {
      bool stop = false;
      {
        std::lock_guard lock(mu_);
        if (head_ != nullptr) {
          if (pending_tail != nullptr) {
            pending_tail->next = head_;
          } else {
            pending = head_;
          }
          pending_tail = tail_;
          head_ = tail_ = nullptr;
        }
        stop = stop_;
      }
      if (!armed) armed = arm_eventfd();
      if (files_) files_->apply();  // clear the slots of Files closed meanwhile
      while (pending != nullptr && in_flight < max_in_flight_) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
          (void)io_uring_submit(&ring_);
          continue;
        }
        IoRequest* r = pending;
        pending = r->next;
        if (pending == nullptr) pending_tail = nullptr;
        prep(sqe, r);
        ++in_flight;
      }
      if (stop && in_flight == 0 && pending == nullptr) break;
      const int ret = io_uring_submit_and_wait(&ring_, 1);
      if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
        logger().warn("io_uring_submit_and_wait: {}", std::strerror(-ret));
      }
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_cqe* cqe = nullptr;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        if (io_uring_cqe_get_data64(cqe) == kEventTag) {
          armed = false;
          continue;
        }
        --in_flight;
        static_cast<IoRequest*>(io_uring_cqe_get_data(cqe))->on_result(cqe->res);
      }
      io_uring_cq_advance(&ring_, seen);
    }
    io_uring_queue_exit(&ring_);
  }

  OwnerTag owner_;
  io_uring ring_{};
  int efd_ = -1;
  std::uint64_t efd_value_ = 0;
  unsigned max_in_flight_ = kCqEntries - 8;
  bool registered_ = false;
  // Set by the driver during setup (before start() returns), then fixed until destruction.
  std::unique_ptr<FileTable> files_;
  std::thread driver_;

  std::mutex mu_;
  IoRequest* head_ = nullptr;
  IoRequest* tail_ = nullptr;
  bool stop_ = false;
};

}  // namespace

std::unique_ptr<Backend> try_make_uring_backend(const EngineOptions& options,
                                                std::span<const iovec> buffers, OwnerTag owner,
                                                std::string& why) {
  auto b = std::make_unique<UringBackend>(owner);
  if (b->start(options, buffers, why) != 0) return nullptr;
  return b;
}

}  // namespace stsw::detail
