#include "writer/shard_set_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "core/logging.hpp"
#include "reader/shard_index.hpp"
#include "stsw/error.hpp"
#include "writer/shard_plan.hpp"

namespace stsw::writer {

namespace {

// What is at dir_fd/name, without following a symlink: 0 when nothing.
mode_t entry_type(int dir_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  return st.st_mode & S_IFMT;
}

// Only files and symlinks are ever removed (a directory in the way stays).
bool removable(int dir_fd, const std::string& name) {
  const mode_t t = entry_type(dir_fd, name);
  return t == S_IFREG || t == S_IFLNK;
}

// Names in `dir` that are shard names of `stem` (any count, any generation).
std::vector<std::string> list_shard_names(const std::string& dir, const std::string& stem) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw errno_error(errno, "list directory " + dir);
  std::vector<std::string> out;
  while (const dirent* e = ::readdir(d)) {
    if (is_shard_file_name(stem, e->d_name)) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The shard names the index at `path` names; false when an index exists there but cannot
// be read or parsed (its set is then unknown), true with no names when there is none.
bool read_previous_index(const std::string& path, std::vector<std::string>& names) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return true;
  try {
    const detail::ShardIndex index = detail::parse_index(detail::read_index_file(path), path);
    for (const std::string& n : index.shard_names) {
      if (ends_with(n, ".safetensors")) names.push_back(n);  // plain names: parse_index
    }
    return true;
  } catch (const Error& e) {
    detail::logger().warn(
        "sharded-set writer: the previous index cannot be read ({}): "
        "existing shard names are kept",
        e.what());
    return false;
  }
}

void fsync_dir(int dir_fd, const std::string& dir) {
  if (::fsync(dir_fd) != 0) throw errno_error(errno, "fsync directory " + dir);
}

// Fills `t` with `text`, syncs it and links it into place (the index).
void write_small_file(TargetFile& t, const std::string& text, bool durable) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        ::pwrite(t.file().fd(), text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw errno_error(errno, "write " + t.path() + " at offset " + std::to_string(done));
    done += static_cast<std::size_t>(n);
  }
  if (durable && ::fdatasync(t.file().fd()) != 0) throw errno_error(errno, "fdatasync " + t.path());
  t.commit(durable);
}

class DirFd {
 public:
  explicit DirFd(const std::string& dir)
      : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  DirFd(const DirFd&) = delete;
  DirFd& operator=(const DirFd&) = delete;
  ~DirFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

}  // namespace

ShardSetWriter::ShardSetWriter(const std::string& path, std::size_t shards, bool durable,
                               const std::vector<std::string>& inputs)
    : path_(path), durable_(durable) {
  split_path(path, dir_, base_);
  stem_ = shard_stem(base_);
  const std::string index_path = dir_ + "/" + index_file_name(stem_);
  const bool known = read_previous_index(index_path, previous_names_);
  if (shards <= 1) {
    if (std::find(previous_names_.begin(), previous_names_.end(), base_) != previous_names_.end()) {
      throw Error(Errc::InvalidArgument,
                  path + ": the index " + index_path +
                      " names this file as one of its shards; writing it would change that "
                      "set in place (write a sharded set, or to another name)");
    }
    names_ = {base_};
    files_ = {path};
    return;
  }
  // Names the new shards must not take: the previous set's (and, when its index cannot be
  // read, every existing shard name of the stem).
  std::set<std::string> taken(previous_names_.begin(), previous_names_.end());
  if (!known) {
    for (std::string& n : list_shard_names(dir_, stem_)) taken.insert(std::move(n));
  }
  if (!inputs.empty()) {
    std::set<std::pair<dev_t, ino_t>> input_files;
    for (const std::string& in : inputs) {
      struct stat st {};
      if (::stat(in.c_str(), &st) == 0) input_files.emplace(st.st_dev, st.st_ino);
    }
    for (const std::string& n : list_shard_names(dir_, stem_)) {
      struct stat st {};
      if (::stat((dir_ + "/" + n).c_str(), &st) == 0 &&
          input_files.count({st.st_dev, st.st_ino}) != 0) {
        taken.insert(n);
        inputs_.insert(n);
      }
    }
  }
  for (unsigned generation = 0;; ++generation) {
    names_.clear();
    bool free = true;
    for (std::size_t s = 0; s < shards && free; ++s) {
      names_.push_back(shard_file_name(stem_, s, shards, generation));
      free = taken.count(names_.back()) == 0;
    }
    if (free) break;
  }
  for (const std::string& n : names_) files_.push_back(dir_ + "/" + n);
  // Before any data: a destination that cannot take the index fails now.
  index_ = TargetFile::create(index_path, IoMode::Buffered, 0);
}

ShardSetWriter::~ShardSetWriter() {
  if (!published_) abandon();
}

void ShardSetWriter::write(unsigned parallel, const std::function<void(std::size_t)>& write_shard) {
  const std::size_t n = files_.size();
  parallel = static_cast<unsigned>(std::clamp<std::size_t>(parallel, 1, n));
  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(error_mu);
        if (error) return;
      }
      const std::size_t s = next.fetch_add(1);
      if (s >= n) return;
      try {
        write_shard(s);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < parallel; ++i) {
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // fewer threads: the caller's thread still writes every shard
    }
  }
  worker();
  for (auto& t : threads) t.join();
  if (error) {
    abandon();
    std::rethrow_exception(error);
  }
}

