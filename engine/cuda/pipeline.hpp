// The device pipelines behind stsw/cuda.hpp, written against the Copier interface
// (copier.hpp) so that they run with the CUDA copier or the host stand-in alike.
//
// read_to_device: chunks of the requests (in order; chunk boundaries at multiples of
// chunk_size in the file) are read by the reader's engine into
// the Staging buffers (read_range; the chunk is placed at the buffer's offset congruent to
// its file offset modulo 4096 so O_DIRECT reads land in place) while earlier chunks are
// copied; each chunk's bytes go into the tensor's CRC before its copy is enqueued; buffer
// i is read into again only after copier slot i (recorded behind its copy) is done.
//
// write_from_device: chunks are copied device-to-host into the Staging buffers, and each
// completed chunk is handed to StreamWriter::write_block while the next chunks copy; a
// buffer is reused once its write_block future is ready (the writer copied the bytes).
//
// Both block until everything they started finished; errors as stsw/cuda.hpp describes.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "cuda/copier.hpp"
#include "stsw/cuda.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"

namespace stsw::device {

// Checks the options (InvalidArgument: chunk_size 0, buffer_count < 2, more buffers than
// the copier's slots when a copier is given).
void check_options(const cuda::DeviceOptions& options, const Copier* copier = nullptr);

// The copier needs at least options.buffer_count slots.
void read_to_device(const StreamReader& reader, std::span<const cuda::DeviceReadRequest> requests,
                    Copier& copier, const cuda::DeviceOptions& options);

void write_from_device(StreamWriter& writer, std::string_view name, const void* src,
                       std::uint64_t size, Copier& copier, const cuda::DeviceOptions& options);

}  // namespace stsw::device
