// Many StreamWriters open at once on one engine (issue 16): the staging pool grows past
// its registered buffers so that 64 writers on Engine::shared() all finish, and at the
// pool's cap open() fails at once with NoSpace naming the path instead of hanging.
// Engine::shared() follows STSW_IO_BACKEND; the explicit engines cover both backends.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "io/fault_injection.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "support/backend_name.hpp"
#include "support/engine_settle.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

constexpr int kWriters = 64;

std::vector<TensorMeta> plan() {
  return contiguous({{"a", DType::F32, {300}}, {"b", DType::U8, {70000}}});
}

// Opens kWriters writers on `engine` (null: the shared one), writes them interleaved from
// several threads and closes them all; every file must check out.
void run_many(const std::shared_ptr<Engine>& engine) {
  TempDir dir;
  const auto metas = plan();
  std::vector<DataMap> data(kWriters);
  std::vector<StreamWriter> writers;
  WriterOptions o;
  o.engine = engine;
  o.durable = false;
  for (int i = 0; i < kWriters; ++i) {
    data[i]["a"] = pattern(1200, 2 * i);
    data[i]["b"] = pattern(70000, 2 * i + 1);
    writers.push_back(StreamWriter::open(dir.file("f" + std::to_string(i)), metas, o));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kWriters; i += 4) {
        auto a = writers[i].write_block("a", data[i]["a"]);
        auto b1 = writers[i].write_block("b", std::span(data[i]["b"]).first(30000));
        auto b2 = writers[i].write_block("b", std::span(data[i]["b"]).subspan(30000));
        a.get();
        b1.get();
        b2.get();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::future<void>> closes;
  for (auto& w : writers) closes.push_back(w.close());
  for (auto& c : closes) {
    ASSERT_EQ(c.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    c.get();
  }
  for (int i = 0; i < kWriters; ++i) check_file(dir.file("f" + std::to_string(i)), true, &data[i]);
}

TEST(ManyWriters, SixtyFourOnTheSharedEngine) {
  auto f = std::async(std::launch::async, [] { run_many(nullptr); });
  ASSERT_EQ(f.wait_for(std::chrono::seconds(120)), std::future_status::ready)
      << "64 writers on Engine::shared() did not finish (deadlock?)";
  f.get();
}

class ManyWritersBackend : public ::testing::TestWithParam<BackendKind> {};

TEST_P(ManyWritersBackend, SixtyFourOnADefaultEngine) {
  EngineOptions eo;
  eo.backend = GetParam();
  auto engine = Engine::create(eo);
  if (GetParam() == BackendKind::Uring && engine->backend() != BackendKind::Uring) {
    GTEST_SKIP() << "io_uring is not available on this kernel";
  }
  auto f = std::async(std::launch::async, [&] { run_many(engine); });
  ASSERT_EQ(f.wait_for(std::chrono::seconds(120)), std::future_status::ready)
      << "64 writers on one engine did not finish (deadlock?)";
  f.get();
  EXPECT_EQ(engine->stats().buffers_total, engine->options().buffer_count)
      << "extra buffers are given back once the writers are done";
}

TEST_P(ManyWritersBackend, AtThePoolCapOpenFailsAtOnce) {
  EngineOptions eo;
  eo.backend = GetParam();
  eo.chunk_size = 64 * 1024;
  eo.buffer_count = 2;
  eo.max_buffer_count = 3;
  auto engine = Engine::create(eo);
  if (GetParam() == BackendKind::Uring && engine->backend() != BackendKind::Uring) {
    GTEST_SKIP() << "io_uring is not available on this kernel";
  }
  TempDir dir;
  WriterOptions o;
  o.engine = engine;
  o.durable = false;
  std::vector<StreamWriter> writers;
  for (int i = 0; i < 3; ++i)
    writers.push_back(StreamWriter::open(dir.file(std::to_string(i)), plan(), o));
  const std::string path = dir.file("over");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    (void)StreamWriter::open(path, plan(), o);
    FAIL() << "a 4th writer at a cap of 3 buffers must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NoSpace) << e.what();
    EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("staging pool exhausted"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(dir.entries().size(), 0U) << "no temporary file left by the failed open";
  EXPECT_LE(engine->stats().buffers_total, 3U);
  writers[0].abort();
  auto w = StreamWriter::open(path, plan(), o);  // room again
  w.abort();
  for (auto& x : writers) x.abort();
}

// More writers than registered buffers on a faulty engine: an EIO at every write request
// in turn fails exactly the writers it hits (Io, naming their path), the others finish,
// nothing hangs, and every buffer (registered and grown) comes back.
TEST_P(ManyWritersBackend, FaultsWhileThePoolIsGrown) {
  EngineOptions eo;
  eo.backend = GetParam();
  eo.chunk_size = 16 * 1024;
  eo.buffer_count = 2;
  eo.max_buffer_count = 16;
  if (GetParam() == BackendKind::Uring && !make_engine(BackendKind::Uring)) {
    GTEST_SKIP() << "io_uring is not available on this kernel";
  }
  constexpr int kN = 6;
  const auto metas = plan();
  DataMap d;
  d["a"] = pattern(1200, 1);
  d["b"] = pattern(70000, 2);
  auto run = [&](testing::FaultPlan fp, std::shared_ptr<testing::FaultCounters>* counters) {
    TempDir dir;
    auto engine = testing::make_faulty_engine(eo, std::move(fp), counters);
    WriterOptions o;
    o.engine = engine;
    o.durable = false;
    std::vector<StreamWriter> ws;
    for (int i = 0; i < kN; ++i)
      ws.push_back(StreamWriter::open(dir.file(std::to_string(i)), metas, o));
    int failed = 0;
    for (int i = 0; i < kN; ++i) {
      try {
        ws[i].write_block("a", d["a"]).get();
        ws[i].write_block("b", d["b"]).get();
        ws[i].close().get();
        check_file(dir.file(std::to_string(i)), true, &d);
      } catch (const Error& e) {
        ++failed;
        EXPECT_EQ(e.code(), Errc::Io) << e.what();
        EXPECT_NE(e.message().find(dir.file(std::to_string(i))), std::string::npos) << e.what();
        ws[i].abort();
      }
    }
    ws.clear();
    const EngineStats st = test::settled_stats(*engine);
    EXPECT_EQ(st.buffers_free, st.buffers_total) << "a staging buffer leaked";
    EXPECT_EQ(st.buffers_total, 2U) << "grown buffers are given back";
    return failed;
  };
  std::shared_ptr<testing::FaultCounters> counters;
  ASSERT_EQ(run({}, &counters), 0);
  const std::uint64_t writes = counters->count(testing::Fault::Op::Write);
  ASSERT_GE(writes, static_cast<std::uint64_t>(kN));
  for (std::uint64_t i = 0; i < writes; ++i) {
    SCOPED_TRACE(i);
    testing::FaultPlan fp;
    fp.faults.push_back({testing::Fault::Op::Write, i, testing::Fault::Kind::Eio});
    auto f = std::async(std::launch::async, [&] { return run(fp, nullptr); });
    ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "hang";
    EXPECT_EQ(f.get(), 1) << "exactly the writer whose write failed fails";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ManyWritersBackend,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw::writer_test
