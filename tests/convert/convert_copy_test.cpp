// stsw::convert of safetensors inputs through the asynchronous range copy
// (engine/convert/range_copy.hpp): tensors larger than a ring buffer and pieces crossing
// tensor boundaries at unaligned file offsets, CRC mismatches found in the middle of a big
// tensor (the writer's CRC, or the copier's own with crc32 off), mixed cast and copied
// tensors, progress, converting a file onto itself, read errors injected into the engine
// and truncated inputs; the ring borrowing its buffers from the engine's staging pool
// without making the pool grow, also with pools of two and three buffers (which a ring
// taking its full share would exhaust). Both I/O backends (STSW_IO_BACKEND, as ctest runs
// the suite).
#include <unistd.h>

#include <algorithm>

#include "convert/convert_fixture.hpp"
#include "convert/range_copy.hpp"
#include "io/fault_injection.hpp"
#include "stsw/header.hpp"
#include "stsw/writer.hpp"
#include "support/log_collector.hpp"
#include "support/page_cache.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

// The ring's pieces are the engine's staging buffers (8 MiB by default).
const std::uint64_t kPiece = EngineOptions{}.chunk_size;

struct Tensor {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  std::string bytes;
};

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = 2463534242u + seed;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

Tensor u8(const std::string& name, std::size_t n, unsigned seed) {
  return {name, DType::U8, {n}, pattern(n, seed)};
}

class ConvertCopy : public Convert {
 protected:
  // Big tensors spanning several ring pieces, small ones sharing a piece's worth of reads,
  // an empty one; align 8 puts the data region at an unaligned file offset.
  void SetUp() override {
    tensors_ = {u8("big", 2 * kPiece + 12345, 1), u8("empty", 0, 2)};
    for (unsigned i = 0; i < 24; ++i)
      tensors_.push_back(u8("s" + std::to_string(i), 1 + i * 997, i));
    tensors_.push_back(u8("edge", kPiece - 1, 3));
    tensors_.push_back(u8("last", kPiece + 4096, 4));
    input_ = dir_.file("in.safetensors");
    write_input(input_, tensors_);
  }

  static void write_input(const std::string& path, const std::vector<Tensor>& tensors) {
    std::vector<TensorSpec> specs;
    specs.reserve(tensors.size());
    for (const Tensor& t : tensors) specs.push_back({t.name, t.dtype, t.shape});
    WriterOptions wo;
    wo.align = 8;
    const Layout layout = plan_layout(specs, LayoutOrder::Keep, wo.align, wo.metadata, wo.crc32);
    StreamWriter w = StreamWriter::open(path, layout.tensors, wo);
    for (const Tensor& t : tensors) {
      w.write_block(t.name, std::as_bytes(std::span(t.bytes))).get();
      w.finalize_tensor(t.name);
    }
    w.close().get();
  }

  // Every tensor of `path` holds the input's bytes (the output's CRCs checked by read_into).
  void expect_copied(const std::string& path) const {
    const StreamReader r = StreamReader::open(path, strict_options());
    ASSERT_EQ(r.size(), tensors_.size());
    for (const Tensor& t : tensors_) EXPECT_EQ(tensor_bytes(r, t.name), t.bytes) << t.name;
  }

  // Whether a reader opened now (ReadMode::Auto) reads the input through the page cache:
  // found cached, or no O_DIRECT on this file system.
  bool input_read_through_cache() const {
    return StreamReader::open(input_).shards()[0].mode != ReadMode::Direct;
  }

  // The input file offset of byte `at` of tensor `name`.
  std::uint64_t file_offset(const std::string& name, std::uint64_t at) const {
    ReaderOptions ro;
    const StreamReader r = StreamReader::open(input_, ro);
    return r.shards()[0].data_offset + r.meta(name).offset_begin + at;
  }

  void flip_byte(std::uint64_t offset) const {
    std::string bytes = read_file(input_);
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
    write_file(input_, bytes);
  }

  // Expects the conversion to fail with `code` and `needle`, leaving the previous output
  // and nothing else behind.
  void expect_fails(const ConvertOptions& o, Errc code, const std::string& needle) {
    write_file(dir_.file("out.safetensors"), "previous");
    try {
      (void)convert(input_, dir_.file("out.safetensors"), o);
      ADD_FAILURE() << "accepted; expected " << to_string(code);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(needle));
    }
    EXPECT_EQ(read_file(dir_.file("out.safetensors")), "previous");
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string n = entry.path().filename().string();
      EXPECT_TRUE(n == "in.safetensors" || n == "out.safetensors") << "left behind: " << n;
    }
  }

  std::vector<Tensor> tensors_;
  std::string input_;
};

