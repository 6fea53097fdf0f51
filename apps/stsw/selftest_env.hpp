// The file-system side of `stsw selftest`: a private scratch directory that is removed
// afterwards, facts about the file system it lives on, and the small file operations the
// steps need (copy, flip a byte, drop cached pages). All failures throw stsw::Error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace stsw::cli {

// A fresh directory (mkdtemp) inside `parent`, removed with its contents on destruction
// unless kept. Without a parent: the current directory when it is writable (so the test
// runs on the file system the user works on, not on a tmpfs /tmp), else $TMPDIR, /var/tmp,
// /tmp.
class ScratchDir {
 public:
  ScratchDir(const std::optional<std::string>& parent, bool keep);
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  bool keep_;
};

// "ext4", "xfs", "tmpfs", "btrfs", "overlay", ... or "fs 0x<magic>".
[[nodiscard]] std::string file_system_name(const std::string& path);
// Bytes an unprivileged user may still write below `path`.
[[nodiscard]] std::uint64_t free_bytes(const std::string& path);

// Copies `from` to `to` (created or truncated) with copy_file_range.
void copy_file(const std::string& from, const std::string& to);
// XORs the byte at `offset` with 0x01 and syncs the file.
void flip_byte(const std::string& path, std::uint64_t offset);
// Asks the kernel to drop the file's clean cached pages, so that reads hit the disk.
void drop_cached_pages(const std::string& path);

}  // namespace stsw::cli
