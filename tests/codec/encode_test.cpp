// The canonical writer: ordering, byte-exact JSON, alignment, CRC reservation, and
// round trips through the parser.
#include <gtest/gtest.h>

#include <random>

#include "codec_test_util.hpp"
#include "support/tensor_meta.hpp"

namespace stsw {
namespace {

using namespace std::string_literals;

std::string json_of(const std::string& encoded) {
  std::string json = encoded.substr(8);
  return json.substr(0, json.find_last_not_of(' ') + 1);
}

std::uint64_t length_of(const std::string& encoded) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(encoded[i]);
  return n;
}

Layout layout_of(std::vector<TensorSpec> specs, std::uint64_t align = 8,
                 const std::optional<Metadata>& md = std::nullopt, bool reserve = false) {
  return plan_layout(specs, LayoutOrder::Canonical, align, md, reserve);
}

EncodeOptions options(std::uint64_t align, bool reserve = false,
                      std::optional<std::uint64_t> exact = std::nullopt) {
  EncodeOptions o;
  o.align = align;
  o.reserve_crc32 = reserve;
  o.exact_header_size = exact;
  return o;
}

template <typename F>
void expect_error(Errc kind, F&& f, std::string_view needle = "") {
  try {
    f();
    ADD_FAILURE() << "no error, expected " << to_string(kind);
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.code()), to_string(kind)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SortCanonical, RankDescendingThenNameBytes) {
  std::vector<TensorSpec> specs;
  for (DType d : kAllDTypes) specs.push_back({std::string(to_string(d)), d, {}});
  specs.push_back({"b", DType::F32, {}});
  specs.push_back({"B", DType::F32, {}});
  specs.push_back({"\xc3\xa9", DType::F32, {}});
  specs.push_back({"a", DType::F32, {}});
  sort_canonical(specs);
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  const std::vector<std::string> expected = {
      "U64", "I64",         "F64",         "C64",     "B",       "F32",     "a",
      "b",   "\xc3\xa9",    "U32",         "I32",     "BF16",    "F16",     "U16",
      "I16", "F8_E5M2FNUZ", "F8_E4M3FNUZ", "F8_E8M0", "F8_E4M3", "F8_E5M2", "I8",
      "U8",  "F6_E3M2",     "F6_E2M3",     "F4",      "BOOL"};
  EXPECT_EQ(names, expected);
}

TEST(EncodeHeader, EmptyFiles) {
  EXPECT_EQ(encode_header({}, std::nullopt), "\x08\0\0\0\0\0\0\0{}      "s);
  // The official writer makes invalid JSON here; stsw writes the empty map.
  const std::string md = encode_header({}, Metadata{});
  EXPECT_EQ(json_of(md), R"({"__metadata__":{}})");
  EXPECT_EQ(length_of(md), 24U);
  EXPECT_EQ(md.size(), 32U);
  EXPECT_TRUE(test::parse(md).metadata.has_value());
}

TEST(EncodeHeader, CompactJsonInTheOfficialShape) {
  const Layout layout = layout_of({{"w", DType::F16, {2, 3}}, {"b", DType::F32, {}}}, 8,
                                  Metadata{{"z", "1"}, {"a", "2"}, {"B", "3"}});
  const std::string h = encode_header(layout.tensors, Metadata{{"z", "1"}, {"a", "2"}, {"B", "3"}});
  EXPECT_EQ(json_of(h), R"({"__metadata__":{"B":"3","a":"2","z":"1"},)"
                        R"("b":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                        R"("w":{"dtype":"F16","shape":[2,3],"data_offsets":[4,16]}})");
  EXPECT_EQ(length_of(h) % 8, 0U);
  EXPECT_EQ(h.size(), 8 + length_of(h));
  EXPECT_EQ(h.size() - 8 - json_of(h).size(), length_of(h) - json_of(h).size());
  EXPECT_LT(length_of(h) - json_of(h).size(), 8U);
}

TEST(EncodeHeader, EscapesNamesAndMetadataLikeTheOfficialWriter) {
  const std::string name = "q\"\\/\x01\x7f\xc3\xa9\t";
  const Layout layout = layout_of({{name, DType::U8, {1}}});
  const std::string h = encode_header(layout.tensors, Metadata{{"k\x1f", "v\n"}});
  EXPECT_EQ(json_of(h), R"({"__metadata__":{"k\u001f":"v\n"},"q\"\\/\u0001)"
                        "\x7f\xc3\xa9"
                        R"(\t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})");
  EXPECT_EQ(test::parse(h + "x").tensors.at(0).name, name);
}

TEST(EncodeHeader, Crc32FieldFollowsTheOffsets) {
  Layout layout = layout_of({{"w", DType::U8, {3}}});
  layout.tensors[0].crc32 = 4294967295U;
  const std::string h = encode_header(layout.tensors, std::nullopt);
  EXPECT_EQ(json_of(h),
            R"({"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3],"crc32":4294967295}})");
  EXPECT_EQ(test::parse(h + "abc").tensors.at(0).crc32, 4294967295U);
}

