#include "checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>
#include <cerrno>
#include <map>
#include <set>

#include "report.hpp"
#include "stsw/error.hpp"

namespace stsw::cli {
namespace {

// Index files hold one line per tensor; even the largest checkpoints stay far below this.
constexpr std::uint64_t kMaxIndexSize = 256ull << 20;

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
    std::size_t got = 0;
    while (got < len) {
      const ssize_t n = ::pread(fd_, out + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw errno_error(errno, "read " + path + " at offset " + std::to_string(offset + got));
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

std::string read_index_text(const std::string& path) {
  Fd fd(path);
  if (fd.size() > kMaxIndexSize) {
    throw Error(Errc::InvalidIndex, path + ": index file of " + std::to_string(fd.size()) +
                                        " bytes is larger than the " +
                                        std::to_string(kMaxIndexSize) + " bytes allowed");
  }
  std::string text(fd.size(), '\0');
  text.resize(fd.read_at(0, text.data(), text.size(), path));
  return text;
}

bool valid_shard_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string::npos;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return path.substr(0, slash + 1);
}

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
  const std::string text = read_index_text(path);
  boost::system::error_code ec;
  boost::json::value root = boost::json::parse(text, ec);
  const auto bad = [&](const std::string& why) {
    return Error(Errc::InvalidIndex, path + ": " + why);
  };
  if (ec) throw bad("not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) throw bad("the index is not a JSON object");
  const auto& obj = root.as_object();
  if (const auto* md = obj.if_contains("metadata"); md != nullptr && !md->is_null()) {
    if (!md->is_object()) throw bad("\"metadata\" is not an object");
    cp.index_metadata = md->as_object();
  }
  const auto* wm = obj.if_contains("weight_map");
  if (wm == nullptr || !wm->is_object()) throw bad("no \"weight_map\" object");
  std::map<std::string, std::vector<std::string>> by_shard;  // sorted by shard name
  for (const auto& [key, value] : wm->as_object()) {
    const std::string tensor(key);
    if (!value.is_string()) throw bad("weight_map entry '" + tensor + "' is not a string");
    std::string shard(value.as_string());
    if (!valid_shard_name(shard)) {
      throw bad("weight_map entry '" + tensor + "' names shard '" + shard +
                "', which is not a plain file name");
    }
    by_shard[shard].push_back(tensor);
  }
  const std::string dir = parent_dir(path);
  for (const auto& [shard, tensors] : by_shard) {
    const std::string shard_path = dir + shard;
    if (::access(shard_path.c_str(), F_OK) != 0) {
      throw bad("shard '" + shard + "' (for tensor '" + tensors.front() + "') is missing");
    }
    FileHeader fh = load_file_header(shard_path, allow_partial);
    std::set<std::string_view> present;
    for (const auto& t : fh.header.tensors) present.insert(t.name);
    for (const auto& t : tensors) {
      if (!present.contains(t)) throw bad("tensor '" + t + "' is not in shard '" + shard + "'");
    }
    if (present.size() > tensors.size()) {
      spdlog::warn("{}: shard '{}' holds {} tensors that the weight_map does not list",
                   printable(path), printable(shard), present.size() - tensors.size());
    }
    cp.shards.push_back(std::move(fh));
  }
  return cp;
}

}  // namespace stsw::cli
