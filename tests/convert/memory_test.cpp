// Peak memory of a conversion does not follow the checkpoint's size: a torch-like archive
// with 1.25 GiB of (sparse) storages, a contiguous tensor and a transposed view, converts
// with the process's peak RSS well under 150 MB, and so does its output converted again
// (a safetensors input), which grows the RSS by less than 16 MiB: its copy ring is made of
// the engine's staging buffers. Label `slow` (excluded from sanitizer
// runs, whose shadow memory would dominate the measurement).
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

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

// VmRSS and VmHWM (bytes) of this process, from /proc/self/status; 0 where unreadable.
std::pair<std::uint64_t, std::uint64_t> rss_and_hwm() {
  std::ifstream in("/proc/self/status");
  std::uint64_t rss = 0;
  std::uint64_t hwm = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
  }
  return {rss, hwm};
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false where the kernel refuses.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
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
  // checked): the 1 GiB tensor goes through the copier's ring, never a whole-tensor buffer,
  // and the ring is made of the engine's staging buffers (populated by the first
  // conversion), so the copy adds next to nothing to the RSS (a ring of its own beside
  // the pool added 32 MiB; issue 21's bound is 64 MB beyond caller buffers in all).
  const bool reset = reset_peak_rss();
  const std::uint64_t rss_before = rss_and_hwm().first;
  const ConvertResult r2 = convert(dir.file("out.safetensors"), dir.file("out2.safetensors"), o);
  const std::uint64_t peak2 = peak_rss_bytes();
  EXPECT_EQ(r2.bytes, r.bytes);
  std::printf("peak RSS after the safetensors copy %.1f MB\n", static_cast<double>(peak2) / 1e6);
  EXPECT_LT(peak2, std::uint64_t{150} * 1000 * 1000);
  if (!reset || rss_before == 0) {
    GTEST_SKIP() << "/proc/self/clear_refs refused: the copy's own RSS growth is not measured";
  }
  const std::uint64_t hwm = rss_and_hwm().second;
  const std::uint64_t growth = hwm > rss_before ? hwm - rss_before : 0;
  RecordProperty("copy_rss_growth_kb", static_cast<int>(growth >> 10));
  std::printf("RSS growth during the safetensors copy %.1f MiB\n",
              static_cast<double>(growth) / (1 << 20));
  EXPECT_LT(growth, std::uint64_t{16} << 20);
}

}  // namespace
}  // namespace stsw
