// The public functions of stsw/cuda.hpp: a CudaCopier driving the device pipelines.
#include <cuda_runtime_api.h>

#include <string>

#include "cuda/cuda_copier.hpp"
#include "cuda/pipeline.hpp"
#include "stsw/cuda.hpp"
#include "stsw/error.hpp"

namespace stsw::cuda {

int device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::string describe() {
  int runtime = 0;
  int driver = 0;
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaDriverGetVersion(&driver);
  auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  std::string s = "CUDA runtime " + ver(runtime) + ", driver " + (driver ? ver(driver) : "none");
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    (void)cudaGetLastError();
    return s + ", no device (" + cudaGetErrorName(rc) + ": " + cudaGetErrorString(rc) + ")";
  }
  s += ", " + std::to_string(count) + " device(s)";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) == cudaSuccess) {
      s += "; " + std::to_string(i) + ": " + p.name;
    }
  }
  return s;
}

void read_batch_to_device(const StreamReader& reader, std::span<const DeviceReadRequest> requests,
                          Stream stream, const DeviceOptions& options) {
  device::check_options(options);
  auto copier = device::make_cuda_copier(stream, options.buffer_count, options.device);
  device::read_to_device(reader, requests, *copier, options);
}

void read_to_device(const StreamReader& reader, std::string_view name, void* dst,
                    std::uint64_t size, Stream stream, const DeviceOptions& options) {
  const TensorMeta& m = reader.meta(name);
  if (size != m.nbytes()) {
    throw Error(Errc::LengthMismatch, reader.file_of(name) + ": tensor '" + m.name + "' has " +
                                          std::to_string(m.nbytes()) + " bytes, the destination " +
                                          std::to_string(size));
  }
  const DeviceReadRequest req{std::string(name), 0, size, dst};
  read_batch_to_device(reader, {&req, 1}, stream, options);
}

void write_from_device(StreamWriter& writer, std::string_view name, const void* src,
                       std::uint64_t size, Stream stream, const DeviceOptions& options) {
  device::check_options(options);
  auto copier = device::make_cuda_copier(stream, options.buffer_count, options.device);
  device::write_from_device(writer, name, src, size, *copier, options);
}

}  // namespace stsw::cuda
