#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "convert/gather.hpp"
#include "convert/test_support.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {
namespace {

using ::testing::HasSubstr;

// Collects produced bytes through deliberately small, uneven windows.
class VectorSink : public ByteSink {
 public:
  explicit VectorSink(std::size_t max_window = 13) : max_(max_window) {}
  std::span<std::byte> window(std::size_t max) override {
    const std::size_t n = std::min({max, max_, next_++ % max_ + 1});
    const std::size_t at = out.size();
    out.resize(at + n);
    pending_ = n;
    return std::span(out).subspan(at, n);
  }
  void commit(std::size_t n) override {
    EXPECT_LE(n, pending_);
    out.resize(out.size() - (pending_ - n));
    pending_ = 0;
  }
  std::vector<std::byte> out;

 private:
  std::size_t max_;
  std::size_t next_ = 0;
  std::size_t pending_ = 0;
};

// The obvious per-element gather, for comparison.
std::vector<std::byte> reference(const std::string& storage, const StridedView& v, unsigned swap) {
  std::vector<std::byte> out;
  std::uint64_t numel = 1;
  for (auto s : v.shape) numel *= s;
  std::vector<std::uint64_t> idx(v.shape.size(), 0);
  for (std::uint64_t n = 0; n < numel; ++n) {
    std::uint64_t el = v.offset;
    for (std::size_t j = 0; j < idx.size(); ++j) el += idx[j] * v.stride[j];
    for (unsigned b = 0; b < v.element_size; ++b) {
      out.push_back(static_cast<std::byte>(storage[el * v.element_size + b]));
    }
    for (std::size_t j = idx.size(); j-- > 0;) {
      if (++idx[j] < v.shape[j]) break;
      idx[j] = 0;
    }
  }
  if (swap > 1) byte_swap(out, swap);
  return out;
}

class GatherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_.resize(1 << 16);
    std::mt19937 rng(42);
    for (auto& c : storage_) c = static_cast<char>(rng());
    test::write_file(dir_.file("s"), storage_);
    file_ = InputFile::open(dir_.file("s"));
  }
  void check(const StridedView& v, unsigned swap, const GatherOptions& opt) {
    const ByteRange src{&file_, 0, storage_.size(), "storage"};
    VectorSink sink;
    gather(src, v, swap, sink, opt);
    EXPECT_EQ(sink.out, reference(storage_, v, swap));
  }
  test::TempDir dir_;
  std::string storage_;
  InputFile file_;
};

TEST_F(GatherTest, StridesAndOptions) {
  const std::vector<GatherOptions> options = {
      {},                                       // one window read
      {.chunk_bytes = 64, .window_bytes = 64},  // boxes with span reads
      {.chunk_bytes = 16, .window_bytes = 8},   // boxes, element reads
      {.chunk_bytes = 1, .window_bytes = 1}};
  struct Case {
    std::vector<std::uint64_t> shape, stride;
    std::uint64_t offset;
    unsigned es;
  };
  const std::vector<Case> cases = {
      {{6, 8}, {8, 1}, 0, 4},         // contiguous
      {{2, 8}, {8, 1}, 16, 4},        // rows with an offset
      {{6, 3}, {8, 1}, 3, 4},         // column slice: inner runs
      {{8, 6}, {1, 8}, 0, 4},         // transpose
      {{3, 3}, {16, 3}, 1, 2},        // steps in both dims
      {{3, 4}, {1, 0}, 0, 8},         // expanded, stride 0
      {{4, 2, 3}, {1, 12, 4}, 0, 8},  // permuted
      {{}, {}, 77, 4},                // rank 0
      {{1, 1, 5}, {9, 9, 1}, 2, 2},   // size-1 dims
      {{5, 0, 3}, {3, 3, 1}, 0, 4},   // empty
      {{3, 4, 5}, {1, 3, 12}, 5, 1},  // Fortran order
      {{40, 30}, {1, 40}, 0, 4},      // larger transpose
      {{7, 9, 11}, {110, 1, 10}, 3, 2},
  };
  for (const auto& opt : options) {
    for (const auto& c : cases) {
      SCOPED_TRACE(::testing::Message()
                   << "shape rank " << c.shape.size() << " chunk " << opt.chunk_bytes);
      const StridedView v{c.offset, c.shape, c.stride, c.es};
      check(v, 0, opt);
      if (c.es > 1) check(v, c.es, opt);
      if (c.es == 8) check(v, 4, opt);  // complex64 halves
    }
  }
}

TEST_F(GatherTest, RandomViews) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    const unsigned es = 1u << (rng() % 4);
    const std::size_t rank = rng() % 4 + 1;
    StridedView v;
    v.element_size = es;
    v.offset = rng() % 50;
    for (std::size_t j = 0; j < rank; ++j) {
      v.shape.push_back(rng() % 6 + 1);
      v.stride.push_back(rng() % 40);
    }
    const auto [first, last] = view_extent(v);
    if (last > storage_.size()) continue;
    const GatherOptions opt{.chunk_bytes = 1 + rng() % 200, .window_bytes = rng() % 300};
    check(v, rng() % 2 ? es : 0, opt);
  }
}

TEST_F(GatherTest, ViewsOutsideTheStorageAreRefused) {
  const ByteRange src{&file_, 0, 100, "model.pt:archive/data/3"};
  VectorSink sink;
  try {
    gather(src, StridedView{0, {10, 10}, {10, 1}, 4}, 0, sink);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("model.pt:archive/data/3"));
    EXPECT_THAT(e.what(), HasSubstr("needs bytes [0, 400)"));
  }
  EXPECT_THROW(gather(src, StridedView{1ULL << 62, {4}, {1}, 8}, 0, sink), Error);
  EXPECT_THROW(gather(src, StridedView{0, {2, 2}, {1ULL << 63, 1}, 8}, 0, sink), Error);
  EXPECT_THROW(gather(src, StridedView{0, {2}, {}, 4}, 0, sink), Error);
  // Broadcast (stride 0) to more elements than 64 bits can count.
  EXPECT_THROW(gather(src, StridedView{0, {1ULL << 40, 1ULL << 40}, {0, 0}, 4}, 0, sink), Error);
  EXPECT_TRUE(sink.out.empty());
}

TEST(Strides, COrderAndFortranOrder) {
  EXPECT_EQ(c_strides({2, 3, 4}), (std::vector<std::uint64_t>{12, 4, 1}));
  EXPECT_EQ(f_strides({2, 3, 4}), (std::vector<std::uint64_t>{1, 2, 6}));
  EXPECT_TRUE(c_strides({}).empty());
}

}  // namespace
}  // namespace stsw::cvt
