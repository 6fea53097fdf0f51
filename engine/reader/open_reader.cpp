// Opening a single file or a sharded set into a ReaderState.
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

  std::vector<const Header*> headers;
  for (const std::string& name : index.shard_names) {
    state.shards.push_back(open_shard(shard_path(index, name, source), state.options));
    headers.push_back(&state.shards.back()->header);
  }
  check_shards_match_index(index, headers, source);
  for (std::size_t si = 0; si < state.shards.size(); ++si) {
    const auto& tensors = state.shards[si]->header.tensors;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      // check_shards_match_index refused names held by two shards.
      state.by_name.emplace(tensors[i].name, TensorLoc{si, i});
      state.order.push_back({si, i});
    }
  }
}

}  // namespace stsw::detail
