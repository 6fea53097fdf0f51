// The checkpoint-writer and model-loader rows of issue 16: StreamWriter::write_at from many
// producer threads in shuffled piece order, and StreamReader::read_range of a slice of
// every tensor.
#include <algorithm>
#include <barrier>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "stsw_workloads.hpp"

#include "measure.hpp"

namespace stsw::bench {

std::uint64_t stsw_write_at(const std::string& path, const BenchFile& file,
                            const TensorSource& source, const StswSettings& s, unsigned threads,
                            std::size_t piece) {
  struct Piece {
    const TensorMeta* t;
    std::uint64_t off;
    std::size_t n;
  };
  std::vector<Piece> pieces;
  for (const auto& t : file.tensors) {
    for (std::uint64_t off = 0; off < t.nbytes(); off += piece) {
      pieces.push_back(
          {&t, off, static_cast<std::size_t>(std::min<std::uint64_t>(piece, t.nbytes() - off))});
    }
  }
  // Producers finish out of order within a window of `threads` pieces; the windows follow
  // each other (a barrier), as layers of a model being copied off devices would.
  std::mt19937 rng(12345);
  for (std::size_t w = 0; w < pieces.size(); w += threads) {
    auto end = pieces.begin() + static_cast<std::ptrdiff_t>(std::min(pieces.size(), w + threads));
    std::shuffle(pieces.begin() + static_cast<std::ptrdiff_t>(w), end, rng);
  }
  WriterOptions o;
  o.metadata = Metadata{{"format", "pt"}};
  o.io_mode = s.io_mode;
  o.engine = s.engine;
  StreamWriter wr = StreamWriter::open(path, file.tensors, o);
  mark_first_submit();
  std::barrier sync(static_cast<std::ptrdiff_t>(threads));
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> ts;
  for (unsigned k = 0; k < threads; ++k) {
    ts.emplace_back([&, k] {
      for (std::size_t w = 0; w < pieces.size(); w += threads) {
        if (w + k < pieces.size() && !errors[k]) {
          const Piece& p = pieces[w + k];
          try {
            wr.write_at(p.t->name, p.off, source.bytes(*p.t).subspan(p.off, p.n)).get();
          } catch (...) {
            errors[k] = std::current_exception();
          }
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& t : ts) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  wr.close().get();
  return 8 + wr.header_size() + file.data_size;
}

std::uint64_t stsw_read_ranges(const std::string& path, std::span<std::byte> dst,
                               const StswSettings& s, unsigned fraction) {
  ReaderOptions o;
  o.io_mode = s.read_mode;
  o.engine = s.engine;
  StreamReader r = StreamReader::open(path, o);
  mark_first_submit();
  std::vector<ReadRequest> reqs;
  std::uint64_t at = 0;
  std::uint64_t bytes = 0;
  for (const auto& name : r.keys()) {
    const std::uint64_t n = r.meta(name).nbytes() / fraction;
    if (n == 0) continue;
    // The middle slice: a tensor-parallel rank's share.
    const std::uint64_t off = (r.meta(name).nbytes() - n) / 2 / 4096 * 4096;
    if (at + n > dst.size()) throw Error(Errc::InvalidArgument, "destination too small");
    reqs.push_back({name, off, dst.subspan(at, n)});
    at = (at + n + 4095) / 4096 * 4096;
    bytes += n;
  }
  ReadBatchOptions bo;
  bo.max_bytes_in_flight = UINT64_MAX;
  r.read_batch(std::move(reqs), bo).get();
  return bytes;
}

}  // namespace stsw::bench
