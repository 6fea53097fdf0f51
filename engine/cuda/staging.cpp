// Staging: see staging.hpp.
#include "cuda/staging.hpp"

#include <string>

#include "stsw/error.hpp"

namespace stsw::device {

Staging::Staging(Copier& copier, std::size_t count, std::size_t bytes) : copier_(copier) {
  if (count > copier.slots()) {
    throw Error(Errc::InvalidArgument, "device staging: " + std::to_string(count) +
                                           " buffers but the copier has " +
                                           std::to_string(copier.slots()) + " slots");
  }
  buffers_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) buffers_.emplace_back(bytes);
  try {
    for (; pinned_ < count; ++pinned_) copier_.pin(buffers_[pinned_].span());
  } catch (...) {
    for (std::size_t i = 0; i < pinned_; ++i) copier_.unpin(buffers_[i].span());
    throw;
  }
}

Staging::~Staging() {
  for (std::size_t i = 0; i < buffers_.size(); ++i) {
    try {
      copier_.wait(i);
    } catch (...) {  // reported by the pipeline
    }
  }
  for (std::size_t i = 0; i < pinned_; ++i) copier_.unpin(buffers_[i].span());
}

}  // namespace stsw::device
