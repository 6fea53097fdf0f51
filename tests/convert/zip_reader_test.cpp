#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "convert/entry_stream.hpp"
#include "convert/test_support.hpp"
#include "convert/zip_reader.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {
namespace {

using test::make_zip;
using test::TempDir;
using test::write_file;
using test::ZipMember;
using ::testing::HasSubstr;

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  std::uint32_t x = seed;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>((x >> 16) & 0x3F);  // compressible but not trivial
  }
  return s;
}

std::string read_entry(const ZipArchive& z, const ZipEntry& e, std::size_t piece = 777) {
  EntryStream s(z, e);
  std::string out;
  std::vector<std::byte> buf(piece);
  for (;;) {
    const std::size_t n = s.read(buf);
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  s.finish();
  return out;
}

template <typename F>
void expect_error(F&& f, Errc code, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected " << to_string(code) << " with '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(needle));
  }
}

TEST(ZipReader, StoredAndDeflatedEntries) {
  TempDir dir;
  const std::string big = pattern(300000);
  write_file(dir.file("a.zip"), make_zip({{"archive/data.pkl", "hello", false},
                                          {"archive/data/0", big, false},
                                          {"x.npy", big, true},
                                          {"empty", "", false},
                                          {"empty_deflated", "", true}}));
  auto f = InputFile::open(dir.file("a.zip"));
  auto z = ZipArchive::open(f);
  ASSERT_EQ(z.entries().size(), 5u);
  EXPECT_EQ(z.find("nope"), nullptr);
  const ZipEntry* pkl = z.find("archive/data.pkl");
  ASSERT_NE(pkl, nullptr);
  EXPECT_EQ(z.read_all(*pkl, 100), "hello");
  const ZipEntry* d0 = z.find("archive/data/0");
  ByteRange r = z.stored_range(*d0);
  EXPECT_EQ(r.size, big.size());
  std::string got(1000, '\0');
  r.read(5000, std::as_writable_bytes(std::span(got)));
  EXPECT_EQ(got, big.substr(5000, 1000));
  const ZipEntry* npy = z.find("x.npy");
  EXPECT_EQ(npy->method, 8);
  EXPECT_LT(npy->compressed_size, big.size());
  EXPECT_EQ(read_entry(z, *npy), big);
  EXPECT_EQ(read_entry(z, *npy, 1 << 20), big);
  EXPECT_EQ(read_entry(z, *z.find("empty")), "");
  EXPECT_EQ(read_entry(z, *z.find("empty_deflated")), "");
  expect_error([&] { (void)z.stored_range(*npy); }, Errc::Unsupported, "compressed");
  expect_error([&] { (void)z.read_all(*d0, 10); }, Errc::InvalidArgument, "exceeds the limit");
  expect_error([&] { r.read(big.size() - 1, std::as_writable_bytes(std::span(got))); },
               Errc::InvalidArgument, "beyond its size");
}

TEST(ZipReader, Zip64RecordsAndPaddedLocalHeaders) {
  TempDir dir;
  const std::string data = pattern(5000, 7);
  write_file(dir.file("z64.zip"), make_zip({{"archive/data.pkl", "pkl", false},
                                            {"archive/data/0", data, false},
                                            {"c", data, true}},
                                           {.zip64 = true, .extra_padding = 37}));
  auto f = InputFile::open(dir.file("z64.zip"));
  auto z = ZipArchive::open(f);
  ASSERT_EQ(z.entries().size(), 3u);
  const ZipEntry* e = z.find("archive/data/0");
  EXPECT_EQ(e->uncompressed_size, data.size());
  std::string got(data.size(), '\0');
  z.stored_range(*e).read(0, std::as_writable_bytes(std::span(got)));
  EXPECT_EQ(got, data);
  EXPECT_EQ(read_entry(z, *z.find("c")), data);
}

TEST(ZipReader, EmptyArchiveAndComment) {
  TempDir dir;
  std::string zip = make_zip({});
  zip[zip.size() - 2] = 5;  // a 5-byte comment
  zip += "hello";
  write_file(dir.file("e.zip"), zip);
  auto f = InputFile::open(dir.file("e.zip"));
  EXPECT_TRUE(ZipArchive::open(f).entries().empty());
  EXPECT_TRUE(looks_like_zip(std::as_bytes(std::span(zip.data(), 4))));
  EXPECT_FALSE(looks_like_zip(std::as_bytes(std::span("\x93NUMPY", 6))));
}

class ZipCorrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = make_zip({{"archive/data.pkl", "pickle!", false},
                      {"archive/data/0", pattern(4000), false},
                      {"d", pattern(3000), true}});
  }
  void expect_open_error(const std::string& bytes, Errc code, const std::string& needle) {
    write_file(dir_.file("bad.zip"), bytes);
    auto f = InputFile::open(dir_.file("bad.zip"));
    expect_error([&] { (void)ZipArchive::open(f); }, code, needle);
  }
  std::size_t cd_offset() const { return good_.find("PK\x01\x02"); }
  std::size_t eocd_offset() const { return good_.rfind("PK\x05\x06"); }
  void patch32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  TempDir dir_;
  std::string good_;
};

TEST_F(ZipCorrupt, TruncatedFiles) {
  expect_open_error(good_.substr(0, good_.size() / 2), Errc::InvalidArgument, "corrupt zip");
  expect_open_error(good_.substr(0, 10), Errc::InvalidArgument, "no end record");
  expect_open_error(good_.substr(0, good_.size() - 3), Errc::InvalidArgument,
                    "no end of central directory");
  expect_open_error(std::string(100, 'x'), Errc::InvalidArgument, "no end of central directory");
}

