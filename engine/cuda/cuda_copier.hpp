// CudaCopier: the Copier (copier.hpp) on the CUDA runtime API: pin = cudaHostRegister,
// copies = cudaMemcpyAsync on the caller's stream, one cudaEvent (timing disabled) per
// slot, done = cudaEventQuery, wait = cudaEventSynchronize. Errors are Errc::Io with
// "<cudaErrorName>: <cudaGetErrorString> in <call>". Makes `device` current for its
// lifetime when >= 0 (restoring the previous one). Only engine/cuda/*.cpp of the
// stsw_cuda target include this header's implementation's CUDA headers.
#pragma once

#include <memory>

#include "cuda/copier.hpp"

namespace stsw::device {

// Throws Error(Unsupported) when no CUDA device is usable.
[[nodiscard]] std::unique_ptr<Copier> make_cuda_copier(void* stream, std::size_t slots, int device);

}  // namespace stsw::device
