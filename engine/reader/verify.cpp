#include <algorithm>
#include <chrono>
#include <utility>

#include "reader/piece_table.hpp"
#include "reader/read_ops.hpp"
#include "stsw/crc32.hpp"

namespace stsw::detail {

namespace {

using Clock = std::chrono::steady_clock;

// One verify() call: scans shard after shard; the next scan is submitted from the
// previous one's completion. Holds the engine weakly, so dropping every reference to the
// engine cancels the scrub (Errc::Cancelled from the engine) instead of the job keeping
// the engine alive from one of its own threads.
class VerifyJob : public std::enable_shared_from_this<VerifyJob> {
 public:
  VerifyJob(const std::shared_ptr<Engine>& engine, std::vector<std::shared_ptr<const Shard>> shards,
            StreamReader::VerifyCallback done)
      : engine_(engine), shards_(std::move(shards)), done_(std::move(done)), start_(Clock::now()) {}

  // Submits the next scan, or completes the job. Runs on engine threads only.
  void run_next() {
    try {
      run_next_unguarded();
    } catch (...) {
      fail(std::current_exception());
    }
  }

  void fail(std::exception_ptr err) {
    if (!done_) return;
    auto done = std::exchange(done_, nullptr);
    done(err, VerifyReport{});
  }

 private:
  void run_next_unguarded() {
    while (current_ < shards_.size()) {
      const Shard& s = *shards_[current_];
      const auto [lo, hi] = scan_range(s);
      if (lo == hi) {
        if (!finish_shard(nullptr)) return;
        continue;
      }
      auto engine = engine_.lock();
      if (!engine) {
        fail(
            std::make_exception_ptr(Error(Errc::Cancelled, s.path + ": the engine was destroyed")));
        return;
      }
      table_ = std::make_shared<PieceTable>(s.header.tensors.size());
      report_.bytes += hi - lo;
      auto self = shared_from_this();
      auto shard = shards_[current_];
      auto table = table_;
      engine->scan(
          s.io_file(), lo, hi - lo,
          [shard, table](std::uint64_t off, std::span<const std::byte> b) {
            on_chunk(*shard, *table, off, b);
          },
          [self](std::exception_ptr err) {
            if (err) {
              self->fail(err);
              return;
            }
            if (self->finish_shard(self->table_.get())) self->run_next();
          });
      return;
    }
    report_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    if (!done_) return;
    auto done = std::exchange(done_, nullptr);
    done(nullptr, std::move(report_));
  }

  // The file range covering every tensor byte present in the file (the engine reads
  // O_DIRECT files in aligned windows around it).
  static std::pair<std::uint64_t, std::uint64_t> scan_range(const Shard& s) {
    std::uint64_t first = s.file_size;
    std::uint64_t last = 0;
    for (std::size_t i = 0; i < s.header.tensors.size(); ++i) {
      if (s.header.tensors[i].nbytes() == 0) continue;
      first = std::min(first, s.abs_begin(i));
      last = std::max(last, std::min(s.abs_end(i), s.file_size));
    }
    if (last <= first) return {0, 0};
    return {first, last};
  }

  static void on_chunk(const Shard& s, PieceTable& table, std::uint64_t off,
                       std::span<const std::byte> b) {
    const auto& ts = s.header.tensors;
    const std::uint64_t end = off + b.size();
    // Tensors are sorted by (begin, end) and never overlap: ends are non-decreasing.
    auto it = std::partition_point(ts.begin(), ts.end(), [&](const TensorMeta& t) {
      return s.data_offset() + t.offset_end <= off;
    });
    std::vector<std::pair<std::size_t, CrcPiece>> pieces;
    for (; it != ts.end() && s.data_offset() + it->offset_begin < end; ++it) {
      const std::uint64_t tb = s.data_offset() + it->offset_begin;
      const std::uint64_t lo = std::max(off, tb);
      const std::uint64_t hi = std::min(end, s.data_offset() + it->offset_end);
      if (lo >= hi) continue;
      const std::uint32_t c = crc32(b.subspan(lo - off, hi - lo));
      pieces.emplace_back(static_cast<std::size_t>(it - ts.begin()), CrcPiece{lo - tb, hi - lo, c});
    }
    table.add_all(pieces);
  }

  // Appends the shard's entries; false (after fail()) when the scan missed bytes.
  bool finish_shard(PieceTable* table) {
    const Shard& s = *shards_[current_];
    bool python_mismatch = false;
    for (std::size_t i = 0; i < s.header.tensors.size(); ++i) {
      const TensorMeta& m = s.header.tensors[i];
      TensorCheck c{m.name, s.path, TensorStatus::NoChecksum, m.crc32, 0, m.nbytes()};
      if (s.abs_end(i) > s.file_size) {
        c.status = TensorStatus::Missing;
        ++report_.missing;
      } else {
        std::optional<std::uint32_t> crc = std::uint32_t{0};
        if (m.nbytes() > 0) crc = table ? table->combine(i, m.nbytes()) : std::nullopt;
        if (!crc) {
          fail(std::make_exception_ptr(
              Error(Errc::Io,
                    s.path + ": the scan did not deliver every byte of tensor '" + m.name + "'")));
          return false;
        }
        c.actual = *crc;
        if (!m.crc32) {
          ++report_.unchecked;
        } else if (*m.crc32 == *crc) {
          c.status = TensorStatus::Ok;
          ++report_.ok;
        } else {
          c.status = TensorStatus::Mismatch;
          ++report_.mismatched;
          python_mismatch = python_mismatch || s.python_stsw();
        }
      }
      report_.tensors.push_back(std::move(c));
    }
    if (python_mismatch) report_.notes.push_back(s.path + ": " + std::string(xxhash_hint()));
    ++current_;
    return true;
  }

  std::weak_ptr<Engine> engine_;
  std::vector<std::shared_ptr<const Shard>> shards_;
  StreamReader::VerifyCallback done_;
  Clock::time_point start_;
  std::size_t current_ = 0;
  std::shared_ptr<PieceTable> table_;
  VerifyReport report_;
};

}  // namespace

void start_verify(const std::shared_ptr<Engine>& engine,
                  std::vector<std::shared_ptr<const Shard>> shards,
                  StreamReader::VerifyCallback done) {
  auto job = std::make_shared<VerifyJob>(engine, std::move(shards), std::move(done));
  // Start on an engine thread, so the callback never runs on the caller's thread.
  engine->post([job] { job->run_next(); },
               [job](std::exception_ptr err) {
                 if (err) job->fail(err);
               });
}

}  // namespace stsw::detail