TEST(EncodeHeader, AlignsTheDataRegion) {
  const Layout layout = layout_of({{"w", DType::U8, {3}}});
  for (std::uint64_t align : {8ULL, 16ULL, 64ULL, 4096ULL, 1ULL << 20}) {
    const std::string h = encode_header(layout.tensors, std::nullopt, options(align));
    EXPECT_EQ(h.size() % align, 0U) << align;
    EXPECT_LT(h.size() - 8 - json_of(h).size(), align) << align;
    EXPECT_EQ(layout_of({{"w", DType::U8, {3}}}, align).header_size, h.size() - 8);
    EXPECT_NO_THROW(static_cast<void>(test::parse(h + "abc")));
  }
  for (std::uint64_t bad : {0ULL, 1ULL, 4ULL, 12ULL, 24ULL, 100ULL, 1ULL << 27, 1ULL << 63}) {
    expect_error(Errc::InvalidArgument,
                 [&] { static_cast<void>(encode_header(layout.tensors, {}, options(bad))); });
    expect_error(Errc::InvalidArgument, [&] {
      static_cast<void>(plan_layout({{"w", DType::U8, {3}}}, LayoutOrder::Keep, bad));
    });
  }
}

TEST(EncodeHeader, ReservedCrcRoomFitsTheRealCrcsInTheSameSize) {
  std::vector<TensorSpec> specs;
  for (int i = 0; i < 50; ++i) specs.push_back({"t" + std::to_string(i), DType::F32, {3}});
  for (std::uint64_t align : {8ULL, 64ULL}) {
    const Layout layout = layout_of(specs, align, Metadata{{"format", "pt"}}, true);
    const std::string first =
        encode_header(layout.tensors, Metadata{{"format", "pt"}}, options(align, true));
    EXPECT_EQ(first.size() - 8, layout.header_size);
    EXPECT_GT(layout.header_size, layout_of(specs, align, Metadata{{"format", "pt"}}).header_size);
    // The first header is valid on its own (no crc32 yet).
    EXPECT_TRUE(test::parse(first + std::string(layout.data_size, '\0')).strict_valid);
    // Final header: the widest CRCs fit in exactly the same N.
    std::vector<TensorMeta> final_tensors = layout.tensors;
    for (auto& t : final_tensors)
      t.crc32 = 4000000000U + static_cast<std::uint32_t>(t.offset_begin);
    const std::string final_header = encode_header(final_tensors, Metadata{{"format", "pt"}},
                                                   options(align, false, layout.header_size));
    EXPECT_EQ(final_header.size(), first.size());
    const Header h = test::parse(final_header + std::string(layout.data_size, '\0'));
    EXPECT_EQ(h.tensors, final_tensors);
  }
}

TEST(EncodeHeader, ExactHeaderSize) {
  const Layout layout = layout_of({{"w", DType::U8, {3}}});
  const std::string h = encode_header(layout.tensors, {}, options(8, false, 200));
  EXPECT_EQ(length_of(h), 200U);
  EXPECT_EQ(h.size(), 208U);
  expect_error(
      Errc::InvalidArgument,
      [&] { static_cast<void>(encode_header(layout.tensors, {}, options(8, false, 10))); }, "10");
  expect_error(
      Errc::InvalidArgument,
      [&] { static_cast<void>(encode_header(layout.tensors, {}, options(8, false, 201))); }, "201");
  expect_error(
      Errc::InvalidArgument,
      [&] { static_cast<void>(encode_header(layout.tensors, {}, options(64, false, 200))); }, "64");
}

TEST(EncodeHeader, ValidatesTheTensors) {
  using test::meta;
  const auto encode = [](std::vector<TensorMeta> ts, std::optional<Metadata> md = {}) {
    return [ts = std::move(ts), md = std::move(md)] { static_cast<void>(encode_header(ts, md)); };
  };
  expect_error(Errc::DuplicateName,
               encode({meta("a", DType::U8, {1}, 0, 1), meta("a", DType::U8, {1}, 1, 2)}), "'a'");
  expect_error(Errc::InvalidName, encode({meta("__metadata__", DType::U8, {1}, 0, 1)}),
               "__metadata__");
  expect_error(Errc::InvalidName, encode({meta("bad\xff", DType::U8, {1}, 0, 1)}), "UTF-8");
  expect_error(Errc::InvalidOffset, encode({meta("gap", DType::U8, {1}, 1, 2)}), "'gap'");
  expect_error(Errc::InvalidOffset,
               encode({meta("a", DType::U8, {1}, 0, 1), meta("b", DType::U8, {1}, 2, 3)}), "'b'");
  expect_error(Errc::TensorInvalidInfo, encode({meta("w", DType::F32, {2}, 0, 4)}), "'w'");
  expect_error(Errc::ValidationOverflow,
               encode({meta("o", DType::U8, {1ULL << 32, 1ULL << 32, 0}, 0, 0)}), "'o'");
  expect_error(Errc::MisalignedSlice, encode({meta("m", DType::F4, {3}, 0, 1)}), "'m'");
  expect_error(Errc::InvalidArgument, encode({}, Metadata{{"k", "\xc0"}}), "'k'");
}

