// The hostile corpus, part 1: the official error kinds one by one, and the systematic
// families derived from one small valid file (every truncation, every header bit flip,
// a bit flip in every data byte).
#include "reliability/hostile_corpus.hpp"

#include <span>

#include "stsw/crc32.hpp"

namespace stsw::hostile {

std::string le64(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

std::string file_with(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  std::uint64_t begin, std::uint64_t end, const std::string& extra) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]" + extra +
         "}";
}

namespace {

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
  return s;
}

std::uint32_t crc_of(const std::string& s) {
  return crc32(std::as_bytes(std::span(s.data(), s.size())));
}

Case exact(std::string family, std::string name, std::string bytes, Errc code, bool cli = true) {
  Case c;
  c.family = std::move(family);
  c.name = std::move(name);
  c.files.push_back({.name = "f.safetensors", .head = std::move(bytes)});
  c.expect = Expect::Exact;
  c.code = code;
  c.cli = cli;
  return c;
}

std::uint64_t header_length(const std::string& file) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t{static_cast<unsigned char>(file[i])} << (8 * i);
  return n;
}

}  // namespace

std::string small_valid_file() {
  const std::string a = pattern(24, 1);
  const std::string b = pattern(10, 2);
  const std::string c = pattern(7, 3);
  const auto crc = [](const std::string& d) { return ",\"crc32\":" + std::to_string(crc_of(d)); };
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}," +
                       entry("a", "F32", "[2,3]", 0, 24, crc(a)) + "," +
                       entry("b", "BF16", "[5]", 24, 34, crc(b)) + "," +
                       entry("c", "U8", "[7]", 34, 41, crc(c)) + "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  return file_with(header, a + b + c);
}

