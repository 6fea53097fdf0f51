// ReadOp: one pending StreamReader::read_into into a Python buffer, seen from Python as
// _stsw.ReadOp and wrapped by stsw.ReadFuture (python/stsw/futures.py).
//
// Lifecycle. start() holds the destination's Py_buffer and submits the read; the engine's
// completion (on an engine thread) marks the op done and wakes waiters without touching
// Python, unless Python callbacks were registered: then it takes the GIL, runs them (each
// exception is reported as unraisable, as concurrent.futures logs them) and drops them.
// Destroying a ReadOp whose read is still in flight waits for it (GIL released), so the
// destination buffer is never released or freed while the engine writes into it.
//
// Thread safety. All methods are called from Python threads with the GIL held; the
// shared state is guarded by its mutex.
#pragma once

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common.hpp"
#include "stsw/engine.hpp"

namespace stsw::py {

struct ReadOpState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  std::vector<pyb::object> callbacks;  // copied/destroyed with the GIL held only
};

class ReadOp {
 public:
  ReadOp(BufferGuard buffer, pyb::object keep);
  ReadOp(const ReadOp&) = delete;
  ReadOp& operator=(const ReadOp&) = delete;
  ~ReadOp();

  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return buffer_.bytes(); }
  // The completion to hand to the engine (runs once, on any thread).
  [[nodiscard]] DoneCallback completion() const;

  [[nodiscard]] bool done() const;
  // Waits (GIL released) up to `timeout` seconds (forever when nullopt); true when done.
  bool wait(std::optional<double> timeout) const;
  // wait(), then raises the read's stsw.Error, if any. TimeoutError when not done in time.
  void result(std::optional<double> timeout) const;
  // Runs fn() once the read completed: now, on this thread, when it already has.
  void add_done_callback(pyb::object fn);
  // The destination object given to read_into.
  [[nodiscard]] pyb::object out() const { return keep_; }

 private:
  std::shared_ptr<ReadOpState> state_ = std::make_shared<ReadOpState>();
  BufferGuard buffer_;
  pyb::object keep_;
};

}  // namespace stsw::py
