// stsw::cuda (target stsw::cuda, library stsw_cuda; built with -DSTSW_CUDA=AUTO|ON when the
// CUDA toolkit is found): safetensors tensors read straight into CUDA device memory and
// written straight from it.
//
//   auto r = stsw::StreamReader::open("model.safetensors");
//   void* dst = ...;  // cudaMalloc'd, r.meta("w1").nbytes() bytes
//   stsw::cuda::read_to_device(r, "w1", dst, r.meta("w1").nbytes(), stream);
//
// This header includes no CUDA header: a stream is passed as `Stream` (void*), to which a
// cudaStream_t converts implicitly; nullptr is the legacy default stream. Device pointers
// are plain void*. Only the library (engine/cuda/) uses the CUDA runtime API
// (libcudart; no nvcc is needed to build it).
//
// Pipeline. Each call stages the file's bytes through `buffer_count` page-aligned host
// buffers of `chunk_size` bytes, page-locked with cudaHostRegister for the call. Chunk k
// is read by the engine (as StreamReader::read_range, O_DIRECT where the file allows it)
// while chunk k-1 is copied with cudaMemcpyAsync on `stream`; the CRC-32 of a whole
// tensor is computed on the host staging bytes before they are copied, and a buffer is
// refilled only after the cudaEvent recorded behind its copy completed (no device-wide
// or stream-wide synchronisation). See docs/cuda.md.
//
// Completion. The calls block the calling thread until every copy they enqueued has
// completed (events), so on return the destination bytes are on the device and the
// staging memory is released. Work the caller enqueued on `stream` before the call is
// ordered before the copies (same stream); nothing is enqueued after them.
//
// Errors (stsw::Error): the reader's and writer's own errors as for read_range /
// write_block (UnknownTensor, InvalidArgument for a range outside the tensor, Io naming
// file, tensor and offset, CrcMismatch); CUDA failures as Errc::Io whose message names
// the file, the tensor, the byte offset in the tensor and the CUDA error
// ("cudaErrorInvalidValue: invalid argument in cudaMemcpyAsync"); Errc::Unsupported when
// no CUDA device is usable. After an error the destination's contents are unspecified;
// no copy is still running and no host memory stays pinned when the call returns.
//
// Thread safety: the functions may run concurrently from many threads (each call owns
// its staging buffers and events); `reader` is used through its const, thread-safe API.
// A writer is driven through write_block and so follows StreamWriter's rules.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "stsw/reader.hpp"
#include "stsw/writer.hpp"

namespace STSW_API stsw {
namespace cuda {

// A cudaStream_t (nullptr: the legacy default stream of the current device).
using Stream = void*;

struct DeviceOptions {
  // Bytes per staging buffer (> 0); each buffer takes one more page for alignment.
  std::size_t chunk_size = std::size_t{16} << 20;
  // Staging buffers (>= 2: one is read while another is copied).
  unsigned buffer_count = 4;
  // Check the stored crc32 of every whole tensor read (CrcMismatch before its last chunk
  // is copied).
  bool verify_crc = true;
  // The CUDA device to make current for the call (-1: keep the thread's current device);
  // the previous device is restored on return. `stream` must belong to it.
  int device = -1;
};

// One destination: `size` bytes of tensor `name` from byte `offset` (0 and nbytes: the
// whole tensor, CRC-checked) into device memory at `dst`.
struct DeviceReadRequest {
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  void* dst = nullptr;
};

// CUDA devices usable by this process; 0 when the driver, the runtime or a device is
// missing (never throws).
[[nodiscard]] int device_count() noexcept;
// "CUDA runtime 13.0, driver 13.0, 1 device(s)" or why none is usable.
[[nodiscard]] std::string describe();

// The whole tensor `name` into `dst` (`size` must equal its nbytes: LengthMismatch).
void read_to_device(const StreamReader& reader, std::string_view name, void* dst,
                    std::uint64_t size, Stream stream, const DeviceOptions& options = {});
// Many tensors or ranges through one pipeline, in the order given (a whole model: list
// the tensors in file order for sequential reads). Fails on the first error; the
// requests' argument errors (unknown name, range outside the tensor) are reported before
// any byte is read.
void read_batch_to_device(const StreamReader& reader, std::span<const DeviceReadRequest> requests,
                          Stream stream, const DeviceOptions& options = {});

// Appends `size` bytes from device memory `src` to tensor `name` of `writer` (the rules of
// StreamWriter::write_block: the current tensor, at most the bytes it still needs).
// Chunks are copied device-to-host into pinned staging (chunk k+1 while chunk k is
// handed to write_block). On an error the writer may be poisoned (I/O) or left as it was
// after the last complete chunk (CUDA errors): abort() it.
void write_from_device(StreamWriter& writer, std::string_view name, const void* src,
                       std::uint64_t size, Stream stream, const DeviceOptions& options = {});

}  // namespace cuda
}  // namespace stsw
