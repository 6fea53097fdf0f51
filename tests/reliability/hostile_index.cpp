// The hostile corpus, part 3: sharded indexes (model.safetensors.index.json) that name
// shards outside their directory, missing shards, tensors absent from their shard,
// non-files where shards should be, and malformed or huge index JSON.
#include <span>

#include "reliability/hostile_corpus.hpp"
#include "stsw/crc32.hpp"
#include "stsw/header.hpp"

namespace stsw::hostile {

namespace {

constexpr const char* kIndex = "model.safetensors.index.json";
constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

// A valid shard holding U8 tensors of the given names and sizes, with crc32 fields.
std::string shard(const std::vector<std::pair<std::string, std::size_t>>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const auto& [name, n] : tensors) {
    std::string d(n, '\0');
    for (std::size_t i = 0; i < n; ++i) d[i] = static_cast<char>(name[0] + i);
    const std::uint32_t crc = crc32(std::as_bytes(std::span(d.data(), d.size())));
    header += "," + entry(name, "U8", "[" + std::to_string(n) + "]", data.size(), data.size() + n,
                          ",\"crc32\":" + std::to_string(crc));
    data += d;
  }
  return file_with(header + "}", data);
}

std::string index_json(const std::vector<std::pair<std::string, std::string>>& map) {
  std::string s = "{\"metadata\":{\"total_size\":8},\"weight_map\":{";
  for (std::size_t i = 0; i < map.size(); ++i) {
    s += (i ? "," : "") + ("\"" + map[i].first + "\":\"" + map[i].second + "\"");
  }
  return s + "}}";
}

// The good set: "a" (3 bytes) in shard 1, "b" (5 bytes) in shard 2.
std::vector<FileSpec> good_shards() {
  return {{.name = kShard1, .head = shard({{"a", 3}})},
          {.name = kShard2, .head = shard({{"b", 5}})}};
}

Case index_case(std::string name, const std::string& index_text, Expect expect,
                std::optional<Errc> code, std::vector<FileSpec> extra = {}) {
  Case c;
  c.family = "index";
  c.name = std::move(name);
  c.files.push_back({.name = kIndex, .head = index_text});
  for (FileSpec& f : good_shards()) c.files.push_back(std::move(f));
  for (FileSpec& f : extra) {
    bool replaced = false;
    for (FileSpec& have : c.files) {
      if (have.name == f.name) {
        have = f;
        replaced = true;
      }
    }
    if (!replaced) c.files.push_back(std::move(f));
  }
  c.expect = expect;
  c.code = code;
  c.cli = true;
  return c;
}

}  // namespace

