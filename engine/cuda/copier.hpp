// The copy step of the device pipelines (device_read.hpp, device_write.hpp), behind an
// interface so that the pipelines' ordering logic runs and is tested without a GPU: the
// CUDA implementation (cuda_copier.hpp: cudaMemcpyAsync on a stream, one cudaEvent per
// slot) and a host-memory stand-in (host_copier.hpp: a thread that memcpys, with delays
// and injected failures).
//
// Model. Copies run asynchronously, in the order they were enqueued (one stream). A
// "slot" is a completion marker: record(s) marks the point after every copy enqueued so
// far; done(s)/wait(s) tell whether those copies finished. The pipelines give each
// staging buffer one slot and reuse a buffer only after its slot reported done.
//
// Errors. Every call may throw stsw::Error (Errc::Io) carrying the copier's own error text
// (for CUDA: the error name and string, and the call). A failed copy is reported by the
// done/wait of every slot recorded after it. The pipelines add file, tensor and offset.
//
// Thread safety: none; one pipeline drives one copier from one thread.
#pragma once

#include <cstddef>
#include <span>

namespace stsw::device {

class Copier {
 public:
  virtual ~Copier() = default;

  // Page-locks `memory` for fast asynchronous copies (cudaHostRegister) until unpin().
  virtual void pin(std::span<std::byte> memory) = 0;
  virtual void unpin(std::span<std::byte> memory) noexcept = 0;

  // Enqueue an asynchronous copy of n bytes; `src` / `dst` must stay valid and unchanged
  // until a slot recorded after it is done.
  virtual void to_device(void* dst, const std::byte* src, std::size_t n) = 0;
  virtual void to_host(std::byte* dst, const void* src, std::size_t n) = 0;

  // The number of slots (fixed at construction).
  [[nodiscard]] virtual std::size_t slots() const noexcept = 0;
  // Marks slot `slot` complete once every copy enqueued so far completed.
  virtual void record(std::size_t slot) = 0;
  // Whether the copies before slot's last record() finished (true for a slot never
  // recorded). Throws the copy's error.
  [[nodiscard]] virtual bool done(std::size_t slot) = 0;
  // Blocks until done(slot); throws the copy's error.
  virtual void wait(std::size_t slot) = 0;
};

}  // namespace stsw::device
