// A read-only zip archive reader for the two containers converters meet: PyTorch
// checkpoints (torch.save since 1.6: stored entries, ZIP64 past 4 GiB) and NumPy .npz
// files (stored or deflated). Reads only the central directory into memory; entry data
// is read in place with pread.
//
// Every size and offset is checked against the file before it is used: an entry whose
// data would lie outside the file, overlap the central directory, or whose local header
// disagrees with the central directory is refused with an Error naming the entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "convert/input_file.hpp"

namespace stsw::cvt {

struct ZipEntry {
  std::string name;
  std::uint16_t method = 0;  // 0 stored, 8 deflated (others refused when read)
  std::uint16_t flags = 0;
  std::uint32_t crc32 = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;
  std::uint64_t data_offset = 0;  // resolved from the local header at open
};

class ZipArchive {
 public:
  // Parses the end-of-central-directory record (and its ZIP64 form), the central
  // directory and every local header. `file` must outlive the archive.
  // Throws Error(InvalidArgument) for a corrupt or truncated archive and
  // Error(Unsupported) for multi-disk or encrypted archives.
  [[nodiscard]] static ZipArchive open(const InputFile& file);

  [[nodiscard]] const std::vector<ZipEntry>& entries() const noexcept { return entries_; }
  [[nodiscard]] const ZipEntry* find(std::string_view name) const noexcept;
  [[nodiscard]] const InputFile& file() const noexcept { return *file_; }

  // The raw (possibly compressed) bytes of a stored entry, as a range of the file.
  // Throws Error(Unsupported) if the entry is compressed.
  [[nodiscard]] ByteRange stored_range(const ZipEntry& entry) const;
  // The whole uncompressed content of a (small) entry in memory, stored or deflated,
  // refusing entries larger than `max_size` (Error InvalidArgument).
  [[nodiscard]] std::string read_all(const ZipEntry& entry, std::uint64_t max_size) const;

  // "model.pt:archive/data/0": how errors name an entry.
  [[nodiscard]] std::string describe(const ZipEntry& entry) const;

 private:
  const InputFile* file_ = nullptr;
  std::vector<ZipEntry> entries_;
};

// True when the file starts with a zip local header or an empty archive's EOCD.
[[nodiscard]] bool looks_like_zip(std::span<const std::byte> prefix) noexcept;

}  // namespace stsw::cvt
