// write_from_device: the device-to-host pipeline of checkpoints (see pipeline.hpp).
#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "cuda/pipeline.hpp"
#include "cuda/pipeline_util.hpp"
#include "cuda/staging.hpp"
#include "stsw/error.hpp"

namespace stsw::device {

void check_options(const cuda::DeviceOptions& options, const Copier* copier) {
  if (copier != nullptr && options.buffer_count > copier->slots()) {
    throw Error(Errc::InvalidArgument, "device copy: " + std::to_string(options.buffer_count) +
                                           " buffers but the copier has " +
                                           std::to_string(copier->slots()) + " slots");
  }
  if (options.chunk_size == 0) {
    throw Error(Errc::InvalidArgument, "device copy: chunk_size must be > 0");
  }
  if (options.buffer_count < 2) {
    throw Error(Errc::InvalidArgument, "device copy: buffer_count must be >= 2 (got " +
                                           std::to_string(options.buffer_count) + ")");
  }
}

void write_from_device(StreamWriter& writer, std::string_view name, const void* src,
                       std::uint64_t size, Copier& copier, const cuda::DeviceOptions& options) {
  check_options(options, &copier);
  if (size == 0) {
    writer.write_block(name, {}).get();
    return;
  }
  const std::string tensor(name);
  if (src == nullptr) {
    throw Error(Errc::InvalidArgument, writer.path() + ": tensor '" + tensor +
                                           "': null device source for " + std::to_string(size) +
                                           " bytes");
  }
  const std::uint64_t chunk = options.chunk_size;
  const std::uint64_t chunks = (size + chunk - 1) / chunk;
  // No more pinned memory than the call needs (see device_read.cpp).
  const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(options.buffer_count, chunks));
  auto length = [&](std::uint64_t i) {
    return static_cast<std::size_t>(std::min(chunk, size - i * chunk));
  };
  auto where = [&](std::uint64_t i) { return ChunkPlace{&writer.path(), &tensor, i * chunk}; };

  Staging staging(copier, k, static_cast<std::size_t>(std::min(chunk, size)));
  std::vector<std::future<void>> writes(k);  // write_block of the buffer's last chunk
  auto enqueue = [&](std::uint64_t i) {
    const std::size_t s = i % k;
    if (writes[s].valid()) writes[s].get();  // the writer copied the buffer's bytes
    with_place(where(i), [&] {
      copier.to_host(staging.data(s), static_cast<const std::byte*>(src) + i * chunk, length(i));
      copier.record(s);
    });
  };
  try {
    // Up to k - 1 copies ahead of the chunk being written.
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(chunks, k - 1); ++i) enqueue(i);
    for (std::uint64_t i = 0; i < chunks; ++i) {
      if (i + k - 1 < chunks) enqueue(i + k - 1);
      const std::size_t s = i % k;
      with_place(where(i), [&] { copier.wait(s); });
      writes[s] = writer.write_block(name, {staging.data(s), length(i)});
    }
    for (auto& w : writes) {
      if (w.valid()) w.get();
    }
  } catch (...) {
    // The writer may still be copying out of a staging buffer.
    for (auto& w : writes) {
      if (w.valid()) w.wait();
    }
    throw;
  }
}

}  // namespace stsw::device
