#include "convert/zip_reader.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_set>

#include "convert/entry_stream.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
constexpr std::size_t kEocdSize = 22;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kZip64EocdSize = 56;
constexpr std::size_t kCentralSize = 46;
constexpr std::size_t kLocalSize = 30;
constexpr std::uint64_t kMaxCentralDirectory = std::uint64_t{1} << 30;

// Little-endian field reader over a bounded buffer; running off its end is a corrupt
// archive, never an out-of-bounds read.
class Cursor {
 public:
  Cursor(const std::byte* p, std::size_t n, const std::string& what) : p_(p), n_(n), what_(what) {}
  std::uint64_t le(std::size_t width) {
    need(width);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
      v |= static_cast<std::uint64_t>(std::to_integer<unsigned>(p_[pos_ + i])) << (8 * i);
    }
    pos_ += width;
    return v;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint64_t u64() { return le(8); }
  std::string_view bytes(std::size_t n) {
    need(n);
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  void skip(std::size_t n) {
    need(n);
    pos_ += n;
  }
  [[nodiscard]] std::size_t pos() const { return pos_; }

 private:
  void need(std::size_t n) const {
    if (n > n_ - pos_)
      throw Error(Errc::InvalidArgument, "corrupt zip: " + what_ + " is truncated");
  }
  const std::byte* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::string what_;
};

std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}

[[noreturn]] void corrupt(const InputFile& f, const std::string& why) {
  throw Error(Errc::InvalidArgument, f.path() + ": corrupt zip: " + why);
}

struct Directory {
  std::uint64_t entries = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
};

Directory read_eocd(const InputFile& f) {
  const std::uint64_t fsize = f.size();
  if (fsize < kEocdSize)
    corrupt(f, "file of " + std::to_string(fsize) + " bytes has no end record");
  // The end record sits in the last 22 + 65535 (comment) bytes.
  const std::uint64_t tail_len = std::min<std::uint64_t>(fsize, kEocdSize + 0xFFFF);
  std::vector<std::byte> tail(tail_len);
  f.read_exact(fsize - tail_len, tail, "zip end record");
  std::size_t at = tail_len - kEocdSize + 1;
  bool found = false;
  while (at-- > 0) {
    if (load_u32(tail.data() + at) != kEocdSig) continue;
    Cursor c(tail.data() + at, tail_len - at, "end of central directory record");
    c.skip(20);
    if (at + kEocdSize + c.u16() == tail_len) {  // comment reaches exactly the end
      found = true;
      break;
    }
  }
  if (!found) corrupt(f, "no end of central directory record (not a zip file, or truncated)");
  const std::uint64_t eocd_pos = fsize - tail_len + at;
  Cursor c(tail.data() + at, kEocdSize, "end of central directory record");
  c.skip(4);
  const std::uint16_t disk = c.u16();
  const std::uint16_t cd_disk = c.u16();
  const std::uint16_t n_disk = c.u16();
  Directory d;
  d.entries = c.u16();
  d.size = c.u32();
  d.offset = c.u32();
  const bool zip64 = d.entries == 0xFFFF || d.size == 0xFFFFFFFF || d.offset == 0xFFFFFFFF ||
                     n_disk == 0xFFFF || disk == 0xFFFF || cd_disk == 0xFFFF;
  if (zip64 || (eocd_pos >= kZip64LocatorSize)) {
    std::array<std::byte, kZip64LocatorSize> loc{};
    if (eocd_pos >= kZip64LocatorSize) {
      f.read_exact(eocd_pos - kZip64LocatorSize, loc, "zip64 locator");
    }
    if (eocd_pos >= kZip64LocatorSize && load_u32(loc.data()) == kZip64LocatorSig) {
      Cursor lc(loc.data(), loc.size(), "zip64 end of central directory locator");
      lc.skip(8);
      const std::uint64_t rec = lc.u64();
      if (rec > eocd_pos || eocd_pos - rec < kZip64EocdSize) {
        corrupt(f, "zip64 end record offset " + std::to_string(rec) + " is outside the file");
      }
      std::array<std::byte, kZip64EocdSize> r{};
      f.read_exact(rec, r, "zip64 end record");
      Cursor rc(r.data(), r.size(), "zip64 end of central directory record");
      if (rc.u32() != kZip64EocdSig) corrupt(f, "bad zip64 end record signature");
      rc.skip(12);
      const std::uint32_t disk64 = rc.u32();
      const std::uint32_t cd_disk64 = rc.u32();
      const std::uint64_t on_disk = rc.u64();
      d.entries = rc.u64();
      d.size = rc.u64();
      d.offset = rc.u64();
      if (disk64 != 0 || cd_disk64 != 0 || on_disk != d.entries) {
        throw Error(Errc::Unsupported, f.path() + ": multi-disk zip archives are not supported");
      }
    } else if (zip64) {
      corrupt(f, "end record needs ZIP64 but there is no zip64 locator");
    }
  }
  if (!zip64 && (disk != 0 || cd_disk != 0 || n_disk != d.entries)) {
    throw Error(Errc::Unsupported, f.path() + ": multi-disk zip archives are not supported");
  }
  if (d.offset > fsize || d.size > fsize - d.offset || d.offset + d.size > eocd_pos) {
    corrupt(f, "central directory [" + std::to_string(d.offset) + ", +" + std::to_string(d.size) +
                   ") lies outside the file");
  }
  if (d.size > kMaxCentralDirectory) {
    corrupt(f, "central directory of " + std::to_string(d.size) + " bytes is absurdly large");
  }
  if (d.entries > d.size / kCentralSize) {
    corrupt(f, std::to_string(d.entries) + " entries cannot fit a central directory of " +
                   std::to_string(d.size) + " bytes");
  }
  return d;
}

