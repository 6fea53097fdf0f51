// Worker threads for CRC-32, staging copies, scan callbacks and Engine::post tasks; the
// same class, with one thread, is the engine's blocking-call thread (Engine::post_blocking).
// Items are intrusive (no allocation per item) and run in FIFO order on any worker.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "io/backend.hpp"

namespace stsw::detail {

class WorkItem {
 public:
  virtual void run() noexcept = 0;
  // Called instead of run() once the engine is shutting down.
  virtual void cancel() noexcept = 0;
  WorkItem* next_work = nullptr;

 protected:
  WorkItem() = default;
  ~WorkItem() = default;
};

class WorkerPool {
 public:
  // `name` (at most 15 bytes) names the threads (/proc/self/task/*/comm).
  WorkerPool(unsigned threads, OwnerTag owner, const char* name = "stsw-worker");
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  // Thread-safe. After shutdown() the item is cancelled on the caller's thread.
  void push(WorkItem* item) noexcept;
  // From now on queued and new items are cancelled rather than run.
  void begin_cancel() noexcept;
  // Drains the queue (cancelling), then joins the workers. Not from a worker thread.
  void shutdown() noexcept;

 private:
  void loop(OwnerTag owner, const char* name) noexcept;

  std::mutex mu_;
  std::condition_variable cv_;
  WorkItem* head_ = nullptr;
  WorkItem* tail_ = nullptr;
  bool cancel_ = false;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace stsw::detail