std::optional<std::string> ShardSetWriter::publish(
    const std::vector<std::pair<std::string, std::size_t>>& weight_map, std::uint64_t total_size) {
  std::optional<std::string> index;
  if (names_.size() > 1) {
    std::vector<std::pair<std::string, std::string>> map;
    map.reserve(weight_map.size());
    for (const auto& [tensor, s] : weight_map) map.emplace_back(tensor, names_.at(s));
    try {
      write_small_file(index_, index_json(total_size, std::move(map)), durable_);
    } catch (...) {
      // Renamed but the directory fsync failed: the new index names the new shards, and
      // the previous index may come back after a crash: keep both sets.
      if (index_.committed()) published_ = true;
      throw;
    }
    index = index_.path();
  }
  published_ = true;
  remove_previous();
  return index;
}

void ShardSetWriter::abandon() noexcept {
  if (names_.size() <= 1) return;  // one file: StreamWriter left `path` as it was
  index_.discard();
  const DirFd dir(dir_);
  if (dir.get() < 0) return;
  // The new names are not the previous set's: whatever is there is this call's (or an
  // earlier failed call's) and no index names it.
  for (const std::string& n : names_) {
    if (removable(dir.get(), n)) ::unlinkat(dir.get(), n.c_str(), 0);
  }
}

void ShardSetWriter::remove_previous() noexcept {
  const DirFd dir(dir_);
  const auto warn = [&](const std::string& what) {
    detail::logger().warn("sharded-set writer: {}: {} (the new checkpoint is in place)", path_,
                          what);
  };
  if (dir.get() < 0) return warn("cannot open directory " + dir_ + ": " + std::strerror(errno));
  try {
    const std::string index_name = index_file_name(stem_);
    std::set<std::string> keep(names_.begin(), names_.end());
    keep.insert(index_name);
    if (names_.size() == 1 && removable(dir.get(), index_name)) {
      // One file replaces a set: the index goes first (durably), so that it never names a
      // missing shard; a crash in between leaves the previous set complete beside the file.
      if (::unlinkat(dir.get(), index_name.c_str(), 0) != 0 && errno != ENOENT) {
        return warn("cannot remove the previous index: " + std::string(std::strerror(errno)));
      }
      if (durable_) fsync_dir(dir.get(), dir_);
    }
    std::set<std::string> remove(previous_names_.begin(), previous_names_.end());
    for (std::string& n : list_shard_names(dir_, stem_)) remove.insert(std::move(n));
    // A set replaces one file: the file at `path` was the previous checkpoint (and loaders
    // that find both would take it over the index).
    if (names_.size() > 1) remove.insert(base_);
    bool removed = false;
    for (const std::string& n : remove) {
      if (keep.count(n) != 0 || !removable(dir.get(), n)) continue;
      // An input that only looks like a shard of the stem (no index named it) stays.
      if (inputs_.count(n) != 0 &&
          std::find(previous_names_.begin(), previous_names_.end(), n) == previous_names_.end()) {
        continue;
      }
      if (::unlinkat(dir.get(), n.c_str(), 0) == 0) {
        removed = true;
      } else if (errno != ENOENT) {
        warn("cannot remove " + n + " of the previous checkpoint: " + std::strerror(errno));
      }
    }
    if (removed && durable_) fsync_dir(dir.get(), dir_);
  } catch (const std::exception& e) {
    warn(e.what());
  }
}

}  // namespace stsw::writer
