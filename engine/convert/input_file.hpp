// A read-only file read with pread(2), and a byte range inside one: the random-access
// sources every converter input (zip entries, .npy data, storages) is read through.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace stsw::cvt {

// An open file descriptor, read with pread. Move-only; closes on destruction. Reads are
// thread-safe (pread has no shared file position).
class InputFile {
 public:
  InputFile() = default;
  // Opens `path` read-only. Throws Error (Io, naming the path) on failure.
  [[nodiscard]] static InputFile open(const std::string& path);
  // An anonymous temporary file (O_TMPFILE, falling back to mkstemp + unlink) in `dir`,
  // opened read-write; it disappears when closed. Used to hold inflated entries.
  [[nodiscard]] static InputFile temporary(const std::string& dir);

  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&& other) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  // Reads exactly dst.size() bytes at `offset`; a read past the end of the file is an
  // Error (InvalidArgument, "truncated") naming `what`. Retries short reads and EINTR.
  void read_exact(std::uint64_t offset, std::span<std::byte> dst, std::string_view what) const;
  // Appends `src` at the end (temporary files only) and grows size().
  void append(std::span<const std::byte> src);

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string path_;
};

// [offset, offset + size) of a file: a stored zip entry, a .npy data block, a storage.
// Does not own the file, which must outlive it.
struct ByteRange {
  const InputFile* file = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::string name;  // for error messages ("model.pt:archive/data/0")

  // Reads dst.size() bytes at `pos` relative to the range; out-of-range is an Error.
  void read(std::uint64_t pos, std::span<std::byte> dst) const;
};

}  // namespace stsw::cvt
