// The exhaustive fault sweep of issue 8: every fault kind (EIO, ENOSPC, EAGAIN, EINTR, short
// transfer) at every engine request index (Fault::Op::Any: reads, writes and syncs in one
// numbering) of a small write (StreamWriter open -> write_block -> close) and of a small read
// (read_into of every tensor; verify), on both backends, Direct and Buffered.
//
// Every run must end in a clean stsw::Error through the future (EIO / ENOSPC that landed) or
// in success (retried faults, or an index the run did not reach), within a time limit (a
// hang prints the tally and which run hung, and aborts), with every staging buffer back in
// the engine's pool.
// A failed write leaves the previous file at the path byte-identical and no temporary file;
// a successful one leaves a strictly valid file with correct CRCs.
//
// The engine suite sweeps raw transfers (tests/engine/fault_test.cpp); the writer and
// reader suites sweep single op kinds (writer_errors_test.cpp: EIO/ENOSPC per write, EIO
// per sync; reader_fault_test.cpp: threads backend). This one is end to end over the
// whole request sequence, and prints "faults: runs N, clean errors N, successes N, hangs 0,
// leaks 0".
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "io/fault_injection.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"
#include "writer/writer_test_support.hpp"

namespace stsw {
namespace {

using testing::Fault;
using testing::FaultCounters;
using testing::FaultPlan;
using writer_test::DataMap;
using writer_test::IoConfig;

constexpr std::size_t kChunk = 16 * 1024;
constexpr std::chrono::seconds kRunLimit{60};
constexpr Fault::Kind kKinds[] = {Fault::Kind::Eio, Fault::Kind::Enospc, Fault::Kind::Eagain,
                                  Fault::Kind::Eintr, Fault::Kind::Short};

const char* kind_name(Fault::Kind k) {
  switch (k) {
    case Fault::Kind::Eio: return "EIO";
    case Fault::Kind::Enospc: return "ENOSPC";
    case Fault::Kind::Eagain: return "EAGAIN";
    case Fault::Kind::Eintr: return "EINTR";
    case Fault::Kind::Short: return "short";
  }
  return "?";
}

struct Tally {
  int runs = 0;
  int clean_errors = 0;
  int successes = 0;
  int hangs = 0;
  int leaks = 0;
  void add(const Tally& o) {
    runs += o.runs;
    clean_errors += o.clean_errors;
    successes += o.successes;
    hangs += o.hangs;
    leaks += o.leaks;
  }
  void print(const char* what) const {
    std::printf("faults (%s): runs %d, clean errors %d, successes %d, hangs %d, leaks %d\n", what,
                runs, clean_errors, successes, hangs, leaks);
    std::fflush(stdout);
  }
};

Tally& total() {
  static Tally t;
  return t;
}

// Prints the whole binary's figure when it runs as one process.
class SummaryEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { total().print("all"); }
};
const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new SummaryEnvironment);

// What one run observed, filled in on the run's own thread.
struct Outcome {
  std::exception_ptr error;
  bool injected = false;
  EngineStats stats;  // after the writer or reader is gone
};

// Runs `body` on its own thread with a fresh faulty engine; nullopt when it did not finish
// within kRunLimit (the caller then ends the process: the thread still uses its state).
using Body = std::function<void(const std::shared_ptr<Engine>&)>;
std::optional<Outcome> run_once(const EngineOptions& eo, FaultPlan plan, Body body) {
  auto result = std::make_shared<std::promise<Outcome>>();
  auto fut = result->get_future();
  std::thread([eo, plan = std::move(plan), body = std::move(body), result]() mutable {
    Outcome out;
    std::shared_ptr<FaultCounters> counters;
    auto engine = testing::make_faulty_engine(eo, std::move(plan), &counters);
    try {
      body(engine);
    } catch (...) {
      out.error = std::current_exception();
    }
    // Buffers go back to the pool just after the completion that released them.
    out.stats = engine->stats();
    for (int i = 0; i < 400 && out.stats.buffers_free != out.stats.buffers_total; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      out.stats = engine->stats();
    }
    out.injected = counters->injected.load() > 0;
    engine.reset();
    result->set_value(std::move(out));
  }).detach();
  if (fut.wait_for(kRunLimit) != std::future_status::ready) return std::nullopt;
  return fut.get();
}

