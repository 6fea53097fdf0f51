#include "checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cerrno>

#include "report.hpp"
#include "stsw/blocking_io.hpp"
#include "stsw/error.hpp"
#include "stsw/shard_index.hpp"

namespace stsw::cli {
namespace {

class Fd {
 public:
  explicit Fd(const std::string& path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) throw errno_error(errno, "open " + path);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw errno_error(errno, "stat " + path);
    if (S_ISDIR(st.st_mode)) throw errno_error(EISDIR, "open " + path);
    if (!S_ISREG(st.st_mode)) {
      throw Error(Errc::InvalidArgument, path + ": not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  // Reads up to out.size() bytes at `offset`; returns how many there were.
  std::size_t read_at(std::uint64_t offset, char* out, std::size_t len, const std::string& path) {
    return pread_full(fd_, std::as_writable_bytes(std::span(out, len)), offset, path);
  }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace

FileHeader load_file_header(const std::string& path, bool allow_partial) {
  Fd fd(path);
  FileHeader out;
  out.path = path;
  out.file_size = fd.size();
  char prefix[8];
  const std::size_t got = fd.read_at(0, prefix, sizeof prefix, path);
  const std::uint64_t n = parse_header_length(
      std::span(reinterpret_cast<const std::byte*>(prefix), got), out.file_size, path);
  std::string header_bytes(n, '\0');
  if (fd.read_at(8, header_bytes.data(), n, path) != n) {
    throw Error(Errc::InvalidHeaderLength, path + ": file shrank while its header was read");
  }
  const std::uint64_t data_size = out.file_size - 8 - n;
  try {
    out.header = parse_header(header_bytes, data_size, {.strict = true, .source = path});
    out.strict_valid = true;
    return out;
  } catch (const Error& strict) {
    out.strict_error = error_text(strict, path);
    try {
      out.header = parse_header(header_bytes, data_size,
                                {.strict = false, .allow_partial = allow_partial, .source = path});
    } catch (const Error& lenient) {
      // "__incomplete__" is a plain InvalidHeaderDeserialization to the official loader;
      // stsw's own kind says what is really wrong.
      if (lenient.code() == Errc::IncompleteFile) throw;
      throw strict;
    }
  }
  out.strict_valid = false;
  out.header.strict_valid = false;
  return out;
}

bool is_index_path(const std::string& path) { return path.ends_with(".json"); }

bool Checkpoint::strict_valid() const noexcept {
  for (const auto& s : shards) {
    if (!s.strict_valid) return false;
  }
  return true;
}

std::size_t Checkpoint::tensor_count() const noexcept {
  std::size_t n = 0;
  for (const auto& s : shards) n += s.header.tensors.size();
  return n;
}

std::uint64_t Checkpoint::tensor_bytes() const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : shards) n += s.header.total_tensor_bytes();
  return n;
}

Checkpoint load_checkpoint(const std::string& path, bool allow_partial) {
  Checkpoint cp;
  cp.path = path;
  if (!is_index_path(path)) {
    cp.shards.push_back(load_file_header(path, allow_partial));
    return cp;
  }
  cp.sharded = true;
  // The library's index rules (stsw/shard_index.hpp), the same the reader applies.
  const ShardIndex index = parse_index(read_index_file(path), path);
  if (!index.metadata_json.empty()) {
    cp.index_metadata = boost::json::parse(index.metadata_json).as_object();
  }
  std::vector<const Header*> headers;
  cp.shards.reserve(index.shard_names.size());
  for (const std::string& shard : index.shard_names) {
    cp.shards.push_back(load_file_header(shard_path(index, shard, path), allow_partial));
  }
  for (const FileHeader& fh : cp.shards) headers.push_back(&fh.header);
  check_shards_match_index(index, headers, path);
  return cp;
}

}  // namespace stsw::cli