TEST_F(ConvertCopy, TensorsAcrossPiecesAndBoundariesAreCopiedExactly) {
  for (const bool crc : {true, false}) {
    ConvertOptions o;
    o.crc32 = crc;  // off: the copier computes the input CRCs itself
    o.order = LayoutOrder::Keep;
    const ConvertResult res = convert(input_, dir_.file("out.safetensors"), o);
    EXPECT_EQ(res.tensors, tensors_.size());
    expect_copied(dir_.file("out.safetensors"));
  }
}

TEST_F(ConvertCopy, ACorruptByteMidTensorIsACrcMismatchNamingFileAndTensor) {
  flip_byte(file_offset("big", kPiece + 777));
  for (const bool crc : {true, false}) {
    ConvertOptions o;
    o.crc32 = crc;
    expect_fails(o, Errc::CrcMismatch, input_ + ": tensor 'big' (expected 0x");
  }
  // Not a Python stsw file: no xxhash hint.
  try {
    (void)convert(input_, dir_.file("o2.safetensors"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("xxh32")));
  }
}

// The ring is part of the engine's pool, not memory beside it: while the copy runs the pool
// holds no more than its registered buffers (it never grows), the ring and the writer
// together have them all out at some point, and every buffer is back afterwards.
TEST_F(ConvertCopy, TheRingBorrowsThePoolAndThePoolNeverGrows) {
  const EngineOptions eo;
  const std::shared_ptr<Engine> engine = Engine::create(eo);
  test::drop_from_cache(input_);  // O_DIRECT reads where the file system has them
  const unsigned ring = cvt::RangeCopier::ring_slots(eo.buffer_count, input_read_through_cache());
  ConvertOptions o;
  o.engine = engine;
  o.order = LayoutOrder::Keep;
  unsigned most_total = 0;
  unsigned least_free = eo.buffer_count;
  o.on_progress = [&](const ConvertProgress&) {
    const EngineStats st = engine->stats();
    most_total = std::max(most_total, st.buffers_total);
    least_free = std::min(least_free, st.buffers_free);
  };
  (void)convert(input_, dir_.file("out.safetensors"), o);
  expect_copied(dir_.file("out.safetensors"));
  EXPECT_EQ(most_total, eo.buffer_count) << "the pool grew during the copy";
  EXPECT_LE(least_free, eo.buffer_count - ring) << "the ring's buffers are not the pool's";
  EXPECT_EQ(engine->stats().buffers_free, eo.buffer_count) << "a buffer was not returned";
}

// How the pool is split between the ring and the writer: O_DIRECT reads (a cold input)
// need the ring deep (4 of the default 6); reads through the page cache (a cached input,
// or a file system without O_DIRECT) are memory copies with the kernel's own read-ahead,
// so the ring takes 1 and the writer, whose depth then sets the pace, the rest. Measured
// with the perf harness: a cached input's convert went from 0.65x to 0.97x of the
// StreamWriter in the same run (medians), while a cold input lost 10-20% with a smaller
// ring.
TEST(RangeCopierSplit, ReadsThroughThePageCacheLeaveTheWriterMoreBuffers) {
  using cvt::RangeCopier;
  EXPECT_EQ(RangeCopier::ring_slots(6, false), 4u);
  EXPECT_EQ(RangeCopier::writer_buffers(6, false), 2u);
  EXPECT_EQ(RangeCopier::ring_slots(6, true), 1u);
  EXPECT_EQ(RangeCopier::writer_buffers(6, true), 5u);
  for (unsigned pool = 2; pool <= 16; ++pool) {
    for (const bool cached : {false, true}) {
      SCOPED_TRACE(std::to_string(pool) + (cached ? " cached" : " direct"));
      const unsigned ring = RangeCopier::ring_slots(pool, cached);
      const unsigned writer = RangeCopier::writer_buffers(pool, cached);
      EXPECT_GE(ring, 1u);
      EXPECT_LE(ring, RangeCopier::kMaxSlots);
      EXPECT_GE(writer, std::min(pool - 1, 2u)) << "the writer needs one filling, one written";
      EXPECT_EQ(ring + writer, pool) << "the registered set, no more and no less";
      if (cached) {
        EXPECT_LE(ring, RangeCopier::ring_slots(pool, false));
      }
    }
  }
}

