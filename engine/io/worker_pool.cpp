#include "io/worker_pool.hpp"

#include "io/engine_threads.hpp"

namespace stsw::detail {

WorkerPool::WorkerPool(unsigned threads, OwnerTag owner, const char* name) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this, owner, name] { loop(owner, name); });
  }
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::push(WorkItem* item) noexcept {
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      item->next_work = nullptr;
      if (tail_ != nullptr) {
        tail_->next_work = item;
      } else {
        head_ = item;
      }
      tail_ = item;
      cv_.notify_one();
      return;
    }
  }
  item->cancel();
}

void WorkerPool::begin_cancel() noexcept {
  std::lock_guard lock(mu_);
  cancel_ = true;
}

void WorkerPool::shutdown() noexcept {
  {
    std::lock_guard lock(mu_);
    if (stop_ && threads_.empty()) return;
    stop_ = true;
    cancel_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void WorkerPool::loop(OwnerTag owner, const char* name) noexcept {
  enter_engine_thread(owner, name);
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return head_ != nullptr || stop_; });
    if (head_ == nullptr) return;  // stopping and drained
    WorkItem* item = head_;
    head_ = item->next_work;
    if (head_ == nullptr) tail_ = nullptr;
    const bool cancel = cancel_;
    lock.unlock();
    if (cancel) {
      item->cancel();
    } else {
      item->run();
    }
    lock.lock();
  }
}

}  // namespace stsw::detail
