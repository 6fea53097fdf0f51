// for_each: file order, pieces through bounded buffers, CRC checks, callback errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "reader/read_fixture.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

class ForEachTest : public test::ReadTest {};

TEST_P(ForEachTest, ForEachDeliversFileOrderInPiecesThroughSmallBuffers) {
  const auto r = open();
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::byte>> got;
  std::map<std::string, int> pieces;
  r.for_each([&](const TensorMeta& m, std::uint64_t off, std::span<const std::byte> b) {
    if (off == 0) order.push_back(m.name);
    EXPECT_EQ(order.back(), m.name) << "pieces of one tensor must be consecutive";
    auto& v = got[m.name];
    EXPECT_EQ(off, v.size());
    EXPECT_LE(b.size(), 64U * 1024);
    v.insert(v.end(), b.begin(), b.end());
    ++pieces[m.name];
  });
  EXPECT_EQ(order, r.keys());
  for (const auto& t : tensors_) EXPECT_EQ(got[t.name], t.data) << t.name;
  EXPECT_GE(pieces["big"], 16);  // 1 MiB through 64 KiB buffers
  EXPECT_EQ(pieces["tiny"], 1);
  EXPECT_EQ(pieces["empty"], 1);
}

TEST_P(ForEachTest, ForEachCrcMismatch) {
  const auto r = open();
  // A tensor that fits in a buffer is checked before the callback sees it.
  test::flip_byte(path_, r.shards()[0].data_offset + r.meta("tiny").offset_begin + 5);
  std::vector<std::string> seen;
  try {
    r.for_each([&](const TensorMeta& m, std::uint64_t, std::span<const std::byte>) {
      seen.push_back(m.name);
    });
    FAIL() << "no CRC error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.message(), HasSubstr("tensor 'tiny'"));
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "tiny"), 0);
  EXPECT_GE(std::count(seen.begin(), seen.end(), "odd"), 2);
  EXPECT_GE(std::count(seen.begin(), seen.end(), "big"), 1);
}

TEST_P(ForEachTest, ForEachLargeTensorMismatchIsReportedAfterItsLastPiece) {
  const auto r = open();
  test::flip_byte(path_, r.shards()[0].data_offset + r.meta("big").offset_begin + 300000);
  std::uint64_t big_bytes = 0;
  bool saw_next = false;
  try {
    r.for_each([&](const TensorMeta& m, std::uint64_t, std::span<const std::byte> b) {
      if (m.name == "big") big_bytes += b.size();
      if (m.name == "tail") saw_next = true;
    });
    FAIL() << "no CRC error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.message(), HasSubstr("tensor 'big'"));
  }
  EXPECT_EQ(big_bytes, r.meta("big").nbytes());
  EXPECT_FALSE(saw_next);
}

TEST_P(ForEachTest, ForEachPropagatesTheCallbacksException) {
  const auto r = open();
  int calls = 0;
  EXPECT_THROW(r.for_each([&](const TensorMeta&, std::uint64_t, std::span<const std::byte>) {
    if (++calls == 3) throw std::logic_error("stop");
  }),
               std::logic_error);
  EXPECT_EQ(calls, 3);
  // The reader is still usable afterwards.
  std::vector<std::byte> dst(r.meta("last").nbytes());
  EXPECT_NO_THROW(r.read_into("last", dst).get());
}

INSTANTIATE_TEST_SUITE_P(Modes, ForEachTest, test::all_modes(), test::param_name);

}  // namespace
}  // namespace stsw
