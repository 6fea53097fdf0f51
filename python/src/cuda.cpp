// _stsw's CUDA entry points for python/stsw/_cuda.py: cuda_built (whether this extension
// was linked with stsw::cuda), cuda_describe() and cuda_read(), which fills device
// memory that torch allocated. Without STSW_HAVE_CUDA only cuda_built = False exists.
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "common.hpp"

#ifdef STSW_HAVE_CUDA
#include "stsw/cuda.hpp"
#endif

namespace stsw::py {

void bind_cuda(pyb::module_& m) {
#ifdef STSW_HAVE_CUDA
  m.attr("cuda_built") = true;
  m.def("cuda_describe", [] { return cuda::describe(); });
  m.def("cuda_device_count", [] { return cuda::device_count(); });
  // requests: (name, offset, size, device pointer) tuples; stream: a cudaStream_t as an
  // integer (torch.cuda.Stream.cuda_stream); device: the CUDA device index.
  m.def(
      "cuda_read",
      [](pyb::object reader,
         const std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t, std::uintptr_t>>&
             requests,
         std::uintptr_t stream, int device, bool verify_crc) {
        const auto owner = reader_of(reader);
        std::vector<cuda::DeviceReadRequest> reqs;
        reqs.reserve(requests.size());
        for (const auto& [name, offset, size, ptr] : requests) {
          reqs.push_back({name, offset, size, reinterpret_cast<void*>(ptr)});
        }
        cuda::DeviceOptions o;
        o.device = device;
        o.verify_crc = verify_crc;
        pyb::gil_scoped_release nogil;
        cuda::read_batch_to_device(*owner, reqs, reinterpret_cast<cuda::Stream>(stream), o);
      },
      pyb::arg("reader"), pyb::arg("requests"), pyb::arg("stream"), pyb::arg("device"),
      pyb::arg("verify_crc"));
#else
  m.attr("cuda_built") = false;
#endif
}

}  // namespace stsw::py
