#include "writer/shard_plan.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "codec/text.hpp"

namespace stsw::writer {

std::vector<std::vector<std::size_t>> plan_shards(const std::vector<std::uint64_t>& sizes,
                                                  std::uint64_t max_shard_size) {
  std::vector<std::vector<std::size_t>> shards(1);
  std::uint64_t used = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const bool fits = sizes[i] <= max_shard_size && used <= max_shard_size - sizes[i];
    if (!shards.back().empty() && !fits) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(i);
    used += sizes[i];
  }
  return shards;
}

std::string shard_stem(const std::string& file_name) {
  static const std::string suffix = ".safetensors";
  if (file_name.size() > suffix.size() &&
      file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return file_name.substr(0, file_name.size() - suffix.size());
  }
  return file_name;
}

std::string shard_file_name(const std::string& stem, std::size_t index, std::size_t count,
                            unsigned generation) {
  char buf[80];
  if (generation == 0) {
    std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu.safetensors", index + 1, count);
  } else {
    std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu-g%u.safetensors", index + 1, count, generation);
  }
  return stem + buf;
}

namespace {
// Consumes at least `min` decimal digits from the front of `s`.
bool eat_digits(std::string_view& s, std::size_t min) {
  std::size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n < min) return false;
  s.remove_prefix(n);
  return true;
}
bool eat(std::string_view& s, std::string_view lit) {
  if (s.substr(0, lit.size()) != lit) return false;
  s.remove_prefix(lit.size());
  return true;
}
}  // namespace

bool is_shard_file_name(const std::string& stem, const std::string& name) {
  std::string_view s = name;
  if (!eat(s, stem) || !eat(s, "-") || !eat_digits(s, 5) || !eat(s, "-of-") || !eat_digits(s, 5)) {
    return false;
  }
  if (eat(s, "-g") && !eat_digits(s, 1)) return false;
  return s == ".safetensors";
}

std::string index_file_name(const std::string& stem) { return stem + ".safetensors.index.json"; }

std::string index_json(std::uint64_t total_size,
                       std::vector<std::pair<std::string, std::string>> weight_map) {
  std::sort(weight_map.begin(), weight_map.end());
  std::string out = "{\n  \"metadata\": {\n    \"total_size\": ";
  out += std::to_string(total_size);
  out += "\n  },\n  \"weight_map\": {";
  for (std::size_t i = 0; i < weight_map.size(); ++i) {
    out += i == 0 ? "\n    " : ",\n    ";
    codec::append_json_string(out, weight_map[i].first);
    out += ": ";
    codec::append_json_string(out, weight_map[i].second);
  }
  out += weight_map.empty() ? "}\n}\n" : "\n  }\n}\n";
  return out;
}

}  // namespace stsw::writer
