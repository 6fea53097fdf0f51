// The host-to-device read pipeline (engine/cuda/device_read.cpp) with the host-memory
// stand-in copier, on both I/O backends: bytes land right, a staging buffer is refilled
// only after its copy ran, CRCs are checked on the staging bytes, and every error (a
// copy failing mid-pipeline, a read failing, bad arguments) fails the call with a message
// naming file, tensor and offset while leaving no copy running and nothing pinned.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cuda/host_copier.hpp"
#include "cuda/pipeline.hpp"
#include "reader/reader_test_support.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using namespace std::chrono_literals;
using device::HostCopier;
using test::TensorData;

struct Param {
  BackendKind backend;
  ReadMode mode;
};

class DevicePipelineTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(GetParam().backend);
    if (!engine_) GTEST_SKIP() << "io_uring is not available here";
    tensors_ = test::mixed_tensors();
    path_ = dir_.file("m.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
  }
  StreamReader open() const {
    ReaderOptions o;
    o.engine = engine_;
    o.io_mode = GetParam().mode;
    return StreamReader::open(path_, o);
  }
  // One request per tensor (whole), destinations in `out`.
  std::vector<cuda::DeviceReadRequest> whole(std::vector<std::vector<std::byte>>& out) const {
    std::vector<cuda::DeviceReadRequest> reqs;
    out.clear();
    out.reserve(tensors_.size());
    for (const auto& t : tensors_) {
      out.emplace_back(t.data.size(), std::byte{0xEE});
      reqs.push_back({t.name, 0, t.data.size(), out.back().data()});
    }
    return reqs;
  }
  static cuda::DeviceOptions small(unsigned buffers = 3) {
    cuda::DeviceOptions o;
    o.chunk_size = 40000;  // not a multiple of 4096: chunks start at every alignment
    o.buffer_count = buffers;
    return o;
  }

  test::TempDir dir_{"device"};
  std::shared_ptr<Engine> engine_;
  std::vector<TensorData> tensors_;
  std::string path_;
};

TEST_P(DevicePipelineTest, WholeModelLandsInDeviceMemoryAndReleasesEverything) {
  const auto r = open();
  std::vector<std::vector<std::byte>> out;
  const auto reqs = whole(out);
  HostCopier copier(3, 200us);
  device::read_to_device(r, reqs, copier, small());
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    EXPECT_EQ(out[i], tensors_[i].data) << tensors_[i].name;
  }
  std::uint64_t total = 0;
  for (const auto& t : tensors_) total += t.data.size();
  EXPECT_EQ(copier.bytes_copied(), total);
  EXPECT_EQ(copier.copies_pending(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
  EXPECT_EQ(copier.unpinned_copies(), 0u) << "every copy must come from pinned staging";

  // A block-multiple chunk size: chunks end on multiples of it in the file, so 128 KiB
  // from byte 1000 of "big" (which starts 4096-aligned) take 3 chunks, not 2.
  auto o = small();
  o.chunk_size = 65536;
  HostCopier copier2(3);
  std::vector<std::byte> part(131072);
  const std::vector<cuda::DeviceReadRequest> range{{"big", 1000, part.size(), part.data()}};
  device::read_to_device(r, range, copier2, o);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), tensors_[0].data.begin() + 1000));
  EXPECT_EQ(copier2.copies_done(), 3u);
}

// A slow copier: if a buffer were refilled before its copy ran, the copy's source bytes
// would change between enqueue and execution (source_changed) and the destination would
// hold another chunk's bytes.
TEST_P(DevicePipelineTest, BufferIsRefilledOnlyAfterItsCopyFinished) {
  const auto r = open();
  std::vector<std::vector<std::byte>> out;
  const auto reqs = whole(out);
  for (unsigned buffers : {2u, 5u}) {
    HostCopier copier(buffers, 3ms);
    device::read_to_device(r, reqs, copier, small(buffers));
    EXPECT_EQ(copier.source_changed(), 0u) << buffers << " buffers";
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      EXPECT_EQ(out[i], tensors_[i].data) << tensors_[i].name << ", " << buffers << " buffers";
    }
  }
}

TEST_P(DevicePipelineTest, RangesOfTensors) {
  const auto r = open();
  std::vector<std::byte> a(123457), b(1);
  const std::vector<cuda::DeviceReadRequest> reqs{
      {"big", 1000, a.size(), a.data()}, {"last", 4096, 1, b.data()}, {"tiny", 10, 0, nullptr}};
  HostCopier copier(4);
  device::read_to_device(r, reqs, copier, small(4));
  const auto& big = tensors_[0].data;
  EXPECT_TRUE(std::equal(a.begin(), a.end(), big.begin() + 1000));
  EXPECT_EQ(b[0], tensors_[7].data[4096]);
}

// Fewer chunks than buffers: only as many buffers (and as little memory) as needed.
TEST_P(DevicePipelineTest, SmallReadsUseFewerBuffers) {
  const auto r = open();
  for (const char* name : {"tiny", "odd", "scalar"}) {
    const auto& m = r.meta(name);
    std::vector<std::byte> dst(m.nbytes());
    const std::vector<cuda::DeviceReadRequest> reqs{{name, 0, dst.size(), dst.data()}};
    HostCopier copier(3, 1ms);
    device::read_to_device(r, reqs, copier, small());
    EXPECT_EQ(copier.source_changed(), 0u) << name;
    EXPECT_EQ(copier.pinned_regions(), 0u) << name;
    for (const auto& t : tensors_) {
      if (t.name == name) {
        EXPECT_EQ(dst, t.data) << name;
      }
    }
  }
  HostCopier copier(3);
  device::read_to_device(r, std::vector<cuda::DeviceReadRequest>{{"empty", 0, 0, nullptr}}, copier,
                         small());
  EXPECT_EQ(copier.copies_done(), 0u);
}

