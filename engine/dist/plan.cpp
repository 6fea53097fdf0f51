// Multi-rank checkpoints: the deterministic layout plan and the assembly of per-tensor CRCs
// from the ranks' pieces (include/stsw/distributed.hpp).
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>

#include "codec/text.hpp"
#include "stsw/crc32.hpp"
#include "stsw/distributed.hpp"
#include "stsw/tensor_meta.hpp"
#include "writer/shard_plan.hpp"

namespace stsw::dist {

namespace {

std::string ranks_text(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

std::string range_text(std::uint64_t b, std::uint64_t e) {
  return "bytes [" + std::to_string(b) + ", " + std::to_string(e) + ")";
}

struct Declared {
  const PieceDecl* first = nullptr;
  int first_rank = 0;
  // (begin, end) -> ranks holding exactly that range, ascending
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<std::pair<int, std::size_t>>>
      ranges;
};

// Checks that the distinct ranges tile [0, nbytes); throws naming the first gap/overlap.
void check_tiling(const std::string& name, std::uint64_t nbytes, const Declared& d) {
  std::uint64_t cursor = 0;
  for (const auto& [range, holders] : d.ranges) {
    if (range.first == range.second) continue;  // an empty piece of an empty tensor
    if (range.first < cursor) {
      throw Error(Errc::InvalidArgument,
                  "tensor " + codec::quote(name) + ": rank " + std::to_string(holders[0].first) +
                      " declares " + range_text(range.first, range.second) +
                      ", which overlaps another rank's range ending at offset " +
                      std::to_string(cursor));
    }
    if (range.first > cursor) {
      throw Error(Errc::InvalidArgument, "tensor " + codec::quote(name) + ": no rank holds " +
                                             range_text(cursor, range.first));
    }
    cursor = range.second;
  }
  if (cursor != nbytes) {
    throw Error(Errc::InvalidArgument,
                "tensor " + codec::quote(name) + ": no rank holds " + range_text(cursor, nbytes));
  }
}

}  // namespace

SavePlan plan_save(const std::vector<RankDecl>& ranks, const SaveOptions& options) {
  std::vector<const RankDecl*> sorted;
  for (const RankDecl& r : ranks) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const RankDecl* a, const RankDecl* b) { return a->rank < b->rank; });

  std::map<std::string, Declared> by_name;
  for (const RankDecl* r : sorted) {
    for (std::size_t i = 0; i < r->pieces.size(); ++i) {
      const PieceDecl& p = r->pieces[i];
      Declared& d = by_name[p.name];
      if (d.first == nullptr) {
        d.first = &p;
        d.first_rank = r->rank;
      } else if (d.first->dtype != p.dtype || d.first->shape != p.shape) {
        throw Error(Errc::InvalidArgument,
                    "tensor " + codec::quote(p.name) + ": rank " + std::to_string(d.first_rank) +
                        " declares " + std::string(to_string(d.first->dtype)) + " " +
                        shape_string(d.first->shape) + ", rank " + std::to_string(r->rank) +
                        " declares " + std::string(to_string(p.dtype)) + " " +
                        shape_string(p.shape));
      }
      const std::optional<std::uint64_t> n = byte_size(p.dtype, p.shape);
      if (!n) {
        throw Error(Errc::ValidationOverflow,
                    "tensor " + codec::quote(p.name) + ": shape " + shape_string(p.shape) + " of " +
                        std::string(to_string(p.dtype)) + " has no byte size");
      }
      if (p.begin > p.end || p.end > *n || (p.begin == p.end && *n != 0)) {
        throw Error(Errc::InvalidArgument, "tensor " + codec::quote(p.name) + ": rank " +
                                               std::to_string(r->rank) + " declares " +
                                               range_text(p.begin, p.end) + " of a tensor of " +
                                               std::to_string(*n) + " bytes");
      }
      auto& holders = d.ranges[{p.begin, p.end}];
      if (!holders.empty() && holders.back().first == r->rank) {
        throw Error(Errc::DuplicateName, "tensor " + codec::quote(p.name) + ": rank " +
                                             std::to_string(r->rank) + " declares " +
                                             range_text(p.begin, p.end) + " twice");
      }
      holders.emplace_back(r->rank, i);
    }
  }