// A conversion takes the split that matches how its reader reads the input (the debug log
// names it): cold, O_DIRECT where the file system has it; cached, through the page cache.
TEST_F(ConvertCopy, TheSplitFollowsHowTheInputIsRead) {
  test::LogCapture log(LogLevel::debug);
  const unsigned pool = EngineOptions{}.buffer_count;
  for (const bool warm : {false, true}) {
    SCOPED_TRACE(warm ? "cached input" : "cold input");
    if (warm) {
      (void)read_file(input_);
    } else {
      test::drop_from_cache(input_);
    }
    const bool cached = input_read_through_cache();
    if (warm) {
      EXPECT_TRUE(cached) << "the reader did not find the input cached";
    }
    log.clear();
    (void)convert(input_, dir_.file("out.safetensors"));
    expect_copied(dir_.file("out.safetensors"));
    const std::string want =
        "a copy ring of " + std::to_string(cvt::RangeCopier::ring_slots(pool, cached)) +
        " buffers, the writer " + std::to_string(cvt::RangeCopier::writer_buffers(pool, cached));
    EXPECT_TRUE(log.saw(want)) << "no log line with '" << want << "'";
  }
}

// An engine whose pool holds `buffers` staging buffers and may never grow past them, with
// 64 KiB chunks (many pieces per tensor).
std::shared_ptr<Engine> capped_engine(unsigned buffers) {
  EngineOptions eo;
  eo.chunk_size = 64 << 10;
  eo.buffer_count = buffers;
  eo.max_buffer_count = buffers;
  return Engine::create(eo);
}

// Pools of two and three buffers capped there (max_buffer_count): the writer holds one
// from open() (the header), so a ring that took its full kMaxSlots share would find the
// pool exhausted (NoSpace) or wait on the writer, which waits on the ring. The split keeps
// both going: byte-exact output, a corrupt byte still named with file and tensor.
TEST_F(ConvertCopy, TinyCappedPoolsStillCopyExactlyAndFindCorruption) {
  for (const unsigned buffers : {2U, 3U}) {
    SCOPED_TRACE(buffers);
    ConvertOptions o;
    o.engine = capped_engine(buffers);
    o.order = LayoutOrder::Keep;
    for (const bool crc : {true, false}) {
      o.crc32 = crc;
      (void)convert(input_, dir_.file("out.safetensors"), o);
      expect_copied(dir_.file("out.safetensors"));
    }
    EXPECT_EQ(o.engine->stats().buffers_total, buffers);
    EXPECT_EQ(o.engine->stats().buffers_free, buffers);
  }
  flip_byte(file_offset("big", kPiece + 777));
  ConvertOptions o;
  o.engine = capped_engine(2);
  expect_fails(o, Errc::CrcMismatch, input_ + ": tensor 'big' (expected 0x");
}

// A pool capped at one buffer cannot hold a ring beside the writer (which keeps its one
// buffer from open() on): the tensors go through the writer's windows instead (read and
// checked by the input's own producer), still byte-exact and still checked.
TEST_F(ConvertCopy, APoolOfOneBufferCopiesThroughTheWriterWindows) {
  ConvertOptions o;
  o.engine = capped_engine(1);
  o.order = LayoutOrder::Keep;
  (void)convert(input_, dir_.file("out.safetensors"), o);
  expect_copied(dir_.file("out.safetensors"));
  flip_byte(file_offset("big", kPiece + 777));
  expect_fails(o, Errc::CrcMismatch, input_ + ": tensor 'big' (expected 0x");
}

TEST_F(ConvertCopy, ACorruptLastTensorIsFoundToo) {
  flip_byte(file_offset("last", kPiece + 4095));
  expect_fails({}, Errc::CrcMismatch, "tensor 'last'");
}

