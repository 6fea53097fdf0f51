// Sharded checkpoints: the index rules live in the public include/stsw/shard_index.hpp
// (the CLI uses them too); the reader names them in detail.
#pragma once

#include "stsw/shard_index.hpp"

namespace stsw::detail {

using stsw::check_shard_name;
using stsw::check_shards_match_index;
using stsw::parse_index;
using stsw::read_index_file;
using stsw::shard_path;
using stsw::ShardIndex;

}  // namespace stsw::detail
