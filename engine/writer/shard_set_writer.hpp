// The one writer of checkpoints that may be sharded (stsw::dump and stsw::convert): it
// replaces what is at a destination (one safetensors file, or a sharded set of shards plus
// "<stem>.safetensors.index.json", FORMAT.md section 7) so that a loader opening the index
// at any instant finds the complete previous set or the complete new one. The naming rule
// and the replacement contract are documented in include/stsw/dump.hpp.
//
//   ShardSetWriter set(path, shards.size(), durable);  // reads the previous index, picks names
//   set.write(parallel, [&](std::size_t s) { ... a StreamWriter to set.file(s) ... });
//   std::optional<std::string> index = set.publish(weight_map, total_size);
//
// Steps:
//  1. constructor: reads the previous index (when there is one) to learn which shard names
//     the previous set uses, picks names for the new shards that it does not use, and (when
//     sharded) creates the index's temporary file, so that a destination that cannot take
//     the index fails before any data is written;
//  2. write(): each shard through the caller's function (a StreamWriter: durable and
//     atomic). When one fails no further shard starts, the new shards already in place
//     are removed and the error is rethrown: the previous set was never touched;
//  3. publish(): the index (temporary file, fdatasync, rename, directory fsync) is the
//     commit point; then the previous checkpoint's files that the new one does not use
//     are removed (the index first when the new checkpoint is one file).
// Destroyed before publish() (an exception, a cancellation): as a failed write().
//
// Not thread-safe, except that write() calls the function from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "writer/target_file.hpp"

namespace stsw::writer {

class ShardSetWriter {
 public:
  // `path`: the destination file name ("dir/model.safetensors"); `shards` >= 1 (1: one
  // file at `path`, no index). Throws Error: those of TargetFile::create for the index
  // (a directory in the way: InvalidArgument), Io naming the directory when it cannot be
  // listed. An unreadable or invalid previous index is not an error (see dump.hpp).
  // `inputs`: files being read while the set is written (convert's input, and the shards
  // of an input index); a new shard never takes the name of one of them (same inode), so
  // a failed conversion cannot replace and then remove its own input, and an input that
  // merely has a shard name of the stem (no previous index names it) is not removed.
  ShardSetWriter(const std::string& path, std::size_t shards, bool durable,
                 const std::vector<std::string>& inputs = {});
  ShardSetWriter(const ShardSetWriter&) = delete;
  ShardSetWriter& operator=(const ShardSetWriter&) = delete;
  ~ShardSetWriter();  // removes the new shards unless published

  [[nodiscard]] std::size_t size() const noexcept { return files_.size(); }
  // The path shard `s` must be written to (`path` itself when there is one file).
  [[nodiscard]] const std::string& file(std::size_t s) const { return files_.at(s); }
  [[nodiscard]] const std::vector<std::string>& files() const noexcept { return files_; }

  // Calls write_shard(s) for every shard, up to `parallel` at a time (the caller's thread
  // and parallel - 1 more); write_shard must leave a complete file at file(s) or throw.
  // On the first exception no further shard starts; the new shards are removed and that
  // exception rethrown.
  void write(unsigned parallel, const std::function<void(std::size_t)>& write_shard);

  // Makes the new checkpoint current and removes what remains of the previous one.
  // `weight_map`: tensor name -> shard number. Returns the index path when sharded.
  // Throws Error (Io, NoSpace) when the index cannot be written: the new shards are then
  // removed and the previous set is as it was. Failures to remove previous files after
  // the commit point are logged as warnings, not thrown: the new checkpoint is in place.
  std::optional<std::string> publish(
      const std::vector<std::pair<std::string, std::size_t>>& weight_map, std::uint64_t total_size);

 private:
  void abandon() noexcept;
  void remove_previous() noexcept;

  std::string path_;
  std::string dir_;
  std::string base_;
  std::string stem_;
  bool durable_;
  std::vector<std::string> names_;           // file names of the new shards (base_ when one file)
  std::vector<std::string> files_;           // dir_ + "/" + names_
  std::vector<std::string> previous_names_;  // shard names of the previous index
  std::set<std::string> inputs_;             // shard names of the stem that are inputs
  TargetFile index_;                         // sharded only
  bool published_ = false;
};

}  // namespace stsw::writer
