// Peak memory of a conversion does not follow the checkpoint's size: a torch-like archive
// with 1.25 GiB of (sparse) storages, a contiguous tensor and a transposed view, converts
// with the process's peak RSS well under 150 MB, and so does its output converted again
// (a safetensors input). Label `slow` (excluded from sanitizer
// runs, whose shadow memory would dominate the measurement).
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include <gtest/gtest.h>

#include "convert/test_support.hpp"
#include "stsw/convert.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using cvt::test::Pickle;
using cvt::test::put_le;

std::uint64_t peak_rss_bytes() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;
}

// Writes a stored zip whose members' data are holes (zeros) of the given sizes.
void write_sparse_zip(const std::string& path,
                      const std::vector<std::pair<std::string, std::uint64_t>>& members,
                      const std::string& first_data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::string cd;
  std::uint64_t pos = 0;
  auto put = [&](const std::string& s) {
    ASSERT_EQ(::pwrite(fd, s.data(), s.size(), static_cast<off_t>(pos)),
              static_cast<ssize_t>(s.size()));
    pos += s.size();
  };
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& [name, size] = members[i];
    const std::uint64_t lho = pos;
    std::string h;
    put_le(h, 0x04034b50, 4);
    put_le(h, 45, 2);
    put_le(h, 0, 2);
    put_le(h, 0, 2);
    put_le(h, 0, 4);
    put_le(h, i == 0 ? cvt::test::zip_crc32(first_data) : 0, 4);
    put_le(h, 0xFFFFFFFF, 4);
    put_le(h, 0xFFFFFFFF, 4);
    put_le(h, name.size(), 2);
    put_le(h, 20, 2);
    h += name;
    put_le(h, 1, 2);
    put_le(h, 16, 2);
    put_le(h, size, 8);
    put_le(h, size, 8);
    put(h);
    if (i == 0) {
      put(first_data);
    } else {
      pos += size;  // a hole
    }
    std::string c;
    put_le(c, 0x02014b50, 4);
    put_le(c, 45, 2);
    put_le(c, 45, 2);
    put_le(c, 0, 2);
    put_le(c, 0, 2);
    put_le(c, 0, 4);
    put_le(c, i == 0 ? cvt::test::zip_crc32(first_data) : 0, 4);
    put_le(c, 0xFFFFFFFF, 4);
    put_le(c, 0xFFFFFFFF, 4);
    put_le(c, name.size(), 2);
    put_le(c, 28, 2);
    put_le(c, 0, 2);
    put_le(c, 0, 2);
    put_le(c, 0, 2);
    put_le(c, 0, 4);
    put_le(c, 0xFFFFFFFF, 4);
    c += name;
    put_le(c, 1, 2);
    put_le(c, 24, 2);
    put_le(c, size, 8);
    put_le(c, size, 8);
    put_le(c, lho, 8);
    cd += c;
  }
  const std::uint64_t cd_offset = pos;
  put(cd);
  const std::uint64_t rec = pos;
  std::string e;
  put_le(e, 0x06064b50, 4);
  put_le(e, 44, 8);
  put_le(e, 45, 2);
  put_le(e, 45, 2);
  put_le(e, 0, 8);
  put_le(e, members.size(), 8);
  put_le(e, members.size(), 8);
  put_le(e, cd.size(), 8);
  put_le(e, cd_offset, 8);
  put_le(e, 0x07064b50, 4);
  put_le(e, 0, 4);
  put_le(e, rec, 8);
  put_le(e, 1, 4);
  put_le(e, 0x06054b50, 4);
  put_le(e, 0, 4);
  put_le(e, 0xFFFF, 2);
  put_le(e, 0xFFFF, 2);
  put_le(e, 0xFFFFFFFF, 4);
  put_le(e, 0xFFFFFFFF, 4);
  put_le(e, 0, 2);
  put(e);
  ::close(fd);
}

TEST(ConvertMemory, PeakRssDoesNotFollowTheCheckpointSize) {
  cvt::test::TempDir dir;
  // 1 GiB contiguous by default; STSW_CONVERT_RSS_GIB=N makes it N GiB (soak runs).
  const char* gib = std::getenv("STSW_CONVERT_RSS_GIB");
  const std::uint64_t kBig = std::uint64_t{gib != nullptr ? std::strtoull(gib, nullptr, 10) : 1}
                             << 30;
  constexpr std::uint64_t kSide = 8192;  // 256 MiB transposed
  Pickle p;
  p.proto(2).empty_dict().mark();
  p.str("big").tensor("FloatStorage", "0", kBig / 4, 0, {kBig / 4 / 4096, 4096}, {4096, 1});
  p.str("t").tensor("FloatStorage", "1", kSide * kSide, 0, {kSide, kSide}, {1, kSide});
  p.setitems().stop();
  write_sparse_zip(dir.file("big.pt"),
                   {{"archive/data.pkl", p.bytes().size()},
                    {"archive/data/0", kBig},
                    {"archive/data/1", kSide * kSide * 4}},
                   p.bytes());
  const std::uint64_t before = peak_rss_bytes();
  ConvertOptions o;
  o.durable = false;
  const ConvertResult r = convert(dir.file("big.pt"), dir.file("out.safetensors"), o);
  const std::uint64_t peak = peak_rss_bytes();
  EXPECT_EQ(r.bytes, kBig + kSide * kSide * 4);
  RecordProperty("peak_rss_mb", static_cast<int>(peak >> 20));
  std::printf("peak RSS %.1f MB (before the conversion %.1f MB)\n", peak / 1e6, before / 1e6);
  EXPECT_LT(peak, std::uint64_t{150} * 1000 * 1000);
  const StreamReader rd = StreamReader::open(dir.file("out.safetensors"));
  EXPECT_EQ(rd.meta("t").shape, (std::vector<std::uint64_t>{kSide, kSide}));

  // The output again, as a safetensors input (the asynchronous range copy, its stored CRCs
  // checked): the 1 GiB tensor goes through the copier's ring, never a whole-tensor buffer.
  const ConvertResult r2 = convert(dir.file("out.safetensors"), dir.file("out2.safetensors"), o);
  const std::uint64_t peak2 = peak_rss_bytes();
  EXPECT_EQ(r2.bytes, r.bytes);
  std::printf("peak RSS after the safetensors copy %.1f MB\n", static_cast<double>(peak2) / 1e6);
  EXPECT_LT(peak2, std::uint64_t{150} * 1000 * 1000);
}

}  // namespace
}  // namespace stsw