std::vector<Case> index_cases() {
  std::vector<Case> v;
  const auto invalid = [&](std::string name, const std::string& text,
                           std::vector<FileSpec> extra = {}) {
    v.push_back(
        index_case(std::move(name), text, Expect::Exact, Errc::InvalidIndex, std::move(extra)));
  };
  const auto map_b_to = [](const std::string& shard_name) {
    return index_json({{"a", kShard1}, {"b", shard_name}});
  };
  v.push_back(index_case("good_set", map_b_to(kShard2), Expect::Opens, std::nullopt));

  // Shard names that are not plain file names, each naming a real, valid file.
  const std::string sub2 = std::string("sub/") + kShard2;
  invalid("subdir_name", map_b_to(sub2), {{.name = sub2, .head = shard({{"b", 5}})}});
  invalid("dot_slash", map_b_to(std::string("./") + kShard2));
  invalid("dot", map_b_to("."));
  invalid("dotdot", map_b_to(".."));
  invalid("empty_name", map_b_to(""));
  invalid("nul_in_name", map_b_to(std::string("model\\u0000") + kShard2));
  invalid("absolute_passwd", map_b_to("/etc/passwd"));
  invalid("absolute_dev_zero", map_b_to("/dev/zero"));
  invalid("absolute_proc_self", map_b_to("/proc/self/mem"));
  {
    // The index in sub/, "../" reaching a valid shard next to it.
    Case c = index_case("dotdot_prefix", "", Expect::Exact, Errc::InvalidIndex);
    c.files[0].name = std::string("sub/") + kIndex;
    c.files[0].head =
        index_json({{"a", std::string("../") + kShard1}, {"b", "../" + std::string(kShard2)}});
    c.open = c.files[0].name;
    v.push_back(std::move(c));
  }
  invalid("dotdot_deep", map_b_to("../../../../../../../../../../etc/passwd"));
  invalid("backslash_dotdot", map_b_to("..\\\\" + std::string(kShard2)));  // plain, absent

  // Missing shards, tensors absent from their shard or in the wrong one.
  invalid("missing_shard", map_b_to("model-00009-of-00009.safetensors"));
  invalid("tensor_absent", index_json({{"a", kShard1}, {"b", kShard2}, {"ghost", kShard1}}));
  invalid("tensor_wrong_shard", index_json({{"a", kShard2}, {"b", kShard2}}));
  invalid("shard_tensor_unlisted", map_b_to(kShard2),
          {{.name = kShard1, .head = shard({{"a", 3}, {"x", 2}})}});
  invalid("tensor_in_two_shards", map_b_to(kShard2),
          {{.name = kShard2, .head = shard({{"a", 3}, {"b", 5}})}});
  {
    std::vector<std::pair<std::string, std::string>> many = {{"a", kShard1}, {"b", kShard2}};
    for (int i = 0; i < 100'000; ++i)
      many.emplace_back("m" + std::to_string(i), "absent.safetensors");
    invalid("1e5_tensors_missing_shard", index_json(many));
  }

  // Malformed index JSON.
  invalid("not_json", "{\"weight_map\": {\"a\": ");
  invalid("empty_file", "");
  invalid("root_array", "[]");
  invalid("weight_map_array", "{\"weight_map\":[]}");
  invalid("weight_map_empty", "{\"weight_map\":{}}");
  invalid("shard_number", "{\"weight_map\":{\"a\":1}}");
  invalid("non_utf8_name", map_b_to("model\xff.safetensors"));
  invalid("deep_1e5",
          "{\"weight_map\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}");
  {
    Case c = index_case("huge_sparse_index", "", Expect::Exact, Errc::InvalidIndex);
    c.files[0] = {.name = kIndex, .head = "{", .fill_count = kMaxHeaderSize + 1};
    c.memory_bound = 16 << 20;
    c.big = true;
    v.push_back(std::move(c));
  }

  // Non-files and broken files where a shard should be.
  v.push_back(index_case("shard_is_directory", map_b_to("d.safetensors"), Expect::AnyError,
                         std::nullopt,
                         {{.name = "d.safetensors", .kind = FileSpec::Kind::Directory}}));
  v.push_back(index_case("shard_is_fifo", map_b_to("p.safetensors"), Expect::Exact,
                         Errc::InvalidArgument,
                         {{.name = "p.safetensors", .kind = FileSpec::Kind::Fifo}}));
  v.push_back(index_case("index_is_fifo", "", Expect::Exact, Errc::InvalidArgument));
  v.back().files[0].kind = FileSpec::Kind::Fifo;
  v.push_back(index_case("shard_is_the_index", map_b_to(kIndex), Expect::AnyError, std::nullopt));
  v.push_back(index_case(
      "shard_truncated", map_b_to(kShard2), Expect::Exact, Errc::MetadataIncompleteBuffer,
      {{.name = kShard2, .head = shard({{"b", 5}}).substr(0, shard({{"b", 5}}).size() - 2)}}));
  v.push_back(index_case("shard_too_small", map_b_to(kShard2), Expect::Exact, Errc::HeaderTooSmall,
                         {{.name = kShard2, .head = "abc"}}));
  for (Case& c : v) {
    if (c.open.empty()) c.open = kIndex;
  }
  return v;
}

}  // namespace stsw::hostile
