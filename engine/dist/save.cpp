// Multi-rank checkpoints: a rank's writes into the shared temporary files, and the
// coordinator's two-phase commit through the sharded-set writer
// (include/stsw/distributed.hpp).
#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <set>

#include "codec/text.hpp"
#include "stsw/crc32.hpp"
#include "stsw/distributed.hpp"
#include "stsw/engine.hpp"
#include "writer/shard_set_writer.hpp"
#include "writer/target_file.hpp"

namespace stsw::dist {

namespace {

// Bytes per engine write request: large enough to keep the queue busy, small enough that a
// piece of several GiB is spread over the engine's workers.
constexpr std::uint64_t kWriteRequest = 64ULL << 20;
// Pieces with fewer bytes than this in whole disk blocks (the rows of a narrow column
// block) are written through the page cache: a staging buffer per few KiB would cost more
// than the copy into the page cache.
constexpr std::uint64_t kDirectMin = 1ULL << 20;

// The staged writes of a rank in flight, at most `cap` (the pool's registered buffers):
// when the disk is slower than the copies, more would only make the pool map extra
// buffers (it grows on demand, up to 1 GiB by default) instead of waiting for the disk.
struct StagedWindow {
  std::size_t cap = 1;
  std::deque<std::future<void>> q;

  void make_room() {
    while (q.size() >= cap) {
      std::future<void> f = std::move(q.front());
      q.pop_front();
      f.get();
    }
  }
  // Waits for every staged write (see wait_all), rethrowing the first failure.
  void wait() {
    std::vector<std::future<void>> all(std::make_move_iterator(q.begin()),
                                       std::make_move_iterator(q.end()));
    q.clear();
    wait_all(all);
  }
};

// Queues the writes of one piece (`d` at `at` in `f`) and returns its CRC-32, computed on
// this thread while the engine writes. `f` is O_DIRECT where the file system allows it:
// the blocks wholly inside the piece go direct (from `d` itself when its address is
// congruent with the file offset, else copied into staging buffers together with the
// CRC); the head and tail that share a block with a neighbour (another rank's piece or
// the header) go through the page cache (the engine sends unaligned requests through the
// buffered descriptor), so no two writers ever write the same block directly. Direct
// writes keep the ranks' data out of the page cache: buffered writes of fresh page-cache
// pages cost several times the direct rate here (PERF_NOTES.md, "Disk" and "Memory").
// The futures of requests that read `d` itself go to `in_place`, those of staged copies to
// `staged`; `stage` (sourced bytes, to be freed soon) copies every direct block.
std::uint32_t write_piece(Engine& engine, const File& f, std::uint64_t at,
                          std::span<const std::byte> d, StagedWindow& staged,
                          std::vector<std::future<void>>& in_place, bool stage) {
  Crc32 crc;
  auto plain = [&](std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t o = from; o < to; o += kWriteRequest) {
      const auto part = d.subspan(o, std::min<std::uint64_t>(kWriteRequest, to - o));
      in_place.push_back(engine.write(f, at + o, part));
      crc.update(part);
    }
  };
  const std::uint64_t a = f.direct() ? f.alignment() : 1;
  const std::uint64_t head = (a - at % a) % a;
  if (a <= 1 || d.size() < head + std::max(a, kDirectMin)) {
    plain(0, d.size());
    return crc.value();
  }
  const std::uint64_t body_end = head + (d.size() - head) / a * a;
  plain(0, head);
  if (!stage && reinterpret_cast<std::uintptr_t>(d.data() + head) % a == 0) {
    plain(head, body_end);
  } else {
    for (std::uint64_t o = head; o < body_end;) {
      staged.make_room();
      StagingBuffer b = engine.acquire_buffer();
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(b.capacity(), body_end - o));
      const auto src = d.subspan(o, n);
      std::memcpy(b.data().data(), src.data(), n);
      crc.update(src);
      staged.q.push_back(engine.write(f, at + o, std::move(b), n));
      o += n;
    }
  }
  plain(body_end, d.size());
  return crc.value();
}

// The bytes of the current PieceBytes::source and the futures of the requests that read
// them in place.
struct Sourced {
  const std::function<SourcedBytes()>* key = nullptr;
  SourcedBytes bytes;
  std::vector<std::future<void>> in_place;

  // Waits until the engine let go of the bytes, then drops them (rethrows a write failure
  // after dropping them).
  void drop() {
    key = nullptr;
    try {
      wait_all(in_place);
    } catch (...) {
      bytes = {};
      throw;
    }
    bytes = {};
  }
};

