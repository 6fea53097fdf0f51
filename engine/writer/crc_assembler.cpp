#include "writer/crc_assembler.hpp"

#include "stsw/crc32.hpp"

namespace stsw::writer {

CrcAssembler::CrcAssembler(std::vector<std::uint64_t> ends)
    : ends_(std::move(ends)), crcs_(ends_.size(), 0) {
  while (tensor_ < ends_.size() && ends_[tensor_] <= cursor_) ++tensor_;
}

void CrcAssembler::add(std::uint64_t offset, std::uint64_t length, std::uint32_t crc) {
  if (length == 0) return;
  waiting_.emplace(offset, Piece{length, crc});
  drain();
}

void CrcAssembler::drain() {
  while (!waiting_.empty() && waiting_.begin()->first == cursor_) {
    const Piece p = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    // Tensors that end at or before the cursor are done (empty ones keep CRC 0).
    while (tensor_ < ends_.size() && ends_[tensor_] <= cursor_) ++tensor_;
    if (tensor_ < ends_.size()) crcs_[tensor_] = crc32_combine(crcs_[tensor_], p.crc, p.length);
    cursor_ += p.length;
  }
  while (tensor_ < ends_.size() && ends_[tensor_] <= cursor_) ++tensor_;
}

bool CrcAssembler::complete() const noexcept { return ends_.empty() || cursor_ >= ends_.back(); }

}  // namespace stsw::writer
