// CudaCopier: see cuda_copier.hpp.
#include "cuda/cuda_copier.hpp"

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "stsw/error.hpp"

namespace stsw::device {

namespace {

// Throws Errc::Io for a CUDA error.
void cuda_check(cudaError_t rc, const char* call) {
  if (rc == cudaSuccess) return;
  (void)cudaGetLastError();  // clear a non-sticky error
  throw Error(Errc::Io,
              std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc) + " in " + call);
}

class CudaCopier final : public Copier {
 public:
  CudaCopier(cudaStream_t stream, std::size_t slots, int device) : stream_(stream) {
    if (device >= 0) {
      cuda_check(cudaGetDevice(&previous_), "cudaGetDevice");
      cuda_check(cudaSetDevice(device), "cudaSetDevice");
      restore_ = true;
    }
    events_.reserve(slots);
    try {
      for (std::size_t i = 0; i < slots; ++i) {
        cudaEvent_t ev = nullptr;
        cuda_check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
        events_.push_back(ev);
      }
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaCopier() override { release(); }
  CudaCopier(const CudaCopier&) = delete;
  CudaCopier& operator=(const CudaCopier&) = delete;

  void pin(std::span<std::byte> memory) override {
    cuda_check(cudaHostRegister(memory.data(), memory.size(), cudaHostRegisterDefault),
               "cudaHostRegister");
  }
  void unpin(std::span<std::byte> memory) noexcept override {
    (void)cudaHostUnregister(memory.data());
  }
  void to_device(void* dst, const std::byte* src, std::size_t n) override {
    cuda_check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync (host to device)");
  }
  void to_host(std::byte* dst, const void* src, std::size_t n) override {
    cuda_check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream_),
               "cudaMemcpyAsync (device to host)");
  }
  [[nodiscard]] std::size_t slots() const noexcept override { return events_.size(); }
  void record(std::size_t slot) override {
    cuda_check(cudaEventRecord(events_.at(slot), stream_), "cudaEventRecord");
  }
  [[nodiscard]] bool done(std::size_t slot) override {
    const cudaError_t rc = cudaEventQuery(events_.at(slot));
    if (rc == cudaErrorNotReady) return false;
    cuda_check(rc, "cudaEventQuery");
    return true;
  }
  void wait(std::size_t slot) override {
    cuda_check(cudaEventSynchronize(events_.at(slot)), "cudaEventSynchronize");
  }

 private:
  void release() noexcept {
    for (cudaEvent_t ev : events_) (void)cudaEventDestroy(ev);
    events_.clear();
    if (restore_) (void)cudaSetDevice(previous_);
  }
  cudaStream_t stream_;
  std::vector<cudaEvent_t> events_;
  int previous_ = 0;
  bool restore_ = false;
};

}  // namespace

std::unique_ptr<Copier> make_cuda_copier(void* stream, std::size_t slots, int device) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    throw Error(
        Errc::Unsupported,
        std::string("no usable CUDA device (") +
            (rc != cudaSuccess ? std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc)
                               : std::string("cudaGetDeviceCount returned 0")) +
            ")");
  }
  return std::make_unique<CudaCopier>(static_cast<cudaStream_t>(stream), slots, device);
}

}  // namespace stsw::device