// Makes the bytes of `source` for tensor `name`: an exception becomes an Error naming it.
SourcedBytes make_bytes(const std::function<SourcedBytes()>& source, int rank,
                        const std::string& name) {
  const std::string where =
      "rank " + std::to_string(rank) + ": tensor " + codec::quote(name) + ": making its bytes: ";
  try {
    return source();
  } catch (const Error& e) {
    throw Error(e.code(), where + e.what());
  } catch (const std::exception& e) {
    throw Error(Errc::Io, where + e.what());
  }
}

}  // namespace

RankReport write_rank(const SavePlan& plan, int rank, const std::vector<std::string>& temp_files,
                      const std::vector<std::span<const std::byte>>& data, bool durable,
                      std::shared_ptr<Engine> engine) {
  std::vector<PieceBytes> pieces;
  pieces.reserve(data.size());
  for (const auto d : data) pieces.push_back({d, nullptr, 0});
  return write_rank(plan, rank, temp_files, pieces, durable, std::move(engine));
}

RankReport write_rank(const SavePlan& plan, int rank, const std::vector<std::string>& temp_files,
                      const std::vector<PieceBytes>& data, bool durable,
                      std::shared_ptr<Engine> engine) {
  RankReport report;
  report.rank = rank;
  Sourced sourced;  // before `pending`: dropped after every request was waited for
  std::vector<std::future<void>> pending;
  StagedWindow staged;
  try {
    if (!engine) engine = Engine::shared();
    staged.cap = std::max(1U, engine->options().buffer_count);
    if (temp_files.size() != plan.shards.size()) {
      throw Error(Errc::InvalidArgument,
                  "rank " + std::to_string(rank) + ": " + std::to_string(temp_files.size()) +
                      " temporary files for " + std::to_string(plan.shards.size()) + " shards");
    }
    std::size_t mine = 0;
    for (const PieceWrite& w : plan.writes) mine += w.rank == rank ? 1 : 0;
    if (mine != data.size()) {
      throw Error(Errc::InvalidArgument, "rank " + std::to_string(rank) + ": " +
                                             std::to_string(data.size()) + " buffers for the " +
                                             std::to_string(mine) + " pieces it declared");
    }
    std::map<std::size_t, File> files;  // shard -> this rank's descriptor
    for (const PieceWrite& w : plan.writes) {
      if (w.rank != rank) continue;
      const std::string& name = plan.tensors[w.tensor].name;
      const PieceBytes& p = data.at(w.piece);
      std::span<const std::byte> d = p.data;
      if (p.source) {
        if (sourced.key != p.source.get()) {
          sourced.drop();  // one sourced buffer at a time: the previous one is staged
          sourced.bytes = make_bytes(*p.source, rank, name);
          sourced.key = p.source.get();
        }
        const std::uint64_t have = sourced.bytes.data.size();
        if (p.offset > have || have - p.offset < w.end - w.begin) {
          throw Error(Errc::LengthMismatch,
                      "rank " + std::to_string(rank) + ": tensor " + codec::quote(name) +
                          " bytes [" + std::to_string(w.begin) + ", " + std::to_string(w.end) +
                          "): its source made " + std::to_string(have) +
                          " bytes, the piece starts at " + std::to_string(p.offset));
        }
        d = sourced.bytes.data.subspan(p.offset, w.end - w.begin);
      }
      if (d.size() != w.end - w.begin) {
        throw Error(Errc::LengthMismatch,
                    "rank " + std::to_string(rank) + ": tensor " + codec::quote(name) + " bytes [" +
                        std::to_string(w.begin) + ", " + std::to_string(w.end) +
                        "): " + std::to_string(d.size()) + " bytes given");
      }
      if (w.write) {
        auto it = files.find(w.shard);
        if (it == files.end()) {
          it = files
                   .emplace(w.shard,
                            File::open(temp_files[w.shard], O_RDWR | O_CLOEXEC, 0, IoMode::Auto))
                   .first;
        }
        const bool src = p.source != nullptr;
        report.pieces.push_back({name, w.begin, w.end,
                                 write_piece(*engine, it->second, w.file_offset, d, staged,
                                             src ? sourced.in_place : pending, src)});
      } else {
        // A replica written by a lower rank: only its CRC, to compare.
        report.pieces.push_back({name, w.begin, w.end, crc32(d)});
      }
    }
    sourced.drop();
    wait_all(pending);
    staged.wait();
    if (durable) {
      std::vector<std::future<void>> syncs;
      for (auto& [s, f] : files) syncs.push_back(engine->sync(f, true));
      wait_all(syncs);
    }
  } catch (const Error& e) {
    report.ok = false;
    report.errc = e.code();
    report.error = e.what();
  } catch (const std::exception& e) {
    report.ok = false;
    report.errc = Errc::Io;
    report.error = e.what();
  }
  try {
    wait_all(pending);  // after a failure: the engine must be done with `data`
  } catch (...) {
  }
  try {
    staged.wait();
  } catch (...) {
  }
  try {
    sourced.drop();  // and with the sourced bytes, which are dropped on this thread
  } catch (...) {
  }
  if (!report.ok) report.pieces.clear();
  return report;
}

