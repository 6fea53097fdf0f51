// The Engine: callback forms of the operations on top of the transfer layer, plus
// creation, statistics and shutdown.
#include "io/engine_impl.hpp"

#include "core/logging.hpp"
#include "io/engine_core.hpp"
#include "io/engine_threads.hpp"
#include "io/transfer.hpp"
#include "io/worker_pool.hpp"
#include "stsw/error.hpp"

namespace stsw {
namespace detail {

namespace {

constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

// An Engine::post / post_blocking task (allocated per call: posting is not on the I/O hot path).
class PostItem final : public WorkItem {
 public:
  PostItem(Core& core, std::function<void()> task, DoneCallback done)
      : core_(core), task_(std::move(task)), done_(std::move(done)) {}

  void run() noexcept override {
    std::exception_ptr err;
    try {
      task_();
    } catch (...) {
      err = std::current_exception();
    }
    finish(err);
  }
  void cancel() noexcept override {
    finish(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down before the task ran")));
  }

 private:
  void finish(std::exception_ptr err) noexcept {
    Core& core = core_;
    DoneCallback done = std::move(done_);
    delete this;
    try {
      if (done) done(err);
    } catch (...) {
      logger().error("an Engine::post completion callback threw");
    }
    core.end_op();
  }

  Core& core_;
  std::function<void()> task_;
  DoneCallback done_;
};

class EngineImpl final : public Engine {
 public:
  EngineImpl(const EngineOptions& options, const BackendFactory& factory)
      : core_(std::make_shared<Core>(options, factory)) {}

  ~EngineImpl() override {
    if (current_owner == core_->tag()) {
      // Released from a callback on one of our own threads: that thread cannot join
      // itself, so a helper thread completes the shutdown.
      logger().debug("engine released on one of its own threads; shutting down on a helper");
      shut_down_on_helper(std::move(core_));
      return;
    }
    core_->teardown();
  }

  using Engine::read;
  using Engine::scan;
  using Engine::sync;
  using Engine::write;

  [[nodiscard]] BackendKind backend() const noexcept override { return core_->options().backend; }
  [[nodiscard]] const EngineOptions& options() const noexcept override { return core_->options(); }
  [[nodiscard]] EngineStats stats() const override { return core_->stats(); }

  [[nodiscard]] StagingBuffer acquire_buffer() override { return core_->pool().acquire(); }
  [[nodiscard]] std::optional<StagingBuffer> try_acquire_buffer() override {
    return core_->pool().try_acquire();
  }

  void write(const File& file, std::uint64_t offset, std::span<const std::byte> src,
             DoneCallback done) override {
    TransferSpec s;
    s.op = IoOp::Write;
    s.file = &file;
    s.offset = offset;
    s.length = src.size();
    s.mem = const_cast<std::byte*>(src.data());  // only ever read from
    s.done = std::move(done);
    start(std::move(s));
  }

  void write(const File& file, std::uint64_t offset, StagingBuffer buffer, std::size_t len,
             DoneCallback done) override {
    if (!buffer || len > buffer.capacity()) {
      const std::string what = !buffer ? "an empty staging buffer"
                                       : std::to_string(len) + " bytes from a staging buffer of " +
                                             std::to_string(buffer.capacity());
      buffer.reset();
      if (done) done(std::make_exception_ptr(Error(Errc::InvalidArgument, "write of " + what)));
      return;
    }
    TransferSpec s;
    s.op = IoOp::Write;
    s.file = &file;
    s.offset = offset;
    s.length = len;
    s.mem = buffer.data().data();
    s.owned = std::move(buffer);
    s.done = std::move(done);
    start(std::move(s));
  }

  void read(const File& file, std::uint64_t offset, std::span<std::byte> dst, bool want_crc,
            CrcCallback done) override {
    TransferSpec s;
    s.op = IoOp::Read;
    s.file = &file;
    s.offset = offset;
    s.length = dst.size();
    s.mem = dst.data();
    s.want_crc = want_crc;
    s.crc_done = std::move(done);
    start(std::move(s));
  }