TEST_P(DevicePipelineTest, CopyFailureMidPipelineNamesFileTensorOffsetAndLeaksNothing) {
  const auto r = open();
  std::vector<std::vector<std::byte>> out;
  const auto reqs = whole(out);
  HostCopier copier(3, 100us);
  copier.fail_copy(5, "cudaErrorIllegalAddress: an illegal memory access was encountered");
  try {
    device::read_to_device(r, reqs, copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path_), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'big'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at offset "), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorIllegalAddress"), std::string::npos) << msg;
  }
  EXPECT_EQ(copier.copies_pending(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
  EXPECT_EQ(copier.source_changed(), 0u);
}

TEST_P(DevicePipelineTest, CrcMismatchIsCaughtOnStagingBytes) {
  const auto r0 = open();
  const auto& m = r0.meta("tail");
  test::flip_byte(path_, r0.shards()[0].data_offset + m.offset_begin + 77777);
  const auto r = open();
  std::vector<std::byte> dst(m.nbytes());
  const std::vector<cuda::DeviceReadRequest> reqs{{"tail", 0, dst.size(), dst.data()}};
  HostCopier copier(3);
  try {
    device::read_to_device(r, reqs, copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_NE(std::string(e.what()).find("tensor 'tail' (expected 0x"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(copier.pinned_regions(), 0u);
  // verify_crc = false: the bytes as stored, no error.
  auto o = small();
  o.verify_crc = false;
  HostCopier copier2(3);
  device::read_to_device(r, reqs, copier2, o);
  EXPECT_NE(dst, tensors_[1].data);
}

// An empty tensor has the CRC of no bytes (0): a stored crc32 that is not 0 is a
// corrupt header field, found as the CPU reader finds it, although no chunk is read.
TEST_P(DevicePipelineTest, EmptyTensorWithNonZeroStoredCrcIsAMismatch) {
  const std::string path = dir_.file("bad_empty_crc.safetensors");
  std::vector<std::byte> file = test::build_file(tensors_, test::mixed_layout());
  const std::string from = "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],";
  std::string text(reinterpret_cast<const char*>(file.data()), file.size());
  const std::size_t at = text.find("\"crc32\":0}", text.find(from));
  ASSERT_NE(at, std::string::npos) << "the fixture's empty tensor has no crc32 field";
  file[at + 8] = std::byte{'7'};  // "crc32":0 -> "crc32":7, the header length unchanged
  test::write_file(path, file);
  ReaderOptions ro;
  ro.engine = engine_;
  ro.io_mode = GetParam().mode;
  const auto r = StreamReader::open(path, ro);
  const std::vector<cuda::DeviceReadRequest> reqs{{"empty", 0, 0, nullptr}};
  HostCopier copier(3);
  try {
    device::read_to_device(r, reqs, copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'empty' (expected 0x00000007, got 0x00000000)"), std::string::npos)
        << msg;
  }
  EXPECT_EQ(copier.copies_done(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
  auto o = small();
  o.verify_crc = false;
  device::read_to_device(r, reqs, copier, o);  // the bytes as stored: none, no error
}

TEST_P(DevicePipelineTest, FileTruncatedAfterOpenFailsWithIo) {
  const auto r = open();
  std::vector<std::vector<std::byte>> out;
  const auto reqs = whole(out);
  std::filesystem::resize_file(path_, r.shards()[0].data_offset + 300000);
  HostCopier copier(3, 100us);
  try {
    device::read_to_device(r, reqs, copier, small());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Io) << e.what();
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
  }
  EXPECT_EQ(copier.copies_pending(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
}

TEST_P(DevicePipelineTest, BadArgumentsFailBeforeAnyRead) {
  const auto r = open();
  std::vector<std::byte> d(10);
  HostCopier copier(3);
  auto expect = [&](std::vector<cuda::DeviceReadRequest> reqs, Errc code, const char* text,
                    cuda::DeviceOptions o = small()) {
    try {
      device::read_to_device(r, reqs, copier, o);
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  expect({{"nope", 0, 1, d.data()}}, Errc::UnknownTensor, "nope");
  expect({{"tiny", 8, 4, d.data()}}, Errc::InvalidArgument, "lies outside the tensor's 10 bytes");
  expect({{"tiny", 0, 10, nullptr}}, Errc::InvalidArgument, "null device destination");
  auto o = small();
  o.buffer_count = 1;
  expect({{"tiny", 0, 10, d.data()}}, Errc::InvalidArgument, "buffer_count must be >= 2", o);
  o = small();
  o.chunk_size = 0;
  expect({{"tiny", 0, 10, d.data()}}, Errc::InvalidArgument, "chunk_size must be > 0", o);
  o = small(4);  // more buffers than the copier's 3 slots
  expect({{"tiny", 0, 10, d.data()}}, Errc::InvalidArgument, "slots", o);
  EXPECT_EQ(copier.copies_done(), 0u);
  EXPECT_EQ(copier.pinned_regions(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, DevicePipelineTest,
                         ::testing::Values(Param{BackendKind::Uring, ReadMode::Direct},
                                           Param{BackendKind::Uring, ReadMode::Buffered},
                                           Param{BackendKind::Threads, ReadMode::Direct},
                                           Param{BackendKind::Threads, ReadMode::Buffered}),
                         [](const auto& info) {
                           return std::string(info.param.backend == BackendKind::Uring
                                                  ? "uring_"
                                                  : "threads_") +
                                  std::string(to_string(info.param.mode));
                         });

}  // namespace
}  // namespace stsw
