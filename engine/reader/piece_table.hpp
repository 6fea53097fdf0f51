// Collects the CRC-32s of pieces of several byte ranges ("slots", one per tensor) as they
// are computed, possibly concurrently and out of order, and joins each slot's pieces in
// order with crc32_combine. Used by verify() and by the bounce path of read_into().
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace stsw::detail {

struct CrcPiece {
  std::uint64_t offset = 0;  // within the slot's range
  std::uint64_t length = 0;
  std::uint32_t crc = 0;
};

class PieceTable {
 public:
  explicit PieceTable(std::size_t slots) : slots_(slots) {}

  // Thread-safe.
  void add(std::size_t slot, const CrcPiece& piece);
  void add_all(const std::vector<std::pair<std::size_t, CrcPiece>>& pieces);

  // The CRC-32 of slot bytes [0, total) from its pieces, or nullopt when the pieces do not
  // tile that range exactly (a gap or an overlap). Call after every add() returned.
  [[nodiscard]] std::optional<std::uint32_t> combine(std::size_t slot, std::uint64_t total);

 private:
  std::mutex mu_;
  std::vector<std::vector<CrcPiece>> slots_;
};

}  // namespace stsw::detail
