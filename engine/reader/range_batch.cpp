#include "reader/range_batch.hpp"

#include <algorithm>
#include <mutex>

#include "core/logging.hpp"
#include "reader/read_ops.hpp"
#include "stsw/error.hpp"

namespace stsw::detail {

void start_range(Engine& engine, const RangeItem& item, bool check_crc, DoneCallback done) {
  if (!item.shard) {
    post_error(engine, item.error, std::move(done));
    return;
  }
  const TensorMeta& m = item.shard->header.tensors[item.index];
  if (item.offset == 0 && item.dst.size() == m.nbytes()) {
    start_read(engine, item.shard, item.index, item.dst, check_crc, std::move(done));
  } else if (item.dst.empty()) {
    engine.post([] {}, std::move(done));
  } else {
    start_partial_read(engine, item.shard, item.index, item.offset, item.dst, std::move(done));
  }
}

namespace {

class Batch : public std::enable_shared_from_this<Batch> {
 public:
  Batch(std::shared_ptr<Engine> engine, std::vector<RangeItem> items, bool check_crc,
        std::uint64_t max_in_flight, std::function<void(std::size_t, std::exception_ptr)> on_each,
        DoneCallback done)
      : engine_(std::move(engine)),
        items_(std::move(items)),
        check_crc_(check_crc),
        max_(max_in_flight),
        on_each_(std::move(on_each)),
        done_(std::move(done)) {}

  // Fails the batch before anything started (the first pump never ran).
  void abandon(std::exception_ptr error) {
    {
      std::lock_guard lock(mu_);
      if (!error_) error_ = std::move(error);
    }
    pump();
  }

  // Starts what the bound allows; reports never-started items once failed; finishes.
  void pump() {
    for (;;) {
      std::vector<std::size_t> start;
      std::vector<std::size_t> skipped;
      bool finish = false;
      {
        std::lock_guard lock(mu_);
        if (finished_) return;
        while (next_ < items_.size()) {
          const std::uint64_t n = items_[next_].dst.size();
          if (error_) {
            skipped.push_back(next_++);
            continue;
          }
          if (running_ != 0 && bytes_ + n > max_) break;
          bytes_ += n;
          ++running_;
          start.push_back(next_++);
        }
        if (start.empty() && running_ == 0 && next_ == items_.size()) {
          finish = finished_ = true;
        }
      }
      for (std::size_t i : skipped) {
        report(i, std::make_exception_ptr(
                      Error(Errc::Cancelled, "batch read: not started after an earlier failure")));
      }
      if (finish) {
        DoneCallback done = std::move(done_);
        done(error_);
        return;
      }
      if (start.empty()) return;
      for (std::size_t i : start) {
        start_range(*engine_, items_[i], check_crc_,
                    [self = shared_from_this(), i](std::exception_ptr e) { self->finished(i, e); });
      }
      // Completions pump themselves; a loop here only serves skipped items and the finish.
      std::lock_guard lock(mu_);
      if (running_ != 0 || next_ != items_.size()) return;
    }
  }

 private:
  void finished(std::size_t i, std::exception_ptr error) {
    {
      std::lock_guard lock(mu_);
      if (error && !error_) error_ = error;  // no new item starts from now on
    }
    // Reported before the item stops counting as running: `done` follows every report.
    report(i, error);
    {
      std::lock_guard lock(mu_);
      --running_;
      bytes_ -= items_[i].dst.size();
    }
    pump();
  }

  void report(std::size_t i, std::exception_ptr error) noexcept {
    if (!on_each_) return;
    try {
      on_each_(i, std::move(error));
    } catch (...) {
      logger().error("a read_batch on_done callback threw; ignored");
    }
  }

  std::shared_ptr<Engine> engine_;
  std::vector<RangeItem> items_;
  bool check_crc_;
  std::uint64_t max_;
  std::function<void(std::size_t, std::exception_ptr)> on_each_;
  DoneCallback done_;

  std::mutex mu_;
  std::size_t next_ = 0;
  std::size_t running_ = 0;
  std::uint64_t bytes_ = 0;
  std::exception_ptr error_;
  bool finished_ = false;
};

}  // namespace

void run_ranges(std::shared_ptr<Engine> engine, std::vector<RangeItem> items, bool check_crc,
                std::uint64_t max_in_flight,
                std::function<void(std::size_t, std::exception_ptr)> on_each, DoneCallback done) {
  try {
    auto batch = std::make_shared<Batch>(engine, std::move(items), check_crc,
                                         std::max<std::uint64_t>(max_in_flight, 1),
                                         std::move(on_each), std::move(done));
    // The first pump runs on a worker: `done` must not run on the caller's thread.
    engine->post([batch] { batch->pump(); },
                 [batch](std::exception_ptr e) {
                   if (e) batch->abandon(std::move(e));  // the engine shut down
                 });
  } catch (...) {
    if (done) done(std::current_exception());
  }
}

}  // namespace stsw::detail
