// stsw::cuda on a real GPU: every dtype to device memory and back (CRC-checked), a batch
// of ranges, and a checkpoint written from device memory. Skips visibly where no CUDA
// device is usable (cudaGetDeviceCount fails or returns 0): every development and CI
// machine; perf/gpu_check.sh runs these on a GPU machine.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reader/reader_test_support.hpp"
#include "stsw/crc32.hpp"
#include "stsw/cuda.hpp"
#include "stsw/error.hpp"

namespace stsw {
namespace {

#define CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call

class CudaGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) {
      GTEST_SKIP() << "no CUDA device: " << cuda::describe();
    }
    CUDA_OK(cudaStreamCreate(&stream_));
  }
  void TearDown() override {
    for (void* p : device_) (void)cudaFree(p);
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  void* device_alloc(std::size_t n) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, n == 0 ? 1 : n), cudaSuccess);
    device_.push_back(p);
    return p;
  }
  std::vector<std::byte> to_host(const void* p, std::size_t n) {
    std::vector<std::byte> out(n);
    EXPECT_EQ(cudaMemcpy(out.data(), p, n, cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }

  test::TempDir dir_{"cuda"};
  cudaStream_t stream_ = nullptr;
  std::vector<void*> device_;
};

TEST(CudaNoDevice, DescribeAndUnsupportedWithoutDevice) {
  const std::string d = cuda::describe();
  EXPECT_NE(d.find("CUDA runtime"), std::string::npos) << d;
  if (cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is present: " << d;
  test::TempDir dir("cuda");
  const std::string path = dir.file("x.safetensors");
  test::write_file(path, test::build_file({{"x", DType::U8, {8}, test::pattern(8, 1)}}));
  const auto r = StreamReader::open(path);
  try {
    cuda::read_to_device(r, "x", reinterpret_cast<void*>(0x1000), 8, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("no usable CUDA device"), std::string::npos) << e.what();
  }
}

TEST_F(CudaGpuTest, EveryDtypeRoundTripsThroughDeviceMemory) {
  std::vector<test::TensorData> tensors;
  unsigned seed = 1;
  for (DType d : kAllDTypes) {
    const std::vector<std::uint64_t> shape{8 * 40001};  // whole bytes for sub-byte dtypes
    const auto n = *byte_size(d, shape);
    tensors.push_back({std::string(to_string(d)), d, shape, test::pattern(n, seed++)});
  }
  const std::string path = dir_.file("dtypes.safetensors");
  test::write_file(path, test::build_file(tensors));
  const auto r = StreamReader::open(path);
  cuda::DeviceOptions o;
  o.chunk_size = 256 * 1024;  // several chunks per tensor
  std::vector<cuda::DeviceReadRequest> reqs;
  for (const auto& t : tensors)
    reqs.push_back({t.name, 0, t.data.size(), device_alloc(t.data.size())});
  cuda::read_batch_to_device(r, reqs, stream_, o);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto got = to_host(reqs[i].dst, tensors[i].data.size());
    EXPECT_EQ(crc32(got), crc32(tensors[i].data)) << tensors[i].name;
    EXPECT_EQ(got, tensors[i].data) << tensors[i].name;
  }

  // And back: a checkpoint written from the device copies.
  std::vector<TensorMeta> metas;
  std::uint64_t off = 0;
  for (const auto& t : tensors) {
    metas.push_back({t.name, t.dtype, t.shape, off, off + t.data.size(), {}});
    off += t.data.size();
  }
  const std::string out = dir_.file("from_device.safetensors");
  auto w = StreamWriter::open(out, metas);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    cuda::write_from_device(w, tensors[i].name, reqs[i].dst, tensors[i].data.size(), stream_, o);
  }
  w.close().get();
  const auto back = StreamReader::open(out);
  const auto rep = back.verify().get();
  EXPECT_EQ(rep.mismatched, 0u);
  EXPECT_EQ(rep.ok, tensors.size());
  for (const auto& t : tensors) {
    EXPECT_EQ(*back.meta(t.name).crc32, crc32(t.data)) << t.name;
  }
}

TEST_F(CudaGpuTest, SingleTensorRangesAndErrors) {
  const auto data = test::pattern(5 * 1024 * 1024 + 3, 9);
  const std::string path = dir_.file("one.safetensors");
  test::write_file(path, test::build_file({{"w", DType::U8, {data.size()}, data}}));
  const auto r = StreamReader::open(path);
  void* dst = device_alloc(data.size());
  cuda::read_to_device(r, "w", dst, data.size(), stream_);
  EXPECT_EQ(to_host(dst, data.size()), data);
  const std::vector<cuda::DeviceReadRequest> reqs{{"w", 12345, 1000000, dst}};
  cuda::read_batch_to_device(r, reqs, stream_);
  const auto got = to_host(dst, 1000000);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + 12345));
  EXPECT_THROW(cuda::read_to_device(r, "w", dst, 1, stream_), Error);  // LengthMismatch
  // A host pointer that CUDA cannot write as device memory: the CUDA error string comes
  // through with file, tensor and offset (or, with unified addressing, the copy succeeds).
  try {
    cuda::read_to_device(r, "w", reinterpret_cast<void*>(0x10), data.size(), stream_);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tensor 'w' at offset 0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
  }
  (void)cudaGetLastError();
}

}  // namespace
}  // namespace stsw