std::vector<Case> official_cases() {
  std::vector<Case> v;
  const auto add = [&](std::string name, std::string bytes, Errc code) {
    v.push_back(exact("official", std::move(name), std::move(bytes), code));
  };
  const std::string w1 = entry("w", "U8", "[1]", 0, 1);
  // 1. HeaderTooSmall
  for (std::size_t n = 0; n < 8; ++n) {
    add("too_small_" + std::to_string(n), std::string(n, '\x01'), Errc::HeaderTooSmall);
  }
  // 2. HeaderTooLarge (checked before the file size)
  add("too_large_1e8_plus_1", le64(100'000'001) + "{}", Errc::HeaderTooLarge);
  add("too_large_2e63", le64(std::uint64_t{1} << 63) + "{}", Errc::HeaderTooLarge);
  add("too_large_all_ones", le64(~std::uint64_t{0}) + "{}", Errc::HeaderTooLarge);
  add("too_large_wraps_8", le64(~std::uint64_t{0} - 7) + "{}", Errc::HeaderTooLarge);
  // 3. InvalidHeaderLength
  add("length_1e8_small_file", le64(100'000'000) + "{}", Errc::InvalidHeaderLength);
  add("length_one_past", le64(3) + "{}", Errc::InvalidHeaderLength);
  add("length_1000", le64(1000) + "{}", Errc::InvalidHeaderLength);
  // 4. InvalidHeader: non-UTF-8 anywhere in the N bytes
  add("utf8_ff_in_name", file_with("{\"w\xff\":{}}"), Errc::InvalidHeader);
  add("utf8_in_padding", file_with("{}  \xc3\x28  "), Errc::InvalidHeader);
  add("utf8_overlong_slash", file_with("{\"\xc0\xaf\":1}"), Errc::InvalidHeader);
  add("utf8_surrogate", file_with("{\"\xed\xa0\x80\":1}"), Errc::InvalidHeader);
  add("utf8_past_max", file_with("{\"\xf4\x90\x80\x80\":1}"), Errc::InvalidHeader);
  add("utf8_cut_sequence", file_with("{}     \xe2\x82"), Errc::InvalidHeader);
  // 5. InvalidHeaderDeserialization
  const std::pair<const char*, std::string> ihd[] = {
      {"n_zero", ""},
      {"array_root", "[]"},
      {"cut_json", "{\"w\":"},
      {"unknown_dtype", "{" + entry("w", "Q8", "[1]", 0, 1) + "}"},
      {"lowercase_dtype", "{" + entry("w", "f32", "[1]", 0, 4) + "}"},
      {"missing_offsets", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}"},
      {"negative_dim", "{" + entry("w", "U8", "[-1]", 0, 1) + "}"},
      {"float_dim", "{" + entry("w", "U8", "[1.0]", 0, 1) + "}"},
      {"exp_dim", "{" + entry("w", "U8", "[1e0]", 0, 1) + "}"},
      {"dim_2e64", "{" + entry("w", "U8", "[18446744073709551616]", 0, 1) + "}"},
      {"three_offsets", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}"},
      {"metadata_twice", "{\"__metadata__\":{},\"__metadata__\":{}}"},
      {"metadata_number", "{\"__metadata__\":{\"a\":1}}"},
      {"nul_padding", std::string("{}\0\0\0\0\0\0", 8)},
      {"bom", "\xef\xbb\xbf{}"},
      {"trailing_garbage", "{}x"},
      {"raw_control_char", "{\"a\x01\":{}}"},
      {"lone_surrogate", "{" + entry("\\ud800", "U8", "[1]", 0, 1) + "}"},
      {"duplicate_field",
       "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],"
       "\"data_offsets\":[0,1]}}"},
      {"version_strict", "{\"__version__\":\"1.0\"," + w1 + "}"},
      {"crc32_too_big", "{" + entry("w", "U8", "[1]", 0, 1, ",\"crc32\":4294967296") + "}"},
      {"crc32_string", "{" + entry("w", "U8", "[1]", 0, 1, ",\"crc32\":\"0\"") + "}"},
  };
  for (const auto& [name, header] : ihd) {
    add(std::string("ihd_") + name, file_with(header, "x"), Errc::InvalidHeaderDeserialization);
  }
  // 6. InvalidOffset
  add("offset_hole",
      file_with("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 3, 5) + "}",
                "12345"),
      Errc::InvalidOffset);
  add("offset_overlap",
      file_with("{" + entry("a", "U8", "[4]", 0, 4) + "," + entry("b", "U8", "[2]", 2, 4) + "}",
                "1234"),
      Errc::InvalidOffset);
  add("offset_first_not_zero", file_with("{" + entry("a", "U8", "[1]", 1, 2) + "}", "12"),
      Errc::InvalidOffset);
  add("offset_backwards", file_with("{" + entry("a", "U8", "[0]", 2, 1) + "}", "12"),
      Errc::InvalidOffset);
  // 7-9
  add("overflow_dims", file_with("{" + entry("o", "U8", "[4294967296,4294967296,0]", 0, 0) + "}"),
      Errc::ValidationOverflow);
  add("overflow_bits",
      file_with("{" + entry("o", "F64", "[2305843009213693952]", 0, 8) + "}", "12345678"),
      Errc::ValidationOverflow);
  add("misaligned_f4", file_with("{" + entry("m", "F4", "[3]", 0, 1) + "}", "1"),
      Errc::MisalignedSlice);
  add("invalid_info", file_with("{" + entry("w", "F32", "[2]", 0, 4) + "}", "1234"),
      Errc::TensorInvalidInfo);
  // 10. MetadataIncompleteBuffer
  add("buffer_short", file_with("{" + entry("w", "U8", "[4]", 0, 4) + "}", "123"),
      Errc::MetadataIncompleteBuffer);
  add("buffer_trailing", file_with("{" + entry("w", "U8", "[4]", 0, 4) + "}", "12345"),
      Errc::MetadataIncompleteBuffer);
  add("buffer_empty_header_data", file_with("{}", "x"), Errc::MetadataIncompleteBuffer);
  // Not a regular file: a FIFO must be refused, not waited on.
  Case fifo = exact("official", "fifo", "", Errc::InvalidArgument);
  fifo.files[0].kind = FileSpec::Kind::Fifo;
  v.push_back(std::move(fifo));
  // A dtype as {"F16":{}}: serde's unit variant takes null only ("invalid type: map,
  // expected unit"); Python stsw files (lenient) may still carry it.
  Case dtype_map = exact("official", "dtype_unit_as_map",
                         file_with("{\"w\":{\"dtype\":{\"U8\":{}},\"shape\":[1],"
                                   "\"data_offsets\":[0,1]}}",
                                   "1"),
                         Errc::InvalidHeaderDeserialization);
  dtype_map.lenient_code = std::nullopt;
  v.push_back(std::move(dtype_map));
  // A tensor named "__metadata__": the official loader reads it as the string map
  // (InvalidHeaderDeserialization); stsw's lenient parse names the real problem.
  Case named_metadata = exact("official", "tensor_named_metadata",
                              file_with("{" + entry("__metadata__", "U8", "[1]", 0, 1) + "}", "1"),
                              Errc::InvalidHeaderDeserialization);
  named_metadata.lenient_code = Errc::InvalidName;
  v.push_back(std::move(named_metadata));
  Case partial = exact("official", "incomplete_lenient",
                       file_with("{\"__incomplete__\":true," + w1 + "}", "1"),
                       Errc::InvalidHeaderDeserialization);
  partial.lenient_code = Errc::IncompleteFile;
  v.push_back(std::move(partial));
  return v;
}

