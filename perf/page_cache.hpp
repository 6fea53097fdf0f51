// Page-cache control for cold and warm reads, with a residency check (mincore) so a
// figure is only labelled "cold" when the file really was out of the cache.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stsw::bench {

enum class CacheDrop {
  Auto,    // Global when /proc/sys/vm/drop_caches is writable (root), else File
  Global,  // sync + "echo 3 > /proc/sys/vm/drop_caches"
  File,    // fdatasync + posix_fadvise(DONTNEED) on the one file (no root needed)
  None,    // leave the cache alone: every "cold" figure is then warm
};

[[nodiscard]] std::optional<CacheDrop> parse_cache_drop(std::string_view s) noexcept;
[[nodiscard]] std::string_view to_string(CacheDrop d) noexcept;

struct DropResult {
  std::string method;    // "drop_caches", "fadvise" or "none"
  double resident = -1;  // fraction of the file's pages cached after the drop (-1: unknown)
  bool cold = false;     // resident <= 1%
  std::string note;      // why a drop failed, when it did
};

// Evicts `path` from the page cache with `mode` (falling back from Global to File when
// drop_caches is not writable, with a note) and measures what is left resident.
[[nodiscard]] DropResult drop_cache(const std::string& path, CacheDrop mode);

// Reads the whole file through the page cache so it is resident (for warm reads);
// returns the resident fraction afterwards.
double warm_cache(const std::string& path);

// Fraction of the file's pages in the page cache (mmap + mincore); -1 when unknown.
[[nodiscard]] double resident_fraction(const std::string& path);

}  // namespace stsw::bench