// Requests (all kinds) of `body` on a clean engine.
std::uint64_t count_requests(const EngineOptions& eo, const Body& body) {
  std::shared_ptr<FaultCounters> counters;
  {
    auto engine = testing::make_faulty_engine(eo, {}, &counters);
    body(engine);
  }
  return counters->count(Fault::Op::Any);
}

std::vector<TensorMeta> small_metas() {
  return writer_test::contiguous(
      {{"a", DType::F32, {10000}}, {"b", DType::U8, {12345}}, {"c", DType::U8, {7}}});
}

DataMap small_data() {
  DataMap d;
  unsigned seed = 1;
  for (const TensorMeta& m : small_metas()) d[m.name] = writer_test::pattern(m.nbytes(), seed++);
  return d;
}

// open -> write_block (pieces of 5000 bytes) -> close; aborts on failure, rethrows.
void write_small(const std::string& path, IoMode mode, const DataMap& data,
                 const std::shared_ptr<Engine>& engine) {
  WriterOptions o;
  o.engine = engine;
  o.io_mode = mode;
  const auto metas = small_metas();
  auto w = StreamWriter::open(path, metas, o);
  try {
    for (const TensorMeta& m : metas) {
      const std::vector<std::byte>& bytes = data.at(m.name);
      for (std::size_t off = 0; off < bytes.size(); off += 5000) {
        w.write_block(
             m.name, std::span(bytes).subspan(off, std::min<std::size_t>(5000, bytes.size() - off)))
            .get();
      }
    }
    w.close().get();
  } catch (...) {
    w.abort();
    throw;
  }
}

bool fatal(Fault::Kind k) { return k == Fault::Kind::Eio || k == Fault::Kind::Enospc; }

// Checks one run's outcome; true when it is a clean error (else a success).
bool check_outcome(const Outcome& out, Fault::Kind kind, const std::string& path, Tally& t) {
  if (out.stats.buffers_free != out.stats.buffers_total || out.stats.in_flight != 0) {
    ++t.leaks;
    ADD_FAILURE() << "leak: " << out.stats.buffers_free << " of " << out.stats.buffers_total
                  << " buffers free, " << out.stats.in_flight << " requests in flight";
  }
  if (!(fatal(kind) && out.injected)) {
    if (out.error) {
      try {
        std::rethrow_exception(out.error);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "a retried or unreached fault failed the run: " << e.what();
      }
    }
    return false;
  }
  if (!out.error) {
    ADD_FAILURE() << "the fault landed but the run succeeded";
    return false;
  }
  try {
    std::rethrow_exception(out.error);
  } catch (const Error& e) {
    const bool eio = kind == Fault::Kind::Eio;
    EXPECT_EQ(e.code(), eio ? Errc::Io : Errc::NoSpace) << e.what();
    EXPECT_EQ(e.sys_errno(), eio ? EIO : ENOSPC) << e.what();
    EXPECT_NE(e.message().find(path), std::string::npos)
        << "the error names the file: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a stsw::Error: " << e.what();
  }
  return true;
}

class FaultSweep : public ::testing::TestWithParam<IoConfig> {
 protected:
  void SetUp() override {
    if (GetParam().backend == BackendKind::Uring && !writer_test::make_engine(BackendKind::Uring)) {
      GTEST_SKIP() << "io_uring is not usable here (io_uring_queue_init denied)";
    }
    eo_.backend = GetParam().backend;
    eo_.chunk_size = kChunk;
    eo_.buffer_count = 4;
    eo_.queue_depth = 4;
    eo_.worker_threads = 2;
  }

