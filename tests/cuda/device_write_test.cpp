// The device-to-host write pipeline (engine/cuda/device_write.cpp) with the host-memory
// stand-in copier, on both I/O backends: checkpoints written from "device" memory read
// back byte-exact with their CRCs; a copy failing mid-tensor fails with file, tensor and
// offset and leaves nothing pinned, and the aborted writer leaves no file.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "cuda/host_copier.hpp"
#include "cuda/pipeline.hpp"
#include "reader/reader_test_support.hpp"
#include "stsw/crc32.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"
#include "support/backend_name.hpp"

namespace stsw {
namespace {

using namespace std::chrono_literals;
using device::HostCopier;

class DeviceWriteTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(GetParam());
    if (!engine_) GTEST_SKIP() << "io_uring is not available here";
    a_ = test::pattern(300001, 11);
    b_ = test::pattern(4096 * 3, 12);
    metas_ = {{"a", DType::U8, {a_.size()}, 0, a_.size(), {}},
              {"b", DType::F32, {b_.size() / 4}, a_.size(), a_.size() + b_.size(), {}},
              {"z", DType::F16, {0}, a_.size() + b_.size(), a_.size() + b_.size(), {}}};
  }
  StreamWriter open_writer() {
    WriterOptions o;
    o.engine = engine_;
    return StreamWriter::open(path_, metas_, o);
  }
  static cuda::DeviceOptions small(unsigned buffers = 3) {
    cuda::DeviceOptions o;
    o.chunk_size = 50000;
    o.buffer_count = buffers;
    return o;
  }

  test::TempDir dir_{"device-write"};
  std::string path_ = dir_.file("ckpt.safetensors");
  std::shared_ptr<Engine> engine_;
  std::vector<std::byte> a_, b_;
  std::vector<TensorMeta> metas_;
};

TEST_P(DeviceWriteTest, CheckpointFromDeviceMemoryReadsBackWithCrcs) {
  for (unsigned buffers : {2u, 4u}) {
    auto w = open_writer();
    HostCopier copier(buffers, 1ms);
    device::write_from_device(w, "a", a_.data(), a_.size(), copier, small(buffers));
    device::write_from_device(w, "b", b_.data(), 5000, copier, small(buffers));  // in 2 calls
    device::write_from_device(w, "b", b_.data() + 5000, b_.size() - 5000, copier, small(buffers));
    device::write_from_device(w, "z", nullptr, 0, copier, small(buffers));
    w.close().get();
    EXPECT_EQ(copier.source_changed(), 0u);
    EXPECT_EQ(copier.unpinned_copies(), 0u) << "device-to-host copies land in pinned staging";
    EXPECT_EQ(copier.pinned_regions(), 0u);

    ReaderOptions ro;
    ro.engine = engine_;
    const auto r = StreamReader::open(path_, ro);
    ASSERT_TRUE(r.meta("a").crc32.has_value());
    EXPECT_EQ(*r.meta("a").crc32, crc32(a_));
    EXPECT_EQ(*r.meta("b").crc32, crc32(b_));
    std::vector<std::byte> got(a_.size());
    r.read_into("a", got).get();
    EXPECT_EQ(got, a_);
    got.resize(b_.size());
    r.read_into("b", got).get();
    EXPECT_EQ(got, b_);
  }
}

TEST_P(DeviceWriteTest, OneChunkWrites) {
  auto w = open_writer();
  HostCopier copier(3, 1ms);
  for (std::size_t off = 0; off < a_.size(); off += 30000) {  // pieces smaller than a chunk
    const auto n = std::min<std::size_t>(30000, a_.size() - off);
    device::write_from_device(w, "a", a_.data() + off, n, copier, small());
  }
  device::write_from_device(w, "b", b_.data(), b_.size(), copier, small());
  w.close().get();
  EXPECT_EQ(copier.source_changed(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
  const auto r = StreamReader::open(path_);
  EXPECT_EQ(*r.meta("a").crc32, crc32(a_));
  EXPECT_EQ(*r.meta("b").crc32, crc32(b_));
}

TEST_P(DeviceWriteTest, CopyFailureMidTensorNamesPathTensorOffsetAndLeaksNothing) {
  auto w = open_writer();
  HostCopier copier(3, 200us);
  copier.fail_copy(3, "cudaErrorLaunchFailure: unspecified launch failure");
  try {
    device::write_from_device(w, "a", a_.data(), a_.size(), copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path_ + ": tensor 'a' at offset 150000: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  }
  EXPECT_EQ(copier.copies_pending(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
  w.abort();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_P(DeviceWriteTest, WriterErrorsComeThrough) {
  auto w = open_writer();
  HostCopier copier(3);
  try {  // "b" before "a" is complete
    device::write_from_device(w, "b", b_.data(), b_.size(), copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::TensorOrder) << e.what();
  }
  try {
    device::write_from_device(w, "a", nullptr, 10, copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("null device source"), std::string::npos);
  }
  EXPECT_EQ(copier.pinned_regions(), 0u);
  EXPECT_EQ(copier.copies_pending(), 0u);
  w.abort();
}

INSTANTIATE_TEST_SUITE_P(Backends, DeviceWriteTest,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
