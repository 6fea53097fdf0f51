// StreamWriter::write_at (issue 16): pieces in any order from many threads give a file
// byte-identical to the in-order one (CRCs included), also when the pieces are spread over
// more chunks than the writer may hold buffers (partial chunks written in runs); gaps,
// overlaps and bad arguments are reported; an injected EIO / ENOSPC at every write and
// sync of the new path surfaces and leaves the path untouched. Both backends, O_DIRECT and
// buffered.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>

#include "io/fault_injection.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

using testing::Fault;
using testing::FaultPlan;

std::vector<TensorMeta> metas() {
  return contiguous({{"embed", DType::F32, {50000}},  // 200000 bytes: several chunks
                     {"odd", DType::U8, {70001}},
                     {"empty", DType::F32, {0}},
                     {"tiny", DType::I16, {3}},
                     {"big", DType::BF16, {3, 100000}},
                     {"last", DType::U8, {4097}}});
}

DataMap data_for(const std::vector<TensorMeta>& ms) {
  DataMap d;
  unsigned seed = 1;
  for (const TensorMeta& t : ms) d[t.name] = pattern(t.nbytes(), seed++);
  return d;
}

struct Piece {
  std::string name;
  std::uint64_t offset;
  std::size_t size;
};

// Cuts every tensor into pieces of random sizes in [1, max_piece] and shuffles them.
std::vector<Piece> pieces(const std::vector<TensorMeta>& ms, std::size_t max_piece, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Piece> out;
  for (const TensorMeta& t : ms) {
    for (std::uint64_t off = 0; off < t.nbytes();) {
      const std::size_t n = std::min<std::uint64_t>(t.nbytes() - off, 1 + rng() % max_piece);
      out.push_back({t.name, off, n});
      off += n;
    }
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

class WriteAt : public ::testing::TestWithParam<IoConfig> {
 protected:
  WriterOptions options(unsigned writer_buffers = 0) {
    WriterOptions o;
    o.engine = make_engine(GetParam().backend, 64 * 1024, 8);
    o.io_mode = GetParam().mode;
    o.buffer_count = writer_buffers;
    o.durable = false;
    return o;
  }
  void SetUp() override {
    if (!make_engine(GetParam().backend)) GTEST_SKIP() << "io_uring is not available here";
  }
  std::string in_order(const WriterOptions& o, const DataMap& d) {
    const std::string path = dir_.file("in_order");
    auto w = StreamWriter::open(path, metas(), o);
    for (const TensorMeta& t : metas()) w.write_block(t.name, d.at(t.name)).get();
    w.close().get();
    return path;
  }
  // Writes `ps` from `threads` threads (piece i on thread i % threads).
  static void write_pieces(StreamWriter& w, const DataMap& d, const std::vector<Piece>& ps,
                           unsigned threads) {
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        std::vector<std::future<void>> fs;
        for (std::size_t i = t; i < ps.size(); i += threads) {
          const Piece& p = ps[i];
          fs.push_back(
              w.write_at(p.name, p.offset, std::span(d.at(p.name)).subspan(p.offset, p.size)));
        }
        for (auto& f : fs) f.get();
      });
    }
    for (auto& t : ts) t.join();
  }
  TempDir dir_;
};

TEST_P(WriteAt, RandomOrderFromSixteenThreadsIsByteIdentical) {
  const auto d = data_for(metas());
  const auto o = options();
  const std::string ref = in_order(o, d);
  for (std::size_t max_piece : {std::size_t{777}, std::size_t{70000}, std::size_t{300000}}) {
    SCOPED_TRACE(max_piece);
    const std::string path = dir_.file("random");
    auto w = StreamWriter::open(path, metas(), o);
    write_pieces(w, d, pieces(metas(), max_piece, static_cast<unsigned>(max_piece)), 16);
    w.close().get();
    check_file(path, true, &d);
    EXPECT_EQ(read_file(path), read_file(ref));
    const auto ts = w.tensors();
    ASSERT_TRUE(ts[0].crc32.has_value());
    EXPECT_EQ(*ts[0].crc32, zlib_crc(d.at("embed")));
  }
}