TEST_F(ZipCorrupt, EntryPointingOutsideTheFile) {
  std::string s = good_;
  // Entry 2's compressed size: far past the central directory.
  patch32(s, cd_offset() + 20, 0x7FFFFFF0);
  expect_open_error(s, Errc::InvalidArgument, "entry 'archive/data.pkl' points outside the file");
  s = good_;
  patch32(s, cd_offset() + 42, 0x40000000);  // local header offset
  expect_open_error(s, Errc::InvalidArgument, "outside the file's data area");
  s = good_;
  patch32(s, eocd_offset() + 16, 0x7FFFFF00);  // central directory offset
  expect_open_error(s, Errc::InvalidArgument, "central directory");
}

TEST_F(ZipCorrupt, AbsurdCountsAndSignatures) {
  std::string s = good_;
  s[eocd_offset() + 8] = static_cast<char>(0xFE);  // 0x..FE entries
  s[eocd_offset() + 10] = static_cast<char>(0xFE);
  expect_open_error(s, Errc::InvalidArgument, "cannot fit");
  s = good_;
  s[0] = 'Q';  // local header signature of the first entry
  expect_open_error(s, Errc::InvalidArgument, "bad local header signature");
  s = good_;
  s[cd_offset()] = 'Q';
  expect_open_error(s, Errc::InvalidArgument, "bad signature");
  s = good_;
  s[cd_offset() + 8] = 1;  // encrypted flag
  expect_open_error(s, Errc::Unsupported, "encrypted");
  s = good_;
  s[eocd_offset() + 4] = 1;  // disk number
  expect_open_error(s, Errc::Unsupported, "multi-disk");
}

TEST_F(ZipCorrupt, DuplicateNamesAndMismatchedLocalName) {
  expect_open_error(make_zip({{"a", "1", false}, {"a", "2", false}}), Errc::InvalidArgument,
                    "duplicate entry name 'a'");
  std::string s = make_zip({{"abc", "1", false}});
  s[30] = 'x';  // the local header's copy of the name
  expect_open_error(s, Errc::InvalidArgument, "local name 'xbc'");
}

TEST_F(ZipCorrupt, BadDeflateDataAndCrc) {
  TempDir dir;
  const std::string data = pattern(20000, 3);
  std::string s = make_zip({{"d", data, true}});
  // Flip bits inside the deflate stream.
  for (std::size_t i = 40; i < 200; i += 7) s[i] = static_cast<char>(s[i] ^ 0x5A);
  write_file(dir.file("d.zip"), s);
  auto f = InputFile::open(dir.file("d.zip"));
  auto z = ZipArchive::open(f);
  try {
    (void)read_entry(z, z.entries()[0]);
    ADD_FAILURE() << "corrupt deflate data accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("d.zip:d"));
  }
  // A wrong CRC on an intact stored entry.
  s = make_zip({{"s", data, false}});
  s[14] = static_cast<char>(s[14] ^ 1);  // local header crc (unused)
  s[s.find("PK\x01\x02") + 16] ^= 1;     // central directory crc
  write_file(dir.file("c.zip"), s);
  auto f2 = InputFile::open(dir.file("c.zip"));
  auto z2 = ZipArchive::open(f2);
  expect_error([&] { (void)read_entry(z2, z2.entries()[0]); }, Errc::InvalidArgument,
               "CRC-32 mismatch");
}

TEST_F(ZipCorrupt, UnsupportedMethodAndShortDeflate) {
  TempDir dir;
  std::string s = make_zip({{"m", "abc", false}});
  s[8] = 12;                          // local method
  s[s.find("PK\x01\x02") + 10] = 12;  // central method: bzip2
  write_file(dir.file("m.zip"), s);
  auto f = InputFile::open(dir.file("m.zip"));
  auto z = ZipArchive::open(f);
  expect_error([&] { EntryStream es(z, z.entries()[0]); }, Errc::Unsupported, "method 12");

  // A deflate stream cut short: the central directory claims fewer compressed bytes.
  const std::string data = pattern(50000, 9);
  s = make_zip({{"t", data, true}});
  const std::size_t cd = s.find("PK\x01\x02");
  std::uint32_t csize = 0;
  for (int i = 3; i >= 0; --i) csize = (csize << 8) | static_cast<unsigned char>(s[cd + 20 + i]);
  patch32(s, cd + 20, csize / 2);
  write_file(dir.file("t.zip"), s);
  auto f2 = InputFile::open(dir.file("t.zip"));
  auto z2 = ZipArchive::open(f2);
  expect_error([&] { (void)read_entry(z2, z2.entries()[0]); }, Errc::InvalidArgument, "truncated");
}

TEST(InputFileTest, ErrorsNameThePath) {
  expect_error([] { (void)InputFile::open("/nonexistent/dir/x.pt"); }, Errc::Io,
               "/nonexistent/dir/x.pt");
  TempDir dir;
  write_file(dir.file("s"), "12345");
  auto f = InputFile::open(dir.file("s"));
  std::byte buf[10];
  expect_error([&] { f.read_exact(2, buf, "thing"); }, Errc::InvalidArgument, "truncated: thing");
  auto t = InputFile::temporary(dir.path());
  t.append(std::as_bytes(std::span("abcdef", 6)));
  EXPECT_EQ(t.size(), 6u);
  t.read_exact(2, std::span(buf, 3), "tmp");
  EXPECT_EQ(static_cast<char>(buf[0]), 'c');
}

}  // namespace
}  // namespace stsw::cvt
