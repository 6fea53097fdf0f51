// Staging: the pinned host buffers of one device pipeline call. Allocates `count`
// page-aligned buffers (stsw::AlignedBuffer) and pins each through the copier; buffer i
// is guarded by the copier's slot i. The destructor first waits for every slot (errors
// swallowed: the pipeline reported them already) so that no copy can touch the memory
// after it is unpinned and freed: every exit path, exceptions included, leaks nothing.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "cuda/copier.hpp"
#include "stsw/aligned_buffer.hpp"

namespace stsw::device {

class Staging {
 public:
  // Throws Error(InvalidArgument) when the copier has fewer than `count` slots.
  Staging(Copier& copier, std::size_t count, std::size_t bytes);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  [[nodiscard]] std::size_t count() const noexcept { return buffers_.size(); }
  [[nodiscard]] std::byte* data(std::size_t i) const noexcept { return buffers_[i].data(); }

 private:
  Copier& copier_;
  std::vector<AlignedBuffer> buffers_;
  std::size_t pinned_ = 0;  // buffers [0, pinned_) are pinned
};

}  // namespace stsw::device