// Applies a zip64 extended-information extra field to the 0xFFFFFFFF fields.
void apply_zip64_extra(std::string_view extra, ZipEntry& e, bool usize_max, bool csize_max,
                       bool offset_max, const InputFile& f) {
  Cursor c(reinterpret_cast<const std::byte*>(extra.data()), extra.size(),
           "extra field of '" + e.name + "'");
  while (c.pos() + 4 <= extra.size()) {
    const std::uint16_t id = c.u16();
    const std::uint16_t len = c.u16();
    std::string_view body = c.bytes(len);
    if (id != 0x0001) continue;
    Cursor z(reinterpret_cast<const std::byte*>(body.data()), body.size(),
             "zip64 field of '" + e.name + "'");
    if (usize_max) e.uncompressed_size = z.u64();
    if (csize_max) e.compressed_size = z.u64();
    if (offset_max) e.local_header_offset = z.u64();
    return;
  }
  if (usize_max || csize_max || offset_max) {
    corrupt(f, "entry '" + e.name + "' needs a zip64 extra field but has none");
  }
}

}  // namespace

bool looks_like_zip(std::span<const std::byte> prefix) noexcept {
  if (prefix.size() < 4) return false;
  const std::uint32_t sig = load_u32(prefix.data());
  return sig == kLocalSig || sig == kEocdSig;
}