  // Canonical order, then greedy shards (as stsw::dump), then one layout per shard.
  std::vector<TensorSpec> specs;
  for (const auto& [name, d] : by_name) {
    check_tiling(name, *byte_size(d.first->dtype, d.first->shape), d);
    specs.push_back({name, d.first->dtype, d.first->shape});
  }
  sort_canonical(specs);
  std::vector<std::uint64_t> sizes;
  for (const TensorSpec& s : specs) sizes.push_back(*byte_size(s.dtype, s.shape));
  const auto groups = writer::plan_shards(sizes, options.max_shard_size.value_or(UINT64_MAX));

  SavePlan plan;
  plan.align = options.align;
  plan.metadata = options.metadata;
  if (groups.size() > 1 && !plan.metadata) plan.metadata = Metadata{{"format", "pt"}};
  plan.tensors.resize(specs.size());
  std::map<std::string, std::size_t> tensor_of;
  for (std::size_t s = 0; s < groups.size(); ++s) {
    std::vector<TensorSpec> shard_specs;
    for (std::size_t i : groups[s]) shard_specs.push_back(specs[i]);
    Layout layout =
        plan_layout(shard_specs, LayoutOrder::Keep, plan.align, plan.metadata, /*reserve=*/true);
    for (std::size_t k = 0; k < groups[s].size(); ++k) {
      const std::size_t i = groups[s][k];
      plan.tensors[i] = {specs[i].name, sizes[i], s, k};
      tensor_of[specs[i].name] = i;
      plan.total_size += sizes[i];
    }
    plan.shards.push_back({std::move(layout.tensors), layout.header_size, layout.data_size});
  }

  for (const auto& [name, d] : by_name) {
    const std::size_t t = tensor_of.at(name);
    const PlannedTensor& pt = plan.tensors[t];
    const PlannedShard& sh = plan.shards[pt.shard];
    const std::uint64_t base = 8 + sh.header_size + sh.tensors[pt.index].offset_begin;
    for (const auto& [range, holders] : d.ranges) {
      for (std::size_t h = 0; h < holders.size(); ++h) {
        plan.writes.push_back({holders[h].first, holders[h].second, t, pt.shard, base + range.first,
                               range.first, range.second, h == 0});
      }
    }
  }
  std::sort(plan.writes.begin(), plan.writes.end(), [](const PieceWrite& a, const PieceWrite& b) {
    return std::tie(a.rank, a.piece) < std::tie(b.rank, b.piece);
  });
  return plan;
}

std::optional<std::uint32_t> combine_pieces(const std::string& tensor, std::uint64_t nbytes,
                                            const std::vector<PieceReport>& pieces,
                                            const std::vector<int>& ranks) {
  // (begin, end) -> (crc, first rank reporting it)
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::pair<std::uint32_t, int>> distinct;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const PieceReport& p = pieces[i];
    const int rank = i < ranks.size() ? ranks[i] : -1;
    const auto [it, fresh] = distinct.try_emplace({p.begin, p.end}, p.crc, rank);
    if (!fresh && it->second.first != p.crc) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " (crc32 0x%08x vs 0x%08x)", it->second.first, p.crc);
      throw Error(Errc::CrcMismatch, "tensor " + codec::quote(tensor) + ": replicas differ in " +
                                         range_text(p.begin, p.end) + ": ranks " +
                                         ranks_text({it->second.second, rank}) +
                                         " hold different data" + buf);
    }
  }
  Crc32 crc;
  for (const auto& [range, v] : distinct) {
    if (range.first == range.second) continue;
    if (range.first != crc.length()) return std::nullopt;
    crc.append(v.first, range.second - range.first);
  }
  if (crc.length() != nbytes) return std::nullopt;
  return crc.value();
}

}  // namespace stsw::dist
