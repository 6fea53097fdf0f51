// Every engine request of read_into, verify and for_each failing in turn (fault injection):
// a clean Error through the future, no hang, no staging buffer leaked; retried faults
// (short transfers, EAGAIN, EINTR) still give the right bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "io/fault_injection.hpp"
#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using testing::Fault;
using testing::FaultPlan;

class FaultTest : public ::testing::TestWithParam<ReadMode> {
 protected:
  void SetUp() override {
    tensors_ = {{"a", DType::U8, {300000}, test::pattern(300000, 1)},
                {"b", DType::U8, {5000}, test::pattern(5000, 2)}};
    path_ = dir_.file("f.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
    options_.backend = BackendKind::Threads;
    options_.chunk_size = 64 * 1024;
    options_.queue_depth = 4;
    options_.buffer_count = 4;
  }

  StreamReader open(const std::shared_ptr<Engine>& engine) const {
    ReaderOptions o;
    o.engine = engine;
    o.io_mode = GetParam();
    o.chunk_size = 64 * 1024;
    o.buffer_count = 2;
    return StreamReader::open(path_, o);
  }

  // Every read request of `op` failing in turn (test::sweep_read_faults); most injected
  // EIO faults must land.
  template <typename Op>
  void sweep(Op op) {
    const auto got = test::sweep_read_faults(
        options_, [this](const std::shared_ptr<Engine>& e) { return open(e); }, op, 2);
    EXPECT_GT(got.eio_landed, got.requests / 2) << "most injected errors must land";
  }

  test::TempDir dir_;
  std::string path_;
  EngineOptions options_;
  std::vector<test::TensorData> tensors_;
};

TEST_P(FaultTest, ReadInto) {
  sweep([&](const StreamReader& r) {
    std::vector<std::byte> dst(tensors_[0].data.size());
    r.read_into("a", dst).get();
    EXPECT_EQ(dst, tensors_[0].data);
  });
}

TEST_P(FaultTest, ReadIntoErrorNamesTheTensor) {
  auto engine = testing::make_faulty_engine(
      options_, FaultPlan{{Fault{Fault::Op::Read, 0, Fault::Kind::Eio}}, false});
  const auto r = open(engine);
  std::vector<std::byte> dst(tensors_[1].data.size());
  try {
    r.read_into("b", dst).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.message(), ::testing::HasSubstr("tensor 'b'"));
  }
}

TEST_P(FaultTest, Verify) {
  sweep([&](const StreamReader& r) { EXPECT_TRUE(r.verify().get().passed()); });
}

TEST_P(FaultTest, ForEach) {
  sweep([&](const StreamReader& r) {
    std::uint64_t bytes = 0;
    r.for_each(
        [&](const TensorMeta&, std::uint64_t, std::span<const std::byte> b) { bytes += b.size(); });
    EXPECT_EQ(bytes, 305000U);
  });
}

INSTANTIATE_TEST_SUITE_P(Modes, FaultTest, ::testing::Values(ReadMode::Buffered, ReadMode::Direct),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace stsw