ZipArchive ZipArchive::open(const InputFile& f) {
  const Directory d = read_eocd(f);
  std::vector<std::byte> cd(d.size);
  f.read_exact(d.offset, cd, "zip central directory");
  ZipArchive z;
  z.file_ = &f;
  z.entries_.reserve(d.entries);
  Cursor c(cd.data(), cd.size(), "central directory");
  std::unordered_set<std::string_view> names;
  for (std::uint64_t i = 0; i < d.entries; ++i) {
    if (c.u32() != kCentralSig) {
      corrupt(f, "central directory entry " + std::to_string(i) + " has a bad signature");
    }
    ZipEntry e;
    c.skip(4);
    e.flags = c.u16();
    e.method = c.u16();
    c.skip(4);
    e.crc32 = c.u32();
    e.compressed_size = c.u32();
    e.uncompressed_size = c.u32();
    const std::uint16_t name_len = c.u16();
    const std::uint16_t extra_len = c.u16();
    const std::uint16_t comment_len = c.u16();
    const std::uint16_t disk = c.u16();
    c.skip(6);
    e.local_header_offset = c.u32();
    e.name = std::string(c.bytes(name_len));
    apply_zip64_extra(c.bytes(extra_len), e, e.uncompressed_size == 0xFFFFFFFF,
                      e.compressed_size == 0xFFFFFFFF, e.local_header_offset == 0xFFFFFFFF, f);
    c.skip(comment_len);
    if (disk != 0 && disk != 0xFFFF) {
      throw Error(Errc::Unsupported, f.path() + ": multi-disk zip archives are not supported");
    }
    if ((e.flags & 0x1) != 0) {
      throw Error(Errc::Unsupported, z.describe(e) + ": encrypted zip entries are not supported");
    }
    z.entries_.push_back(std::move(e));
  }
  for (auto& e : z.entries_) {
    if (!names.insert(e.name).second) corrupt(f, "duplicate entry name '" + e.name + "'");
    // The local header must lie before the central directory, and the data after it.
    if (e.local_header_offset > d.offset || d.offset - e.local_header_offset < kLocalSize) {
      corrupt(f, "entry '" + e.name + "' has its local header at offset " +
                     std::to_string(e.local_header_offset) + ", outside the file's data area");
    }
    std::array<std::byte, kLocalSize> lh{};
    f.read_exact(e.local_header_offset, lh, "local header of '" + e.name + "'");
    Cursor lc(lh.data(), lh.size(), "local header of '" + e.name + "'");
    if (lc.u32() != kLocalSig)
      corrupt(f, "entry '" + e.name + "' has a bad local header signature");
    lc.skip(22);
    const std::uint16_t lname = lc.u16();
    const std::uint16_t lextra = lc.u16();
    const std::uint64_t begin = e.local_header_offset + kLocalSize + lname + lextra;
    if (begin > d.offset || e.compressed_size > d.offset - begin) {
      corrupt(f, "entry '" + e.name + "' points outside the file: data [" + std::to_string(begin) +
                     ", " + std::to_string(begin) + " + " + std::to_string(e.compressed_size) +
                     ") crosses the central directory at " + std::to_string(d.offset));
    }
    std::string local_name(lname, '\0');
    f.read_exact(e.local_header_offset + kLocalSize,
                 std::as_writable_bytes(std::span<char>(local_name)), "entry name");
    if (local_name != e.name) {
      corrupt(f, "entry '" + e.name + "' has local name '" + local_name + "'");
    }
    e.data_offset = begin;
  }
  return z;
}

const ZipEntry* ZipArchive::find(std::string_view name) const noexcept {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string ZipArchive::describe(const ZipEntry& entry) const {
  return file_->path() + ":" + entry.name;
}

ByteRange ZipArchive::stored_range(const ZipEntry& entry) const {
  if (entry.method != 0) {
    throw Error(Errc::Unsupported, describe(entry) + ": entry is compressed (method " +
                                       std::to_string(entry.method) + "), expected stored");
  }
  if (entry.compressed_size != entry.uncompressed_size) {
    corrupt(*file_, "stored entry '" + entry.name + "' has compressed size " +
                        std::to_string(entry.compressed_size) + " but uncompressed size " +
                        std::to_string(entry.uncompressed_size));
  }
  return ByteRange{file_, entry.data_offset, entry.compressed_size, describe(entry)};
}

std::string ZipArchive::read_all(const ZipEntry& entry, std::uint64_t max_size) const {
  if (entry.uncompressed_size > max_size) {
    throw Error(Errc::InvalidArgument,
                describe(entry) + ": entry of " + std::to_string(entry.uncompressed_size) +
                    " bytes exceeds the limit of " + std::to_string(max_size));
  }
  EntryStream s(*this, entry);
  std::string out(entry.uncompressed_size, '\0');
  s.read_exact(std::as_writable_bytes(std::span<char>(out)));
  s.finish();
  return out;
}

}  // namespace stsw::cvt
