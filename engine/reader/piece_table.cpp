#include "reader/piece_table.hpp"

#include <algorithm>

#include "stsw/crc32.hpp"

namespace stsw::detail {

void PieceTable::add(std::size_t slot, const CrcPiece& piece) {
  std::lock_guard lock(mu_);
  slots_.at(slot).push_back(piece);
}

void PieceTable::add_all(const std::vector<std::pair<std::size_t, CrcPiece>>& pieces) {
  std::lock_guard lock(mu_);
  for (const auto& [slot, piece] : pieces) slots_.at(slot).push_back(piece);
}

std::optional<std::uint32_t> PieceTable::combine(std::size_t slot, std::uint64_t total) {
  std::lock_guard lock(mu_);
  auto& pieces = slots_.at(slot);
  std::sort(pieces.begin(), pieces.end(),
            [](const CrcPiece& a, const CrcPiece& b) { return a.offset < b.offset; });
  Crc32 crc;
  for (const auto& p : pieces) {
    if (p.offset != crc.length()) return std::nullopt;
    crc.append(p.crc, p.length);
  }
  if (crc.length() != total) return std::nullopt;
  return crc.value();
}

}  // namespace stsw::detail