TEST(PlanLayout, OffsetsOrderAndErrors) {
  const std::vector<TensorSpec> specs = {
      {"small", DType::U8, {3}}, {"big", DType::F64, {2}}, {"mid", DType::F16, {}}};
  const Layout canonical = plan_layout(specs, LayoutOrder::Canonical);
  ASSERT_EQ(canonical.tensors.size(), 3U);
  EXPECT_EQ(canonical.tensors[0].name, "big");
  EXPECT_EQ(canonical.tensors[1].name, "mid");
  EXPECT_EQ(canonical.tensors[2].name, "small");
  EXPECT_EQ(canonical.tensors[2].offset_begin, 18U);
  EXPECT_EQ(canonical.data_size, 21U);
  EXPECT_EQ(canonical.header_size % 8, 0U);
  EXPECT_EQ(canonical.file_size(), 8 + canonical.header_size + 21);
  const Layout kept = plan_layout(specs, LayoutOrder::Keep, 64, Metadata{{"format", "pt"}});
  EXPECT_EQ(kept.tensors[0].name, "small");
  EXPECT_EQ(kept.tensors[1].offset_begin, 3U);
  EXPECT_EQ(kept.data_offset() % 64, 0U);
  EXPECT_GT(kept.header_size, 0U);

  expect_error(
      Errc::DuplicateName,
      [] {
        static_cast<void>(
            plan_layout({{"x", DType::U8, {1}}, {"x", DType::F32, {1}}}, LayoutOrder::Keep));
      },
      "'x'");
  expect_error(Errc::InvalidName, [] {
    static_cast<void>(plan_layout({{"__metadata__", DType::U8, {1}}}, LayoutOrder::Keep));
  });
  expect_error(
      Errc::ValidationOverflow,
      [] {
        static_cast<void>(plan_layout({{"o", DType::F32, {1ULL << 62}}}, LayoutOrder::Keep));
      },
      "'o'");
  expect_error(
      Errc::ValidationOverflow,
      [] {
        // Each tensor fits (2^61 - 1 bytes), nine of them do not.
        std::vector<TensorSpec> huge;
        for (int i = 0; i < 9; ++i)
          huge.push_back({"t" + std::to_string(i), DType::U8, {(1ULL << 61) - 1}});
        static_cast<void>(plan_layout(huge, LayoutOrder::Keep));
      },
      "'t8'");
  expect_error(
      Errc::MisalignedSlice,
      [] {
        static_cast<void>(plan_layout({{"m", DType::F6_E2M3, {1}}}, LayoutOrder::Keep));
      },
      "'m'");
}

TEST(RoundTrip, RandomLayoutsParseBackExactly) {
  std::mt19937_64 rng(1234);
  const std::string alphabet = "abAB_.-0\"\\/\n\x01\x7f\xc3\xa9 ";
  for (int round = 0; round < 300; ++round) {
    std::vector<TensorSpec> specs;
    const int count = static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      TensorSpec s;
      s.name = std::to_string(i);
      for (std::uint64_t k = rng() % 6; k > 0; --k) {
        const std::size_t at = rng() % alphabet.size();
        // Keep the two-byte sequence whole.
        s.name += alphabet[at] == '\xc3' || alphabet[at] == '\xa9' ? "\xc3\xa9"
                                                                   : std::string(1, alphabet[at]);
      }
      s.dtype = kAllDTypes[rng() % kDTypeCount];
      for (std::uint64_t r = rng() % 4; r > 0; --r) s.shape.push_back(rng() % 5);
      if (!byte_size(s.dtype, s.shape)) s.shape.push_back(8);  // whole bytes for F4 / F6
      specs.push_back(std::move(s));
    }
    std::optional<Metadata> md;
    if (rng() % 2 == 0) {
      md.emplace();
      for (std::uint64_t k = rng() % 4; k > 0; --k)
        md->emplace("k" + std::to_string(rng() % 10), "v\"\n");
    }
    const std::uint64_t align = 8ULL << (rng() % 4);
    const bool reserve = rng() % 2 == 0;
    const auto order = rng() % 2 == 0 ? LayoutOrder::Canonical : LayoutOrder::Keep;
    const Layout layout = plan_layout(specs, order, align, md, reserve);
    const std::string header = encode_header(layout.tensors, md, options(align, reserve));
    ASSERT_EQ(header.size(), layout.data_offset());
    const std::string file = header + std::string(layout.data_size, '\x5a');
    const Header h = test::parse(file);
    EXPECT_EQ(h.tensors, layout.tensors);
    EXPECT_EQ(h.metadata, md);
    EXPECT_EQ(h.header_size, layout.header_size);
    EXPECT_EQ(h.data_offset() % align, 0U);
    // Re-encoding the parsed header reproduces it.
    EXPECT_EQ(encode_header(h.tensors, h.metadata, options(align, false, h.header_size)), header);
  }
}

}  // namespace
}  // namespace stsw
