// The hidden temporary names of writers and the removal of abandoned ones (the rules are in
// include/stsw/temp_files.hpp): name pattern, the live writer's flock, and the check that
// lets a cleaner remove a hidden file only when no live writer holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stsw::writer {

// Name length limit of the file system holding directory `dir_fd` (255 when unknown).
[[nodiscard]] std::size_t name_max_of(int dir_fd) noexcept;

// ".<stem>.stsw-": the start of every hidden name for destination `base`. <stem> is `base`,
// or, when ".<base>.stsw-" plus 12 hex digits would exceed `name_max`, the first bytes of
// `base` (cut at a UTF-8 character boundary) plus "~" and 8 hex digits of a hash of `base`,
// so that the hidden name fits whenever `base` fits.
[[nodiscard]] std::string hidden_temp_prefix(const std::string& base, std::size_t name_max = 255);

// A fresh hidden name: hidden_temp_prefix() plus 12 random lowercase hex digits.
[[nodiscard]] std::string hidden_temp_name(const std::string& base, std::size_t name_max = 255);

// True when `name` has the pattern of a hidden name: `prefix` (or, when empty, any
// ".<something>.stsw-") followed by 12 lowercase hex digits.
[[nodiscard]] bool is_hidden_temp_name(std::string_view name, std::string_view prefix = {});

// Takes the live writer's exclusive flock on `fd` (never blocks). Returns 0 when held, else
// the errno: EWOULDBLOCK when another open file holds it.
[[nodiscard]] int lock_temp_file(int fd) noexcept;

enum class Leftover {
  Skipped,  // not a regular file, or gone: not ours to judge
  InUse,    // a live writer holds it
  Kept,     // abandoned, left in place (remove == false, or the removal failed)
  Removed,  // abandoned and removed
};

// Judges the hidden file `name` in `dir_fd`: opens it without following symlinks, takes its
// lock, and, when that succeeds and `name` still refers to the locked file, removes it when
// `remove`. `size` receives its size when known.
Leftover judge_leftover(int dir_fd, const std::string& name, bool remove,
                        std::uint64_t* size = nullptr) noexcept;

// Removes the abandoned hidden files starting with `prefix` in `dir_fd`. Best effort.
void remove_abandoned(int dir_fd, const std::string& prefix) noexcept;

}  // namespace stsw::writer
