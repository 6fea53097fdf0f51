// The hostile corpus, part 2: sizes a file merely claims (which must never be allocated),
// JSON nested 10^5 deep, 100 MB headers, and hostile names.
#include <span>

#include "reliability/hostile_corpus.hpp"
#include "stsw/crc32.hpp"
#include "stsw/header.hpp"

namespace stsw::hostile {

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
// What opening a file that merely claims huge sizes may allocate.
constexpr std::uint64_t kClaimBound = 16 * kMiB;

Case make(std::string family, std::string name, std::string bytes, Expect expect,
          std::optional<Errc> code = std::nullopt, std::uint64_t memory_bound = 0) {
  Case c;
  c.family = std::move(family);
  c.name = std::move(name);
  c.files.push_back({.name = "f.safetensors", .head = std::move(bytes)});
  c.expect = expect;
  c.code = code;
  c.memory_bound = memory_bound;
  c.cli = true;
  return c;
}

std::string crc_field(const std::string& data) {
  return ",\"crc32\":" + std::to_string(crc32(std::as_bytes(std::span(data.data(), data.size()))));
}

// A valid file whose tensors (U8 [2], with crc32) carry the given raw JSON names.
std::string valid_named(const std::vector<std::string>& json_names, const std::string& meta = {}) {
  std::string header = "{" + meta;
  std::string data;
  for (std::size_t i = 0; i < json_names.size(); ++i) {
    const std::string d = {static_cast<char>('a' + i), static_cast<char>('A' + i)};
    if (i > 0 || !meta.empty()) header += ",";
    header += entry(json_names[i], "U8", "[2]", 2 * i, 2 * i + 2, crc_field(d));
    data += d;
  }
  return file_with(header + "}", data);
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

std::vector<Case> huge_cases() {
  std::vector<Case> v;
  const auto claim = [&](std::string name, const std::string& header, const std::string& data,
                         Errc code) {
    v.push_back(
        make("huge", std::move(name), file_with(header, data), Expect::Exact, code, kClaimBound));
  };
  claim("dims_product_overflows", "{" + entry("o", "U8", "[4294967296,4294967296,2]", 0, 1) + "}",
        "x", Errc::ValidationOverflow);
  claim("dims_overflow_late", "{" + entry("o", "U8", "[2,9223372036854775808]", 0, 1) + "}", "x",
        Errc::ValidationOverflow);
  claim("dims_times_bits_overflow", "{" + entry("o", "U16", "[9223372036854775808]", 0, 1) + "}",
        "x", Errc::ValidationOverflow);
  claim("offsets_past_eof", "{" + entry("w", "U8", "[1000000000000000]", 0, 1000000000000000) + "}",
        "x", Errc::MetadataIncompleteBuffer);
  claim("end_offset_max", "{" + entry("w", "U8", "[4]", 0, ~std::uint64_t{0}) + "}", "1234",
        Errc::TensorInvalidInfo);
  claim("both_offsets_max",
        "{" + entry("w", "U8", "[0]", ~std::uint64_t{0}, ~std::uint64_t{0}) + "}", "",
        Errc::InvalidOffset);
  claim("second_tensor_2e40",
        "{" + entry("a", "U8", "[4]", 0, 4) + "," +
            entry("b", "U8", "[1099511627776]", 4, 1099511627780) + "}",
        "1234", Errc::MetadataIncompleteBuffer);
  v.push_back(make("huge", "claimed_header_99999999", le64(99'999'999) + "{}", Expect::Exact,
                   Errc::InvalidHeaderLength, kClaimBound));
  // A partial Python stsw file may claim a tensor past its end: lenient partial readers
  // open it and must report the tensor missing without allocating it.
  Case partial =
      make("huge", "partial_claims_1e15",
           file_with("{\"__version__\":\"1.0\",\"__incomplete__\":true," +
                         entry("t", "U8", "[1000000000000000]", 0, 1000000000000000) + "}",
                     "1234"),
           Expect::Exact, Errc::InvalidHeaderDeserialization, kClaimBound);
  partial.lenient_code = Errc::IncompleteFile;
  v.push_back(std::move(partial));

  // Rank 10^5: one element (valid), or 2^100000 elements (overflow).
  const std::string ones = "[" + repeat("1,", 99'999) + "1]";
  v.push_back(make("huge", "rank_1e5_ones",
                   file_with("{" + entry("r", "U8", ones, 0, 1, crc_field("z")) + "}", "z"),
                   Expect::Opens, std::nullopt, kClaimBound));
  const std::string twos = "[" + repeat("2,", 99'999) + "2]";
  v.push_back(make("huge", "rank_1e5_twos",
                   file_with("{" + entry("r", "U8", twos, 0, 1) + "}", "z"), Expect::Exact,
                   Errc::ValidationOverflow, kClaimBound));

  // JSON nested 10^5 deep, everywhere it can be: refused without recursing.
  constexpr std::size_t kDeep = 100'000;
  const std::string arrays = repeat("[", kDeep) + repeat("]", kDeep);
  const std::string objects = repeat("{\"a\":", kDeep) + "1" + repeat("}", kDeep);
  const std::string w = entry("w", "U8", "[1]", 0, 1);
  const std::pair<const char*, std::string> deep[] = {
      {"deep_root_arrays", arrays},
      {"deep_root_objects", objects},
      {"deep_unclosed", repeat("[", kDeep)},
      {"deep_extra_field", "{" + entry("w", "U8", "[1]", 0, 1, ",\"x\":" + arrays) + "}"},
      {"deep_extra_objects", "{" + entry("w", "U8", "[1]", 0, 1, ",\"x\":" + objects) + "}"},
      {"deep_metadata", "{\"__metadata__\":" + objects + "," + w + "}"},
      {"deep_shape", "{\"w\":{\"dtype\":\"U8\",\"shape\":" + arrays + ",\"data_offsets\":[0,1]}}"},
      {"deep_dtype", "{\"w\":{\"dtype\":" + objects + ",\"shape\":[1],\"data_offsets\":[0,1]}}"},
  };
  for (const auto& [name, header] : deep) {
    v.push_back(make("nesting", name, file_with(header, "x"), Expect::Exact,
                     Errc::InvalidHeaderDeserialization, kClaimBound));
  }

  // Many tensors and long names: valid, with memory linear in the header.
  std::string many = "{";
  for (int i = 0; i < 100'000; ++i) {
    if (i > 0) many += ",";
    many += entry("t" + std::to_string(i), "F32", "[0]", 0, 0);
  }
  many += "}";
  v.push_back(make("huge", "tensors_1e5", file_with(many), Expect::Opens, std::nullopt,
                   20 * many.size() + 32 * kMiB));
  const std::string long_name(10 * kMiB, 'n');
  v.push_back(make("huge", "name_10MB", valid_named({long_name}), Expect::Opens, std::nullopt,
                   12 * long_name.size() + 32 * kMiB));
  v.back().cli = false;  // `stsw inspect` would print the 10 MB name

  // 100 MB headers, written while they run (sparse where they are zeros).
  constexpr std::uint64_t kMax = kMaxHeaderSize;
  const auto big = [&](std::string name, FileSpec f, Expect expect, std::optional<Errc> code,
                       std::uint64_t bound) {
    Case c = make("bigheader", std::move(name), "", expect, code, bound);
    f.name = "f.safetensors";
    c.files[0] = std::move(f);
    c.big = true;
    c.cli = c.expect == Expect::Opens || c.code == Errc::HeaderTooLarge;
    v.push_back(std::move(c));
  };
  big("over_limit_sparse", {.head = le64(kMax + 1), .fill_count = kMax + 1}, Expect::Exact,
      Errc::HeaderTooLarge, kClaimBound);
  big("limit_of_zeros", {.head = le64(kMax), .fill_count = kMax}, Expect::Exact,
      Errc::InvalidHeaderDeserialization, kMax * 3 / 2 + 32 * kMiB);
  big("limit_of_spaces", {.head = le64(kMax) + "{}", .fill_count = kMax - 2, .fill = ' '},
      Expect::Opens, std::nullopt, kMax * 3 / 2 + 32 * kMiB);
  big("limit_garbage_at_end",
      {.head = le64(kMax) + "{}", .fill_count = kMax - 3, .fill = ' ', .tail = "x"}, Expect::Exact,
      Errc::InvalidHeaderDeserialization, kMax * 3 / 2 + 32 * kMiB);
  big("limit_bad_utf8_at_end",
      {.head = le64(kMax) + "{}", .fill_count = kMax - 3, .fill = ' ', .tail = "\xff"},
      Expect::Exact, Errc::InvalidHeader, kMax * 3 / 2 + 32 * kMiB);
  // One tensor and a 100 MB metadata value.
  const std::string head =
      "{" + entry("w", "U8", "[4]", 0, 4, crc_field("abcd")) + ",\"__metadata__\":{\"k\":\"";
  big("limit_metadata_value",
      {.head = le64(kMax) + head,
       .fill_count = kMax - head.size() - 3,
       .fill = 'v',
       .tail = "\"}}abcd"},
      Expect::Opens, std::nullopt, kMax * 3 + 32 * kMiB);
  v.back().cli = false;  // `stsw inspect` prints the whole 100 MB value
  return v;
}

std::vector<Case> name_cases() {
  std::vector<Case> v;
  const auto add = [&](std::string name, std::string bytes, Expect e,
                       std::optional<Errc> code = std::nullopt) {
    v.push_back(make("names", std::move(name), std::move(bytes), e, code));
  };
  add("dup_tensor", valid_named({"d", "d"}), Expect::Exact, Errc::DuplicateName);
  add("dup_tensor_escaped", valid_named({"a", "\\u0061"}), Expect::Exact, Errc::DuplicateName);
  add("dup_tensor_three", valid_named({"x", "y", "x"}), Expect::Exact, Errc::DuplicateName);
  add("dup_field_shape",
      file_with("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,1]}}",
                "x"),
      Expect::Exact, Errc::InvalidHeaderDeserialization);
  add("dup_metadata_key", valid_named({"w"}, "\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}"),
      Expect::Opens);
  add("dup_metadata_escaped", valid_named({"w"}, "\"__metadata__\":{},\"\\u005f_metadata__\":{}"),
      Expect::Exact, Errc::InvalidHeaderDeserialization);
  add("nul_inside_name", valid_named({"a\\u0000b"}), Expect::Opens);
  add("nul_only_name", valid_named({"\\u0000", "\\u0000\\u0000"}), Expect::Opens);
  add("nul_metadata", valid_named({"w"}, "\"__metadata__\":{\"\\u0000\":\"\\u0000\"}"),
      Expect::Opens);
  add("raw_nul_in_name", valid_named({std::string("a\0b", 3)}), Expect::Exact,
      Errc::InvalidHeaderDeserialization);
  add("escape_sequences_in_name", valid_named({"\\u001b[31mred\\u001b[0m", "a\\nb\\r\\t"}),
      Expect::Opens);
  add("path_like_names", valid_named({"../../etc/passwd", "/abs/x", ""}), Expect::Opens);
  add("utf8_latin1_name", valid_named({"caf\xe9"}), Expect::Exact, Errc::InvalidHeader);
  add("utf8_overlong_nul", valid_named({"a\xc0\x80"}), Expect::Exact, Errc::InvalidHeader);
  add("utf8_lone_continuation", valid_named({"\x80"}), Expect::Exact, Errc::InvalidHeader);
  add("utf8_ok_multibyte", valid_named({"\xe2\x82\xac", "\xf0\x9f\x98\x80"}), Expect::Opens);
  add("bad_escape", valid_named({"a\\x"}), Expect::Exact, Errc::InvalidHeaderDeserialization);
  return v;
}

}  // namespace stsw::hostile
