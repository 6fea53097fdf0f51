// write_block under backpressure (issue 16): with every staging buffer of the writer busy,
// write_block returns at once with a future that is not ready, queues the bytes, and
// completes the future once they are staged; order and CRCs stay exact. The device is made
// "slow" deterministically: the engine's only worker is held, so the copies into the staged
// buffers (and with them the buffers' writes) wait.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>

#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

using namespace std::chrono_literals;

constexpr auto kHang = 60s;  // bounds a hang, never a speed

class WriteBlockBacklog : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    EngineOptions eo;
    eo.backend = GetParam();
    eo.chunk_size = 64 * 1024;
    eo.buffer_count = 2;
    eo.worker_threads = 1;
    engine_ = Engine::create(eo);
    if (GetParam() == BackendKind::Uring && engine_->backend() != BackendKind::Uring) {
      GTEST_SKIP() << "io_uring is not available on this kernel";
    }
    opts_.engine = engine_;
    opts_.buffer_count = 2;
  }

  // write_block on another thread; fails the test (and opens the gate) when the call itself
  // does not return.
  std::future<void> write_block_returning(StreamWriter& w, const std::string& name,
                                          std::span<const std::byte> data, Gate& gate) {
    auto call = std::async(std::launch::async, [&] { return w.write_block(name, data); });
    if (call.wait_for(kHang) != std::future_status::ready) {
      gate.open();
      ADD_FAILURE() << "write_block blocked its caller";
    }
    return call.get();
  }

  std::shared_ptr<Engine> engine_;
  WriterOptions opts_;
  TempDir dir_;
};

TEST_P(WriteBlockBacklog, ReturnsAtOnceAndCompletesInOrder) {
  const auto metas = contiguous(
      {{"big", DType::U8, {1 << 20}}, {"small", DType::U8, {1000}}, {"tail", DType::F32, {40000}}});
  DataMap data;
  for (const TensorMeta& t : metas) data[t.name] = pattern(t.nbytes(), t.name.size() * 7U);
  const std::string path = dir_.file("b.safetensors");
  auto w = StreamWriter::open(path, metas, opts_);
  Gate gate;
  engine_->post(gate.task(), nullptr);  // the copies of large pieces wait: buffers stay busy
  std::future<void> big = write_block_returning(w, "big", data["big"], gate);
  EXPECT_EQ(big.wait_for(0s), std::future_status::timeout)
      << "16 chunks through 2 buffers cannot be staged while the worker is held";
  // Later blocks queue behind it, even a small one that would fit inline.
  std::future<void> small = write_block_returning(w, "small", data["small"], gate);
  std::future<void> tail = write_block_returning(w, "tail", data["tail"], gate);
  EXPECT_EQ(small.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(tail.wait_for(0s), std::future_status::timeout);
  gate.open();
  for (auto* f : {&big, &small, &tail}) {
    ASSERT_EQ(f->wait_for(kHang), std::future_status::ready);
    f->get();
  }
  w.close().get();
  check_file(path, true, &data);
}

// The cursor counts queued bytes: a block past the tensor's end is refused at once, and
// order errors are reported while earlier bytes are still queued.
TEST_P(WriteBlockBacklog, QueuedBytesCountForTheChecks) {
  const auto metas = contiguous({{"a", DType::U8, {300000}}, {"b", DType::U8, {10}}});
  const auto a = pattern(300000, 1);
  const std::string path = dir_.file("c.safetensors");
  auto w = StreamWriter::open(path, metas, opts_);
  Gate gate;
  engine_->post(gate.task(), nullptr);
  std::future<void> first = write_block_returning(w, "a", std::span(a).first(250000), gate);
  EXPECT_EQ(first.wait_for(0s), std::future_status::timeout);
  const auto extra = pattern(50001, 2);
  EXPECT_THROW(w.write_block("a", extra).get(), Error);                   // 250000 + 50001 > 300000
  EXPECT_THROW(w.write_block("b", std::span(a).first(10)).get(), Error);  // 'a' incomplete
  std::future<void> rest = write_block_returning(w, "a", std::span(a).subspan(250000), gate);
  gate.open();
  first.get();
  rest.get();
  const auto b = pattern(10, 3);
  w.write_block("b", b).get();
  w.close().get();
  const DataMap data{{"a", a}, {"b", b}};
  check_file(path, true, &data);
}

// abort() with queued bytes: every future completes (with Cancelled, or with success for
// bytes staged before the abort came), nothing hangs, `path` stays untouched.
TEST_P(WriteBlockBacklog, AbortWithQueuedBlocksCompletesEveryFuture) {
  const auto metas = contiguous({{"a", DType::U8, {1 << 20}}, {"b", DType::U8, {5000}}});
  const auto a = pattern(1 << 20, 4);
  const auto b = pattern(5000, 6);
  const std::string path = dir_.file("d.safetensors");
  write_file(path, pattern(10, 5));
  auto w = StreamWriter::open(path, metas, opts_);
  Gate gate;
  engine_->post(gate.task(), nullptr);
  std::future<void> fa = write_block_returning(w, "a", a, gate);
  std::future<void> fb = write_block_returning(w, "b", b, gate);
  EXPECT_EQ(fb.wait_for(0s), std::future_status::timeout);
  auto aborted = std::async(std::launch::async, [&] { w.abort(); });
  gate.open();  // abort waits for the copies in flight
  ASSERT_EQ(aborted.wait_for(kHang), std::future_status::ready) << "abort() hung";
  for (auto* f : {&fa, &fb}) {
    ASSERT_EQ(f->wait_for(kHang), std::future_status::ready) << "abort left a block pending";
    try {
      f->get();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Cancelled) << e.what();
    }
  }
  EXPECT_EQ(read_file(path), pattern(10, 5));
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"d.safetensors"});
}

INSTANTIATE_TEST_SUITE_P(Io, WriteBlockBacklog, ::testing::ValuesIn(both_backends()),
                         BackendName());

}  // namespace
}  // namespace stsw::writer_test
