// Everything a StreamReader holds: its options, engine, shards and the name index.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reader/shard.hpp"
#include "stsw/reader.hpp"

namespace stsw::detail {

struct TensorLoc {
  std::size_t shard = 0;
  std::size_t index = 0;  // into the shard's header.tensors
};

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct ReaderState {
  std::string path;
  ReaderOptions options;
  std::shared_ptr<Engine> engine;
  std::vector<std::shared_ptr<const Shard>> shards;
  bool sharded = false;
  std::vector<TensorLoc> order;  // keys() order
  std::unordered_map<std::string, TensorLoc, NameHash, std::equal_to<>> by_name;
  Metadata index_metadata;
  std::size_t buffer_size = 0;  // for_each
  unsigned buffer_count = 0;

  [[nodiscard]] const TensorMeta& meta(const TensorLoc& loc) const {
    return shards[loc.shard]->header.tensors[loc.index];
  }
  [[nodiscard]] const TensorLoc* find(std::string_view name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &it->second;
  }
  // Throws Error(UnknownTensor).
  [[nodiscard]] const TensorLoc& at(std::string_view name) const;
  [[nodiscard]] Error unknown(std::string_view name) const;
};

// Fill `state.shards`, `order`, `by_name` (and index_metadata for a sharded set).
void open_single_file(ReaderState& state);
void open_sharded_set(ReaderState& state);

}  // namespace stsw::detail
