// Helpers of the convert tests: a temporary directory, a small zip writer (stored or
// deflated entries, optional ZIP64 records), a pickle byte builder, .npy encoding and
// SHA-256 (FIPS 180-4, written for these tests).
#pragma once

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/temp_dir.hpp"

namespace stsw::cvt::test {

// The support TempDir (tests/support/temp_dir.hpp) named "stsw-convert-*".
class TempDir : public ::stsw::test::TempDir {
 public:
  TempDir() : ::stsw::test::TempDir("convert") {}
};

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Little-endian appends.
inline void put_le(std::string& s, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::string deflate_raw(std::string_view data);  // test_support.cpp (ISA-L)
std::uint32_t zip_crc32(std::string_view data);  // test_support.cpp
std::string sha256_hex(std::string_view data);   // test_support.cpp

struct ZipMember {
  std::string name;
  std::string data;
  bool deflate = false;
};

struct ZipOptions {
  bool zip64 = false;  // write every size/offset through zip64 extras and the zip64 end records
  std::size_t extra_padding = 0;  // bytes of an extra field in each local header (torch aligns)
};

// Builds a complete zip archive in memory.
std::string make_zip(const std::vector<ZipMember>& members, const ZipOptions& options = {});

// A pickle byte stream, opcode by opcode.
class Pickle {
 public:
  Pickle& proto(int v = 2) { return op(0x80).byte(v); }
  Pickle& op(int code) {
    s_.push_back(static_cast<char>(code));
    return *this;
  }
  Pickle& byte(int v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Pickle& raw(std::string_view b) {
    s_ += b;
    return *this;
  }
  Pickle& global(std::string_view module, std::string_view name) {
    return op('c').raw(module).raw("\n").raw(name).raw("\n");
  }
  Pickle& str(std::string_view v) {
    op('X');
    put_le(s_, v.size(), 4);
    return raw(v);
  }
  Pickle& integer(std::int64_t v) {
    if (v >= 0 && v < 256) return op('K').byte(static_cast<int>(v));
    op(0x8a).byte(8);
    put_le(s_, static_cast<std::uint64_t>(v), 8);
    return *this;
  }
  Pickle& mark() { return op('('); }
  Pickle& tuple() { return op('t'); }
  Pickle& empty_tuple() { return op(')'); }
  Pickle& empty_dict() { return op('}'); }
  Pickle& setitems() { return op('u'); }
  Pickle& reduce() { return op('R'); }
  Pickle& newfalse() { return op(0x89); }
  Pickle& stop() { return op('.'); }
  // ('storage', torch.<cls>, key, 'cpu', numel) BINPERSID
  Pickle& storage(std::string_view cls, std::string_view key, std::uint64_t numel) {
    mark()
        .str("storage")
        .global("torch", cls)
        .str(key)
        .str("cpu")
        .integer(static_cast<std::int64_t>(numel))
        .tuple();
    return op('Q');
  }
  Pickle& int_tuple(const std::vector<std::uint64_t>& v) {
    mark();
    for (auto x : v) integer(static_cast<std::int64_t>(x));
    return tuple();
  }
  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  Pickle& tensor(std::string_view cls, std::string_view key, std::uint64_t numel,
                 std::uint64_t offset, const std::vector<std::uint64_t>& shape,
                 const std::vector<std::uint64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    storage(cls, key, numel)
        .integer(static_cast<std::int64_t>(offset))
        .int_tuple(shape)
        .int_tuple(stride);
    newfalse().global("collections", "OrderedDict").empty_tuple().reduce();
    return tuple().reduce();
  }
  [[nodiscard]] const std::string& bytes() const { return s_; }

 private:
  std::string s_;
};

// A .npy file: header dict text (without padding) and raw data.
std::string make_npy(std::string_view descr, bool fortran, std::string_view shape,
                     std::string_view data, int major = 1);

}  // namespace stsw::cvt::test