struct SaveCoordinator::Impl {
  Impl(const std::string& path, std::size_t shards, bool durable) : set(path, shards, durable) {}
  writer::ShardSetWriter set;
  std::vector<writer::TargetFile> targets;
  bool durable = true;
  std::string path;
};

SaveCoordinator::SaveCoordinator(const std::string& path, SavePlan plan, const SaveOptions& options)
    : plan_(std::move(plan)),
      impl_(std::make_unique<Impl>(path, plan_.shards.size(), options.durable)) {
  impl_->durable = options.durable;
  impl_->path = path;
  for (std::size_t s = 0; s < plan_.shards.size(); ++s) {
    const std::uint64_t size = plan_.shards[s].file_size();
    writer::TargetFile t =
        writer::TargetFile::create(impl_->set.file(s), IoMode::Buffered, size, false);
    t.truncate(size);
    temp_.push_back(t.temp_path());
    impl_->targets.push_back(std::move(t));
  }
}

SaveCoordinator::~SaveCoordinator() = default;  // targets discard, the set abandons

SaveResult SaveCoordinator::commit(const std::vector<RankReport>& reports) {
  const std::string& path = impl_->path;
  // Phase one's outcome: every rank must have succeeded.
  std::string failed;
  std::optional<Errc> first;
  std::set<int> reported;
  for (const RankReport& r : reports) {
    reported.insert(r.rank);
    if (r.ok) continue;
    if (!first) first = r.errc;
    failed += (failed.empty() ? "" : "; ") + ("rank " + std::to_string(r.rank) + ": " + r.error);
  }
  if (first) {
    throw Error(*first, path + ": not saved, the previous checkpoint is unchanged: " + failed);
  }
  for (const PieceWrite& w : plan_.writes) {
    if (reported.count(w.rank) == 0) {
      throw Error(Errc::InvalidArgument,
                  path + ": not saved: rank " + std::to_string(w.rank) + " did not report");
    }
  }
  // Per-tensor CRCs from the pieces (replicas compared).
  std::map<std::string, std::size_t> tensor_of;
  for (std::size_t t = 0; t < plan_.tensors.size(); ++t) tensor_of[plan_.tensors[t].name] = t;
  std::vector<std::vector<PieceReport>> pieces(plan_.tensors.size());
  std::vector<std::vector<int>> ranks(plan_.tensors.size());
  for (const RankReport& r : reports) {
    for (const PieceReport& p : r.pieces) {
      const auto it = tensor_of.find(p.name);
      if (it == tensor_of.end()) {
        throw Error(Errc::UnknownTensor, path + ": rank " + std::to_string(r.rank) +
                                             " reports tensor " + codec::quote(p.name) +
                                             ", which no rank declared");
      }
      pieces[it->second].push_back(p);
      ranks[it->second].push_back(r.rank);
    }
  }
  for (std::size_t t = 0; t < plan_.tensors.size(); ++t) {
    const PlannedTensor& pt = plan_.tensors[t];
    const std::optional<std::uint32_t> crc =
        combine_pieces(pt.name, pt.nbytes, pieces[t], ranks[t]);
    if (!crc) {
      throw Error(Errc::InvalidArgument, path + ": tensor " + codec::quote(pt.name) +
                                             ": the reported pieces do not cover it exactly");
    }
    plan_.shards[pt.shard].tensors[pt.index].crc32 = *crc;
  }
  // Headers with the CRCs, in the room reserved for them.
  const std::shared_ptr<Engine> engine = Engine::shared();
  for (std::size_t s = 0; s < plan_.shards.size(); ++s) {
    EncodeOptions eo;
    eo.align = plan_.align;
    eo.exact_header_size = plan_.shards[s].header_size;
    const std::string header = encode_header(plan_.shards[s].tensors, plan_.metadata, eo);
    File& f = impl_->targets[s].file();
    engine->write(f, 0, std::as_bytes(std::span(header.data(), header.size()))).get();
    if (impl_->durable) engine->sync(f, true).get();
  }
  // Phase two: shards into place under their new names, then the index (the commit point).
  impl_->set.write(1, [&](std::size_t s) { impl_->targets[s].commit(impl_->durable); });
  std::vector<std::pair<std::string, std::size_t>> weight_map;
  for (const PlannedTensor& t : plan_.tensors) weight_map.emplace_back(t.name, t.shard);
  SaveResult result;
  result.index = impl_->set.publish(weight_map, plan_.total_size);
  result.files = impl_->set.files();
  return result;
}

}  // namespace stsw::dist
