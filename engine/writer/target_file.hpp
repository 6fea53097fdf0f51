// The file a writer fills before it becomes visible at its final path: an unnamed
// O_TMPFILE in the target's directory, or (where the file system lacks O_TMPFILE) a hidden
// temporary name there. commit() links it into place atomically; discard() removes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "stsw/engine.hpp"
#include "writer/temp_names.hpp"  // hidden_temp_name(), used with TargetFile

namespace stsw::writer {

class TargetFile {
 public:
  TargetFile() = default;
  // Creates the temporary file next to `path` with `mode`, preallocated to `size` bytes
  // (fallocate; skipped where unsupported), and locked as a live writer's (temp_files.hpp).
  // First removes abandoned hidden files of `path`'s name. Throws Error naming `path`:
  // InvalidArgument when something other than a regular file or a symlink is at `path` (a
  // directory, a device, a FIFO, a socket), Io (ENAMETOOLONG) when the name is longer than
  // the file system allows, Io / NoSpace otherwise. Nothing is left behind on failure.
  // `use_tmpfile` false skips O_TMPFILE (tests of the fallback).
  [[nodiscard]] static TargetFile create(const std::string& path, IoMode mode, std::uint64_t size,
                                         bool use_tmpfile = true);
  TargetFile(TargetFile&& other) noexcept;
  TargetFile& operator=(TargetFile&& other) noexcept;
  TargetFile(const TargetFile&) = delete;
  TargetFile& operator=(const TargetFile&) = delete;
  ~TargetFile();  // discard() unless committed

  [[nodiscard]] File& file() noexcept { return file_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  // True when the data lives in an O_TMPFILE (no name until commit).
  [[nodiscard]] bool anonymous() const noexcept { return anonymous_; }
  [[nodiscard]] bool committed() const noexcept { return committed_; }
  // The hidden temporary name ("dir/.name.stsw-..."), by which other processes can open
  // the file before commit (multi-rank checkpoints); empty while the data has no name
  // (O_TMPFILE: create it with use_tmpfile false to get one) and after commit/discard.
  [[nodiscard]] std::string temp_path() const {
    return temp_name_.empty() || committed_ ? std::string() : dir_ + "/" + temp_name_;
  }

  // Sets the file size (ftruncate). Throws Error naming the path.
  void truncate(std::uint64_t size);

  // Makes the file visible at `path`, atomically replacing what was there: publish(), then
  // sync_directory() when `durable`. The caller must have synced the data. Throws Error
  // naming the path; once the rename succeeded committed() is true even if the directory
  // fsync failed.
  void commit(bool durable);
  // The two halves of commit(). publish(): link the O_TMPFILE to a hidden name (or use the
  // hidden file) and rename it over `path`; a no-op once committed. Refuses
  // (InvalidArgument) when something other than a regular file or a symlink appeared at
  // `path` since create(). The replaced file is held open across the rename and closed on a
  // background thread, so freeing its blocks does not delay the caller. sync_directory():
  // fsync of the directory (Io naming it). Both block in the file system.
  void publish();
  void sync_directory();

  // Closes the file and removes any temporary name. Never throws; idempotent.
  void discard() noexcept;

 private:
  void check_destination() const;   // the rule of create(), throws InvalidArgument
  void create_hidden(IoMode mode);  // the fallback: a fresh hidden name, locked
  std::string path_;
  std::string dir_;
  std::string base_;
  std::string temp_name_;  // hidden name inside dir_, empty when none exists
  File file_;
  int dir_fd_ = -1;
  std::size_t name_max_ = 255;
  bool anonymous_ = false;
  bool committed_ = false;
};

// "dir" and "name" of a path ("." when there is no slash).
void split_path(const std::string& path, std::string& dir, std::string& base);

// Closes `fd` on a background thread (used to free a replaced file's blocks off the
// caller's path). fd < 0 is ignored.
void close_in_background(int fd) noexcept;

}  // namespace stsw::writer