  // Injects every kind at every index below `n`; `after` checks the files after each run.
  void sweep(
      const char* what, std::uint64_t n, const Body& body, const std::string& named_path,
      const std::function<void(bool clean_error)>& after,
      const std::function<void()>& before = [] {}) {
    ASSERT_GT(n, 0U);
    Tally t;
    for (Fault::Kind kind : kKinds) {
      for (std::uint64_t i = 0; i < n; ++i) {
        SCOPED_TRACE(::testing::Message()
                     << what << ": " << kind_name(kind) << " at request " << i << " of " << n);
        before();
        ++t.runs;
        const auto out = run_once(eo_, FaultPlan{{Fault{Fault::Op::Any, i, kind}}, false}, body);
        if (!out) {
          ++t.hangs;
          t.print(what);
          std::fprintf(stderr, "HANG: %s with %s at request %llu did not finish within %lld s\n",
                       what, kind_name(kind), static_cast<unsigned long long>(i),
                       static_cast<long long>(kRunLimit.count()));
          std::abort();
        }
        const bool clean_error = check_outcome(*out, kind, named_path, t);
        (clean_error ? t.clean_errors : t.successes)++;
        after(clean_error);
      }
    }
    total().add(t);
    t.print(what);
    EXPECT_EQ(t.hangs, 0);
    EXPECT_EQ(t.leaks, 0);
    // Requests before index i are those of the clean run, so every EIO/ENOSPC lands.
    EXPECT_EQ(t.clean_errors, static_cast<int>(2 * n));
  }

  EngineOptions eo_;
  writer_test::TempDir dir_;
};

TEST_P(FaultSweep, SmallWrite) {
  const IoMode mode = GetParam().mode;
  const DataMap data = small_data();
  const std::string path = dir_.file("f.safetensors");
  const auto old = writer_test::pattern(777, 99);
  const Body body = [&](const std::shared_ptr<Engine>& e) { write_small(path, mode, data, e); };
  writer_test::write_file(path, old);
  const std::uint64_t n = count_requests(eo_, body);
  const std::vector<std::string> only{"f.safetensors"};
  sweep(
      "write", n, body, path,
      [&](bool clean_error) {
        if (clean_error) {
          EXPECT_EQ(writer_test::read_file(path), old) << "the previous file was touched";
        } else {
          writer_test::check_file(path, true, &data);
        }
        EXPECT_EQ(dir_.entries(), only) << "a temporary file was left behind";
      },
      [&] { writer_test::write_file(path, old); });
}

TEST_P(FaultSweep, SmallReadInto) {
  const DataMap data = small_data();
  const std::string path = dir_.file("r.safetensors");
  write_small(path, IoMode::Buffered, data, writer_test::make_engine(BackendKind::Threads));
  const auto file = writer_test::read_file(path);
  const ReadMode mode = GetParam().mode == IoMode::Direct ? ReadMode::Direct : ReadMode::Buffered;
  const Body body = [&](const std::shared_ptr<Engine>& e) {
    ReaderOptions o;
    o.engine = e;
    o.io_mode = mode;
    // Every injected EIO must fail the run; a read-ahead window whose failed bytes are
    // read again would not. Faults in read-ahead: tests/reader/reader_read_ahead_test.cpp.
    o.read_ahead = false;
    const auto r = StreamReader::open(path, o);
    for (const auto& [name, want] : data) {
      std::vector<std::byte> dst(want.size());
      r.read_into(name, dst).get();
      EXPECT_EQ(dst, want) << "wrong bytes in '" << name << "'";
    }
  };
  sweep("read_into", count_requests(eo_, body), body, path,
        [&](bool) { EXPECT_EQ(writer_test::read_file(path), file); });
}

TEST_P(FaultSweep, SmallVerify) {
  const DataMap data = small_data();
  const std::string path = dir_.file("v.safetensors");
  write_small(path, IoMode::Buffered, data, writer_test::make_engine(BackendKind::Threads));
  const ReadMode mode = GetParam().mode == IoMode::Direct ? ReadMode::Direct : ReadMode::Buffered;
  const Body body = [&](const std::shared_ptr<Engine>& e) {
    ReaderOptions o;
    o.engine = e;
    o.io_mode = mode;
    const VerifyReport rep = StreamReader::open(path, o).verify().get();
    EXPECT_TRUE(rep.passed());
    EXPECT_EQ(rep.ok, data.size());
  };
  sweep("verify", count_requests(eo_, body), body, path, [](bool) {});
}

INSTANTIATE_TEST_SUITE_P(Io, FaultSweep, ::testing::ValuesIn(writer_test::io_configs()),
                         [](const auto& info) { return writer_test::config_name(info.param); });

}  // namespace
}  // namespace stsw