TEST_P(WriteAt, MorePartlyFilledChunksThanBuffersStillByteIdentical) {
  const auto d = data_for(metas());
  const std::string ref = in_order(options(), d);
  // Two buffers for pieces spread over ~10 chunks: partial chunks are written in runs.
  const auto o = options(2);
  const std::string path = dir_.file("evicting");
  auto w = StreamWriter::open(path, metas(), o);
  write_pieces(w, d, pieces(metas(), 3000, 42), 4);
  w.close().get();
  check_file(path, true, &d);
  EXPECT_EQ(read_file(path), read_file(ref));
}

TEST_P(WriteAt, CrcOffIsByteIdenticalToo) {
  const auto d = data_for(metas());
  auto o = options(2);
  o.crc32 = false;
  o.align = 8;
  const std::string ref = in_order(o, d);
  const std::string path = dir_.file("nocrc");
  auto w = StreamWriter::open(path, metas(), o);
  write_pieces(w, d, pieces(metas(), 5000, 7), 3);
  w.close().get();
  check_file(path, false, &d);
  EXPECT_EQ(read_file(path), read_file(ref));
}

TEST_P(WriteAt, CloseNamesTheFirstMissingByte) {
  const auto d = data_for(metas());
  const std::string path = dir_.file("gap");
  auto w = StreamWriter::open(path, metas(), options());
  std::vector<Piece> ps = pieces(metas(), 10000, 3);
  // Leave out bytes [1000, 1500) of "odd".
  std::vector<Piece> kept;
  for (const Piece& p : ps) {
    if (p.name != "odd") {
      kept.push_back(p);
      continue;
    }
    const std::uint64_t lo = p.offset, hi = p.offset + p.size;
    if (lo < 1000)
      kept.push_back(
          {p.name, lo, static_cast<std::size_t>(std::min<std::uint64_t>(hi, 1000) - lo)});
    if (hi > 1500) {
      const std::uint64_t s = std::max<std::uint64_t>(lo, 1500);
      kept.push_back({p.name, s, static_cast<std::size_t>(hi - s)});
    }
  }
  write_pieces(w, d, kept, 2);
  try {
    w.close().get();
    FAIL() << "close with a gap must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::LengthMismatch) << e.what();
    EXPECT_NE(e.message().find("tensor 'odd'"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("offset 1000"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
  }
  // The writer stays open: fill the gap and close.
  w.write_at("odd", 1000, std::span(d.at("odd")).subspan(1000, 500)).get();
  w.close().get();
  check_file(path, true, &d);
}

TEST_P(WriteAt, BadPiecesAreRejectedAndLeaveTheWriterUsable) {
  const auto d = data_for(metas());
  const std::string path = dir_.file("bad");
  auto w = StreamWriter::open(path, metas(), options());
  const auto& odd = d.at("odd");
  auto code = [](std::future<void> f) {
    try {
      f.get();
    } catch (const Error& e) {
      return e.code();
    }
    return Errc::HeaderTooSmall;  // "no error"
  };
  w.write_at("odd", 100, std::span(odd).subspan(100, 100)).get();
  EXPECT_EQ(code(w.write_at("odd", 150, std::span(odd).subspan(150, 10))), Errc::InvalidArgument);
  EXPECT_EQ(code(w.write_at("odd", 50, std::span(odd).subspan(50, 51))), Errc::InvalidArgument);
  EXPECT_EQ(code(w.write_at("odd", 199, std::span(odd).subspan(199, 1))), Errc::InvalidArgument);
  EXPECT_EQ(code(w.write_at("odd", 70000, std::span(odd).subspan(0, 2))), Errc::LengthMismatch);
  EXPECT_EQ(code(w.write_at("odd", UINT64_MAX, std::span(odd).subspan(0, 1))),
            Errc::LengthMismatch);
  EXPECT_EQ(code(w.write_at("nope", 0, std::span(odd).subspan(0, 1))), Errc::UnknownTensor);
  EXPECT_EQ(code(w.write_block("odd", std::span(odd).subspan(0, 1))), Errc::InvalidState);
  EXPECT_THROW((void)w.window("odd"), Error);
  // Adjacent pieces are fine; the callback form runs once.
  std::promise<std::exception_ptr> p;
  w.write_at("odd", 200, std::span(odd).subspan(200, 10),
             [&](std::exception_ptr e) { p.set_value(e); });
  EXPECT_EQ(p.get_future().get(), nullptr);
  w.write_at("odd", 0, std::span(odd).subspan(0, 100)).get();
  write_pieces(
      w, d,
      [&] {
        std::vector<Piece> rest;
        for (const Piece& x : pieces(metas(), 50000, 9)) {
          if (x.name != "odd") rest.push_back(x);
        }
        rest.push_back({"odd", 210, odd.size() - 210});
        return rest;
      }(),
      2);
  w.close().get();
  check_file(path, true, &d);
}

TEST_P(WriteAt, WriteAtAfterWriteBlockIsRefused) {
  const auto d = data_for(metas());
  auto w = StreamWriter::open(dir_.file("mixed"), metas(), options());
  w.write_block("embed", std::span(d.at("embed")).first(10)).get();
  try {
    w.write_at("embed", 100, std::span(d.at("embed")).subspan(100, 10)).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidState) << e.what();
  }
  w.abort();
}

INSTANTIATE_TEST_SUITE_P(Io, WriteAt, ::testing::ValuesIn(io_configs()),
                         [](const auto& info) { return config_name(info.param); });

// ---- injected faults at every write and sync of a write_at run --------------------------

class WriteAtFaults : public ::testing::TestWithParam<IoConfig> {
 protected:
  void SetUp() override {
    if (GetParam().backend == BackendKind::Uring && !make_engine(BackendKind::Uring)) {
      GTEST_SKIP() << "io_uring is not available on this kernel";
    }
  }
  // Writes in random order with 2 buffers (whole chunks and runs); aborts on failure.
  std::exception_ptr run(const std::string& path, FaultPlan plan,
                         std::shared_ptr<testing::FaultCounters>* counters) {
    EngineOptions eo;
    eo.backend = GetParam().backend;
    eo.chunk_size = 16 * 1024;
    eo.buffer_count = 4;
    WriterOptions o;
    o.engine = testing::make_faulty_engine(eo, std::move(plan), counters);
    o.io_mode = GetParam().mode;
    o.buffer_count = 2;
    const auto ms = contiguous({{"a", DType::F32, {10000}}, {"b", DType::U8, {12345}}});
    const auto d = data_for(ms);
    auto w = StreamWriter::open(path, ms, o);
    try {
      for (const Piece& p : pieces(ms, 3000, 5)) {
        w.write_at(p.name, p.offset, std::span(d.at(p.name)).subspan(p.offset, p.size)).get();
      }
      w.close().get();
    } catch (...) {
      w.abort();
      return std::current_exception();
    }
    return nullptr;
  }
  TempDir dir_;
};

TEST_P(WriteAtFaults, EveryFailedWriteOrSyncSurfacesAndLeavesThePathUntouched) {
  const std::string path = dir_.file("f.safetensors");
  const auto old = pattern(777, 5);
  write_file(path, old);
  std::shared_ptr<testing::FaultCounters> counters;
  ASSERT_EQ(run(dir_.file("clean"), {}, &counters), nullptr);
  const std::uint64_t writes = counters->count(Fault::Op::Write);
  const std::uint64_t syncs = counters->count(Fault::Op::Sync);
  ASSERT_GE(writes, 3U);
  // Which partial chunks are written in runs depends on write timing, so the request count
  // varies a little between runs: index i may not be reached.
  sweep_write_faults(
      path, writes, syncs,
      [&](const FaultPlan& plan) {
        std::shared_ptr<testing::FaultCounters> c;
        std::exception_ptr err = run(path, plan, &c);
        return FaultedRun{std::move(err), c->injected.load() != 0};
      },
      [&](bool landed) {
        if (!landed) {
          write_file(path, old);  // the run replaced it
          return;
        }
        EXPECT_EQ(read_file(path), old);
        EXPECT_EQ(dir_.entries(), (std::vector<std::string>{"clean", "f.safetensors"}));
      });
  // Retried and short transfers still give a valid file.
  FaultPlan plan;
  const Fault::Kind kinds[] = {Fault::Kind::Eagain, Fault::Kind::Eintr, Fault::Kind::Short};
  for (std::uint64_t i = 0; i < writes; ++i)
    plan.faults.push_back({Fault::Op::Write, i, kinds[i % 3]});
  ASSERT_EQ(run(dir_.file("retried"), plan, nullptr), nullptr);
  check_file(dir_.file("retried"), true);
}

INSTANTIATE_TEST_SUITE_P(Io, WriteAtFaults, ::testing::ValuesIn(io_configs()),
                         [](const auto& info) { return config_name(info.param); });

}  // namespace
}  // namespace stsw::writer_test
