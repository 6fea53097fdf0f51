// Sequential reading of one zip entry's uncompressed bytes, stored or deflated (ISA-L
// igzip), through a bounded input buffer. The CRC-32 and size recorded in the central
// directory are checked by finish().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "convert/zip_reader.hpp"

namespace stsw::cvt {

class EntryStream {
 public:
  // `archive` must outlive the stream. Throws Error(Unsupported) for compression
  // methods other than stored (0) and deflate (8).
  EntryStream(const ZipArchive& archive, const ZipEntry& entry);
  ~EntryStream();
  EntryStream(const EntryStream&) = delete;
  EntryStream& operator=(const EntryStream&) = delete;

  // Fills up to dst.size() bytes; returns how many (0 only at the end of the entry).
  // Corrupt deflate data or output longer than the recorded size is an Error.
  [[nodiscard]] std::size_t read(std::span<std::byte> dst);
  // Fills all of dst or throws (the entry ended early: InvalidArgument, "truncated").
  void read_exact(std::span<std::byte> dst);
  // Reads whatever is left, then checks the total size and CRC-32 against the central
  // directory (Error InvalidArgument on a mismatch).
  void finish();

  [[nodiscard]] std::uint64_t position() const noexcept { return produced_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return entry_.uncompressed_size; }
  [[nodiscard]] std::string describe() const { return archive_.describe(entry_); }

 private:
  std::size_t inflate_some(std::span<std::byte> dst);

  const ZipArchive& archive_;
  const ZipEntry& entry_;
  std::uint64_t consumed_ = 0;  // compressed bytes taken from the file
  std::uint64_t produced_ = 0;  // uncompressed bytes returned
  std::uint32_t crc_ = 0;
  bool ended_ = false;
  std::vector<std::byte> in_;
  struct Inflate;
  std::unique_ptr<Inflate> inflate_;
};

}  // namespace stsw::cvt