  void scan(const File& file, std::uint64_t offset, std::uint64_t length, ChunkCallback on_chunk,
            DoneCallback done) override {
    if (!on_chunk) {
      if (done)
        done(
            std::make_exception_ptr(Error(Errc::InvalidArgument, "scan without a chunk callback")));
      return;
    }
    TransferSpec s;
    s.op = IoOp::Read;
    s.file = &file;
    s.offset = offset;
    s.length = length;
    s.on_chunk = std::move(on_chunk);
    s.done = std::move(done);
    start(std::move(s));
  }

  void sync(const File& file, bool data_only, DoneCallback done) override {
    TransferSpec s;
    s.op = IoOp::Sync;
    s.file = &file;
    s.datasync = data_only;
    s.done = std::move(done);
    start(std::move(s));
  }

  void post(std::function<void()> task, DoneCallback done) override {
    post_to(core_->workers(), std::move(task), std::move(done));
  }

  void post_blocking(std::function<void()> task, DoneCallback done) override {
    post_to(core_->blocking(), std::move(task), std::move(done));
  }

 private:
  void start(TransferSpec s) noexcept {
    // Before any request: the backend may register the File's descriptors (fixed files).
    core_->backend().note_file(*s.file);
    run_transfer(*core_, std::move(s));
  }

  void post_to(WorkerPool& pool, std::function<void()> task, DoneCallback done) {
    if (!core_->begin_op()) {
      if (done) done(std::make_exception_ptr(Error(Errc::Cancelled, "engine shut down")));
      return;
    }
    PostItem* item = nullptr;
    try {
      item = new PostItem(*core_, std::move(task), std::move(done));
    } catch (...) {
      core_->end_op();
      if (done) done(std::current_exception());
      return;
    }
    pool.push(item);
  }

  std::shared_ptr<Core> core_;
};

void require(bool ok, const std::string& what) {
  if (!ok) throw Error(Errc::InvalidArgument, "engine options: " + what);
}

}  // namespace

void validate(const EngineOptions& o) {
  require(o.chunk_size != 0 && o.chunk_size % 4096 == 0 && o.chunk_size <= kMaxChunk,
          "chunk_size " + std::to_string(o.chunk_size) +
              " must be a positive multiple of 4096 of at most 1 GiB");
  require(o.queue_depth != 0 && o.queue_depth <= 1024,
          "queue_depth " + std::to_string(o.queue_depth) + " must be in [1, 1024]");
  require(o.buffer_count != 0 && o.buffer_count <= 4096,
          "buffer_count " + std::to_string(o.buffer_count) + " must be in [1, 4096]");
  require(o.max_buffer_count == 0 ||
              (o.max_buffer_count >= o.buffer_count && o.max_buffer_count <= 65536),
          "max_buffer_count " + std::to_string(o.max_buffer_count) +
              " must be 0 or in [buffer_count, 65536]");
  require(o.worker_threads != 0 && o.worker_threads <= 256,
          "worker_threads " + std::to_string(o.worker_threads) + " must be in [1, 256]");
  require(o.io_threads != 0 && o.io_threads <= 256,
          "io_threads " + std::to_string(o.io_threads) + " must be in [1, 256]");
}

std::shared_ptr<Engine> make_engine(const EngineOptions& options, const BackendFactory& factory) {
  validate(options);
  install_exit_join();
  return std::make_shared<EngineImpl>(options, factory);
}

}  // namespace detail

std::shared_ptr<Engine> Engine::create(const EngineOptions& options) {
  return detail::make_engine(
      options, [](const EngineOptions& o, std::span<const iovec> buffers, detail::OwnerTag owner) {
        return detail::make_backend(o, buffers, owner);
      });
}

void Engine::wait_for_released_engines() {
  if (!detail::join_released_engines()) {
    throw Error(Errc::InvalidArgument,
                "Engine::wait_for_released_engines called on an engine thread (a callback)");
  }
}

std::shared_ptr<Engine> Engine::shared() {
  static const std::shared_ptr<Engine> instance = create();
  return instance;
}

}  // namespace stsw