std::vector<Case> truncation_cases() {
  const std::string good = small_valid_file();
  const std::uint64_t data_offset = 8 + header_length(good);
  std::vector<Case> v;
  for (std::size_t n = 0; n < good.size(); ++n) {
    const Errc code = n < 8             ? Errc::HeaderTooSmall
                      : n < data_offset ? Errc::InvalidHeaderLength
                                        : Errc::MetadataIncompleteBuffer;
    const bool edge =
        n == 7 || n == 8 || n + 1 == data_offset || n == data_offset || n + 1 == good.size();
    v.push_back(
        exact("truncate", "cut_" + std::to_string(n), good.substr(0, n), code, edge || n % 9 == 0));
  }
  return v;
}

std::vector<Case> bitflip_cases() {
  const std::string good = small_valid_file();
  const std::uint64_t data_offset = 8 + header_length(good);
  std::vector<Case> v;
  for (std::size_t i = 0; i < data_offset; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Case c;
      c.family = "bitflip";
      c.name = "flip_" + std::to_string(i) + "_" + std::to_string(bit);
      std::string bytes = good;
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      c.files.push_back({.name = "f.safetensors", .head = std::move(bytes)});
      c.expect = Expect::ErrorOrOpen;
      c.cli = (i * 8 + bit) % 23 == 0;
      v.push_back(std::move(c));
    }
  }
  return v;
}

std::vector<Case> dataflip_cases() {
  const std::string good = small_valid_file();
  const std::uint64_t data_offset = 8 + header_length(good);
  std::vector<Case> v;
  for (std::size_t i = data_offset; i < good.size(); ++i) {
    Case c;
    c.family = "dataflip";
    c.name = "data_" + std::to_string(i);
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ (1 << (i % 8)));
    c.files.push_back({.name = "f.safetensors", .head = std::move(bytes)});
    c.expect = Expect::Opens;
    c.mismatches = 1;
    c.cli = i % 10 == 0;
    v.push_back(std::move(c));
  }
  return v;
}

std::vector<Case> all_cases() {
  std::vector<Case> all;
  for (auto family : {official_cases, truncation_cases, bitflip_cases, dataflip_cases, huge_cases,
                      name_cases, index_cases}) {
    for (Case& c : family()) all.push_back(std::move(c));
  }
  return all;
}

}  // namespace stsw::hostile
