// Opening a single file or a sharded set into a ReaderState.
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "reader/reader_state.hpp"
#include "reader/shard_index.hpp"

namespace stsw::detail {

Error ReaderState::unknown(std::string_view name) const {
  return Error(Errc::UnknownTensor, path + ": no tensor named '" + std::string(name) + "'");
}

const TensorLoc& ReaderState::at(std::string_view name) const {
  const TensorLoc* loc = find(name);
  if (loc == nullptr) throw unknown(name);
  return *loc;
}

void open_single_file(ReaderState& state) {
  state.shards.push_back(open_shard(state.path, state.options));
  const Shard& s = *state.shards.front();
  for (std::size_t i = 0; i < s.header.tensors.size(); ++i) {
    state.order.push_back({0, i});
    // The codec rejects duplicate names, so every insertion succeeds.
    state.by_name.emplace(s.header.tensors[i].name, TensorLoc{0, i});
  }
}

void open_sharded_set(ReaderState& state) {
  const std::string& source = state.path;
  ShardIndex index = parse_index(read_index_file(source), source);
  state.sharded = true;
  state.index_metadata = std::move(index.metadata);

  const std::filesystem::path dir = std::filesystem::path(source).parent_path();
  for (const std::string& name : index.shard_names) {
    const std::string full = (dir / name).string();
    struct stat st {};
    if (::stat(full.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
      std::string tensor;
      for (const auto& [t, s] : index.weight_map) {
        if (s == name) {
          tensor = t;
          break;
        }
      }
      throw Error(Errc::InvalidIndex, source + ": shard '" + name + "' (holding tensor '" + tensor +
                                          "') does not exist");
    }
    state.shards.push_back(open_shard(full, state.options));
  }

  auto shard_name = [&](std::size_t i) { return index.shard_names[i]; };
  for (std::size_t si = 0; si < state.shards.size(); ++si) {
    const auto& tensors = state.shards[si]->header.tensors;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto [it, fresh] = state.by_name.emplace(tensors[i].name, TensorLoc{si, i});
      if (!fresh) {
        throw Error(Errc::InvalidIndex, source + ": tensor '" + tensors[i].name +
                                            "' is in two shards, '" + shard_name(it->second.shard) +
                                            "' and '" + shard_name(si) + "'");
      }
      state.order.push_back({si, i});
    }
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    const TensorLoc* loc = state.find(tensor);
    if (loc == nullptr) {
      throw Error(Errc::InvalidIndex,
                  source + ": tensor '" + tensor + "' is missing from shard '" + shard + "'");
    }
    if (shard_name(loc->shard) != shard) {
      throw Error(Errc::InvalidIndex, source + ": tensor '" + tensor + "' is in shard '" +
                                          shard_name(loc->shard) + "', not in '" + shard +
                                          "' as the weight_map says");
    }
  }
  for (const TensorLoc& loc : state.order) {
    const std::string& tensor = state.meta(loc).name;
    if (index.weight_map.count(tensor) == 0) {
      throw Error(Errc::InvalidIndex, source + ": shard '" + shard_name(loc.shard) +
                                          "' holds tensor '" + tensor +
                                          "', which the weight_map does not list");
    }
  }
}

}  // namespace stsw::detail
