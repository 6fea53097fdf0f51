// Joins CRC-32s of pieces of the data region, computed on several threads and finishing
// in any order, into one CRC per tensor (crc32_combine in file order).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace stsw::writer {

// Not thread-safe: the writer calls it under its lock. Memory is bounded by the pieces
// that finished ahead of an unfinished earlier one (at most the pieces in flight).
class CrcAssembler {
 public:
  // `ends[i]` is the data-region end offset of tensor i (non-decreasing; tensor i spans
  // [ends[i-1], ends[i]), the first begins at 0).
  explicit CrcAssembler(std::vector<std::uint64_t> ends = {});

  // Records the CRC of data-region bytes [offset, offset + length). A piece lies inside one
  // tensor; pieces never overlap. Zero-length pieces are ignored.
  void add(std::uint64_t offset, std::uint64_t length, std::uint32_t crc);

  // Data-region bytes [0, assembled()) have been joined.
  [[nodiscard]] std::uint64_t assembled() const noexcept { return cursor_; }
  // True once every byte of every tensor has been joined.
  [[nodiscard]] bool complete() const noexcept;
  // The CRC of tensor i; valid once assembled() >= its end (0 for an empty tensor).
  [[nodiscard]] std::uint32_t crc(std::size_t i) const noexcept { return crcs_[i]; }

 private:
  struct Piece {
    std::uint64_t length;
    std::uint32_t crc;
  };
  void drain();

  std::vector<std::uint64_t> ends_;
  std::vector<std::uint32_t> crcs_;
  std::map<std::uint64_t, Piece> waiting_;  // by offset, ahead of cursor_
  std::uint64_t cursor_ = 0;
  std::size_t tensor_ = 0;  // the tensor holding cursor_ (first with end > cursor_)
};

}  // namespace stsw::writer
