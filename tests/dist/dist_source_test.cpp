// write_rank with sourced pieces (PieceBytes::source): bytes made on demand, one source
// alive at a time, shared by consecutive pieces at their offsets, dropped once staged; a
// failing or short source fails the rank's report naming the tensor and calls no later
// source. Runs on the engine STSW_IO_BACKEND selects (the large piece goes O_DIRECT,
// staged, where /var/tmp allows it).
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "../writer/writer_test_support.hpp"
#include "stsw/distributed.hpp"
#include "stsw/error.hpp"

namespace stsw::dist {
namespace {

using writer_test::DataMap;
using writer_test::TempDir;

// Sources over fixed bytes that count their calls and their live owners.
struct Sources {
  std::atomic<int> alive{0};
  int most_alive_at_call = 0;
  std::vector<int> calls;

  // A source returning `bytes` (kept by the test), counted as source `id`.
  std::shared_ptr<const std::function<SourcedBytes()>> make(int id,
                                                            const std::vector<std::byte>& bytes) {
    if (calls.size() <= static_cast<std::size_t>(id)) calls.resize(id + 1);
    return std::make_shared<const std::function<SourcedBytes()>>([this, id, &bytes] {
      ++calls[id];
      most_alive_at_call = std::max(most_alive_at_call, alive.load());
      ++alive;
      std::shared_ptr<const void> owner(static_cast<const void*>(this),
                                        [this](const void*) { --alive; });
      return SourcedBytes{bytes, std::move(owner)};
    });
  }
};

// One rank's declarations: pieces of tensors of U8 bytes.
struct Rank {
  RankDecl decl;
  std::vector<PieceBytes> data;
  void add(const std::string& name, std::uint64_t nbytes, std::uint64_t b, std::uint64_t e,
           PieceBytes p) {
    decl.pieces.push_back({name, DType::U8, {nbytes}, b, e});
    data.push_back(std::move(p));
  }
};

TEST(DistSource, SourcedPiecesAreMadeOneAtATimeAndWrittenExactly) {
  TempDir dir;
  Sources s;
  DataMap want;
  want["big"] = writer_test::pattern((4 << 20) + 100, 1);  // direct blocks: staged
  want["cols"] = writer_test::pattern(4096, 2);
  want["plain"] = writer_test::pattern(1000, 3);
  want["small"] = writer_test::pattern(100, 4);
  // "cols": four pieces sharing one source, which holds them in reverse order.
  std::vector<std::byte> reversed;
  for (std::ptrdiff_t i = 3; i >= 0; --i) {
    reversed.insert(reversed.end(), want["cols"].begin() + i * 1024,
                    want["cols"].begin() + (i + 1) * 1024);
  }
  Rank r;
  r.add("big", want["big"].size(), 0, want["big"].size(), {{}, s.make(0, want["big"]), 0});
  const auto cols = s.make(1, reversed);
  for (std::uint64_t i = 0; i < 4; ++i) {
    r.add("cols", 4096, i * 1024, (i + 1) * 1024, {{}, cols, (3 - i) * 1024});
  }
  r.add("plain", 1000, 0, 1000, {want["plain"], nullptr, 0});
  r.add("small", 100, 0, 100, {{}, s.make(2, want["small"]), 0});

  SaveOptions o;
  o.durable = false;
  const SavePlan plan = plan_save({r.decl}, o);
  SaveCoordinator coord(dir.file("model.safetensors"), plan, o);
  const RankReport report = write_rank(plan, 0, coord.temp_files(), r.data, false);
  ASSERT_TRUE(report.ok) << report.error;
  EXPECT_EQ(s.calls, (std::vector<int>{1, 1, 1}));  // the shared source: once
  EXPECT_EQ(s.most_alive_at_call, 0);               // the previous one was dropped first
  EXPECT_EQ(s.alive.load(), 0);                     // and the last one before returning
  const SaveResult res = coord.commit({report});
  ASSERT_EQ(res.files.size(), 1U);
  (void)writer_test::check_file(res.files[0], true, &want);
}

// A rank with sources "a", "b" (failing as `fail` does) and "c": its report, and that "c"
// was never called and every owner dropped.
RankReport fail_at_b(const std::function<SourcedBytes()>& fail) {
  TempDir dir;
  Sources s;
  const auto a = writer_test::pattern(300, 5);
  const auto c = writer_test::pattern(300, 6);
  Rank r;
  r.add("a", 300, 0, 300, {{}, s.make(0, a), 0});
  r.add("b", 300, 0, 300, {{}, std::make_shared<const std::function<SourcedBytes()>>(fail), 0});
  r.add("c", 300, 0, 300, {{}, s.make(1, c), 0});
  SaveOptions o;
  o.durable = false;
  const SavePlan plan = plan_save({r.decl}, o);
  SaveCoordinator coord(dir.file("model.safetensors"), plan, o);
  RankReport report = write_rank(plan, 0, coord.temp_files(), r.data, false);
  EXPECT_EQ(s.calls, (std::vector<int>{1, 0}));
  EXPECT_EQ(s.alive.load(), 0);
  EXPECT_FALSE(report.ok);
  EXPECT_TRUE(report.pieces.empty());
  EXPECT_NE(report.error.find("tensor 'b'"), std::string::npos) << report.error;
  return report;
}

TEST(DistSource, AnExceptionFromASourceFailsTheReportNamingTheTensor) {
  RankReport r = fail_at_b([]() -> SourcedBytes { throw std::runtime_error("copy failed"); });
  EXPECT_EQ(r.errc, Errc::Io);
  EXPECT_NE(r.error.find("copy failed"), std::string::npos) << r.error;
  r = fail_at_b([]() -> SourcedBytes { throw Error(Errc::NoSpace, "no room"); });
  EXPECT_EQ(r.errc, Errc::NoSpace);
  EXPECT_NE(r.error.find("no room"), std::string::npos) << r.error;
}

TEST(DistSource, ASourceMakingTooFewBytesIsLengthMismatch) {
  static const auto shorter = writer_test::pattern(299, 7);
  const RankReport r = fail_at_b([]() { return SourcedBytes{shorter, nullptr}; });
  EXPECT_EQ(r.errc, Errc::LengthMismatch);
  EXPECT_NE(r.error.find("made 299 bytes"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace stsw::dist
