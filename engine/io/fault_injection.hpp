// Fault injection for tests: an Engine whose backend wraps the real one (the backend the
// options select) and makes chosen requests fail, stall or come back short.
//
// Requests are numbered from 0 as they are submitted to the backend, separately for
// each kind of operation (Read, Write, Sync) and once more across all kinds (Any). A
// transfer of n chunks submits n requests, plus one per retry. A Fault applies to the
// request whose number for its op kind equals `index`:
//   Eio, Enospc  the request does no I/O and completes with -EIO / -ENOSPC, which the
//                engine reports as Errc::Io / Errc::NoSpace (sys_errno() says which);
//   Eagain, Eintr  the request does no I/O and completes with -EAGAIN / -EINTR, which
//                the engine retries: the operation still succeeds;
//   Short        the request runs but reports half its bytes (at least 1; none for a
//                request of 1 byte or a sync), so the engine resubmits the remainder.
//
// Typical use: run the operation once with an empty plan and read the counters, then
// once per (kind, index) with that fault injected:
//
//   std::shared_ptr<stsw::testing::FaultCounters> counters;
//   auto engine = stsw::testing::make_faulty_engine(options, {}, &counters);
//   ... run the operation ...; n = counters->count(Fault::Op::Write);
//   for (i < n) { auto e = make_faulty_engine(options, {{{Fault::Op::Write, i, Kind::Eio}}});
//                 expect the operation's future to throw stsw::Error; }
//
// Stable interface: the writer and reader test suites rely on it.
//
// Built into the tests only (the stsw_fault_injection library, linked through
// stsw_test_support); libstsw carries none of it. The one hook in production code is the
// BackendFactory that detail::make_engine takes (io/backend.hpp), called once per engine.
// The faulty backend wraps the real one and, for a faulted request, submits a proxy
// request (a copy of it, owned by the backend, one per planned fault) whose completion
// hands the replaced or capped result to the original: a production IoRequest holds no
// fault state and its completion path has no fault branch (64 bytes instead of 72).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw::testing {

struct Fault {
  enum class Op { Read, Write, Sync, Any };
  enum class Kind { Eio, Enospc, Eagain, Eintr, Short };
  Op op = Op::Any;
  std::uint64_t index = 0;  // 0-based request number within `op`
  Kind kind = Kind::Eio;
};

struct FaultPlan {
  std::vector<Fault> faults;
  // Pretend io_uring_register_buffers failed (as with a small RLIMIT_MEMLOCK): the
  // engine then uses unregistered staging buffers and plain opcodes.
  bool fail_buffer_registration = false;
};

// Requests seen by a faulty engine's backend (thread-safe; read at any time).
struct FaultCounters {
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> writes{0};
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> any{0};
  std::atomic<std::uint64_t> injected{0};  // faults applied so far

  [[nodiscard]] std::uint64_t count(Fault::Op op) const noexcept {
    switch (op) {
      case Fault::Op::Read: return reads.load();
      case Fault::Op::Write: return writes.load();
      case Fault::Op::Sync: return syncs.load();
      case Fault::Op::Any: return any.load();
    }
    return 0;
  }
};

// An engine like Engine::create(options) whose requests suffer `plan`. When `out` is
// given it receives the engine's counters. Throws like Engine::create.
[[nodiscard]] std::shared_ptr<Engine> make_faulty_engine(
    const EngineOptions& options, FaultPlan plan, std::shared_ptr<FaultCounters>* out = nullptr);

}  // namespace stsw::testing