TEST_F(ConvertCopy, CastTensorsAndCopiedTensorsMix) {
  std::vector<Tensor> in = tensors_;
  in.insert(in.begin() + 3, Tensor{"f", DType::F32, {2}, f32_bytes({1.0f, -2.0f})});
  in.push_back(Tensor{"g", DType::F32, {1}, f32_bytes({0.5f})});
  write_input(input_, in);
  ConvertOptions o;
  o.dtype = DType::F16;
  o.order = LayoutOrder::Keep;
  (void)convert(input_, dir_.file("out.safetensors"), o);
  const StreamReader r = StreamReader::open(dir_.file("out.safetensors"), strict_options());
  EXPECT_EQ(r.meta("f").dtype, DType::F16);
  EXPECT_EQ(tensor_bytes(r, "f"), std::string("\x00\x3c\x00\xc0", 4));
  EXPECT_EQ(tensor_bytes(r, "g"), std::string("\x00\x38", 2));
  for (const Tensor& t : tensors_) EXPECT_EQ(tensor_bytes(r, t.name), t.bytes) << t.name;
}

TEST_F(ConvertCopy, ProgressCountsEveryByteAndTensor) {
  ConvertOptions o;
  std::vector<ConvertProgress> seen;
  std::vector<std::string> names;
  o.on_progress = [&](const ConvertProgress& p) {
    seen.push_back(p);
    names.emplace_back(p.tensor);
    seen.back().tensor = {};
  };
  const ConvertResult res = convert(input_, dir_.file("out.safetensors"), o);
  ASSERT_FALSE(seen.empty());
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].bytes_done, seen[i - 1].bytes_done);
    EXPECT_GE(seen[i].tensors_done, seen[i - 1].tensors_done);
    EXPECT_FALSE(names[i].empty());
  }
  EXPECT_EQ(seen.back().bytes_done, res.bytes);
  EXPECT_EQ(seen.back().tensors_done, res.tensors);
  EXPECT_GE(seen.size(), res.tensors);
}

TEST_F(ConvertCopy, ConvertingAFileOntoItselfRewritesItsLayout) {
  ConvertOptions o;
  o.align = 4096;
  o.order = LayoutOrder::Keep;
  (void)convert(input_, input_, o);
  expect_copied(input_);
  const StreamReader r = StreamReader::open(input_, strict_options());
  EXPECT_EQ(r.shards()[0].data_offset % 4096, 0u);
}

TEST_F(ConvertCopy, AReadErrorFailsTheConversionAndLeavesNoOutput) {
  std::shared_ptr<testing::FaultCounters> counters;
  {
    ConvertOptions o;
    o.engine = testing::make_faulty_engine({}, {}, &counters);
    (void)convert(input_, dir_.file("probe.safetensors"), o);
    std::filesystem::remove(dir_.file("probe.safetensors"));
  }
  const std::uint64_t reads = counters->count(testing::Fault::Op::Read);
  ASSERT_GT(reads, 3u) << "the copy goes through the engine's reads";
  for (const std::uint64_t at : {std::uint64_t{0}, reads / 2, reads - 1}) {
    SCOPED_TRACE(at);
    ConvertOptions o;
    o.engine = testing::make_faulty_engine(
        {}, {{{testing::Fault::Op::Read, at, testing::Fault::Kind::Eio}}});
    expect_fails(o, Errc::Io, input_);
  }
}

TEST_F(ConvertCopy, ShortAndRetriedReadsStillCopyExactly) {
  for (const auto kind : {testing::Fault::Kind::Short, testing::Fault::Kind::Eintr}) {
    ConvertOptions o;
    o.engine = testing::make_faulty_engine({}, {{{testing::Fault::Op::Read, 1, kind}}});
    (void)convert(input_, dir_.file("out.safetensors"), o);
    expect_copied(dir_.file("out.safetensors"));
  }
}

TEST_F(ConvertCopy, ATruncatedInputIsRefusedWithNoOutput) {
  ASSERT_EQ(::truncate(input_.c_str(), static_cast<off_t>(file_offset("big", kPiece + 5))), 0);
  expect_fails({}, Errc::MetadataIncompleteBuffer, input_);
}

TEST_F(ConvertCopy, AnInputTruncatedWhileCopyingIsAnIoErrorNamingIt) {
  // Truncated at the first progress report (after the first tensor was staged): the reads
  // still in flight or to come find the end of the file.
  const auto cut = static_cast<off_t>(file_offset("s3", 0));
  ConvertOptions o;
  o.order = LayoutOrder::Keep;
  bool cut_done = false;
  o.on_progress = [&](const ConvertProgress&) {
    if (cut_done) return;
    cut_done = true;
    ASSERT_EQ(::truncate(input_.c_str(), cut), 0);
  };
  expect_fails(o, Errc::Io, input_);
  EXPECT_TRUE(cut_done);
}

}  // namespace
}  // namespace stsw
