#include "reader/shard_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include <boost/json.hpp>

#include "stsw/blocking_io.hpp"
#include "stsw/error.hpp"

namespace stsw {

namespace json = boost::json;

namespace {

[[noreturn]] void invalid(const std::string& source, const std::string& what) {
  throw Error(Errc::InvalidIndex, source + ": " + what);
}

}  // namespace

void check_shard_name(std::string_view name, std::string_view tensor, const std::string& source) {
  const bool bad = name.empty() || name == "." || name == ".." ||
                   name.find('/') != std::string_view::npos ||
                   name.find('\0') != std::string_view::npos;
  if (bad) {
    invalid(source, "tensor '" + std::string(tensor) + "' names shard '" + std::string(name) +
                        "', which is not a plain file name in the index's directory");
  }
}

ShardIndex parse_index(std::string_view text, const std::string& source) {
  json::parse_options opts;
  opts.max_depth = 64;
  std::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec, {}, opts);
  if (ec) invalid(source, "not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) invalid(source, "the index is not a JSON object");
  const json::object& obj = root.get_object();
  const json::value* wm = obj.if_contains("weight_map");
  if (wm == nullptr) invalid(source, "no \"weight_map\"");
  if (!wm->is_object()) invalid(source, "\"weight_map\" is not an object");
  if (wm->get_object().empty()) invalid(source, "\"weight_map\" names no tensor");

  ShardIndex index;
  std::set<std::string> names;
  for (const auto& kv : wm->get_object()) {
    const std::string tensor(kv.key());
    if (!kv.value().is_string()) {
      invalid(source, "the shard of tensor '" + tensor + "' is not a string");
    }
    const std::string shard(kv.value().get_string());
    check_shard_name(shard, tensor, source);
    names.insert(shard);
    index.weight_map[tensor] = shard;
  }
  index.shard_names.assign(names.begin(), names.end());

  const json::value* md = obj.if_contains("metadata");
  if (md != nullptr && !md->is_null() && !md->is_object()) {
    invalid(source, "\"metadata\" is not an object");
  }
  if (md != nullptr && md->is_object()) {
    index.metadata_json = json::serialize(*md);
    for (const auto& kv : md->get_object()) {
      index.metadata[std::string(kv.key())] = kv.value().is_string()
                                                  ? std::string(kv.value().get_string())
                                                  : json::serialize(kv.value());
    }
  }
  return index;
}

std::string read_index_file(const std::string& path) {
  // O_NONBLOCK: a FIFO must not block open(); only regular files are read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw errno_error(errno, "open " + path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw errno_error(errno, "fstat " + path);
  if (S_ISDIR(st.st_mode)) throw errno_error(EISDIR, "open " + path);
  if (!S_ISREG(st.st_mode)) throw Error(Errc::InvalidArgument, path + ": not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxHeaderSize) {
    invalid(path, "the index is " + std::to_string(st.st_size) + " bytes, more than " +
                      std::to_string(kMaxHeaderSize));
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  // Shrank meanwhile: parse what is there.
  text.resize(pread_full(fd, std::as_writable_bytes(std::span(text)), 0, path));
  return text;
}

std::string shard_path(const ShardIndex& index, const std::string& name,
                       const std::string& source) {
  const std::string full = (std::filesystem::path(source).parent_path() / name).string();
  struct stat st {};
  if (::stat(full.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
    std::string tensor;
    for (const auto& [t, s] : index.weight_map) {
      if (s == name) {
        tensor = t;
        break;
      }
    }
    invalid(source, "shard '" + name + "' (holding tensor '" + tensor + "') does not exist");
  }
  return full;
}

void check_shards_match_index(const ShardIndex& index, const std::vector<const Header*>& headers,
                              const std::string& source) {
  std::map<std::string_view, std::size_t> shard_of;  // tensor -> index into shard_names
  for (std::size_t si = 0; si < headers.size(); ++si) {
    for (const TensorMeta& t : headers[si]->tensors) {
      const auto [it, fresh] = shard_of.emplace(t.name, si);
      if (!fresh) {
        invalid(source, "tensor '" + t.name + "' is in two shards, '" +
                            index.shard_names[it->second] + "' and '" + index.shard_names[si] +
                            "'");
      }
    }
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    const auto it = shard_of.find(tensor);
    if (it == shard_of.end()) {
      invalid(source, "tensor '" + tensor + "' is missing from shard '" + shard + "'");
    }
    if (index.shard_names[it->second] != shard) {
      invalid(source, "tensor '" + tensor + "' is in shard '" + index.shard_names[it->second] +
                          "', not in '" + shard + "' as the weight_map says");
    }
  }
  for (std::size_t si = 0; si < headers.size(); ++si) {
    for (const TensorMeta& t : headers[si]->tensors) {
      if (index.weight_map.count(t.name) == 0) {
        invalid(source, "shard '" + index.shard_names[si] + "' holds tensor '" + t.name +
                            "', which the weight_map does not list");
      }
    }
  }
}

}  // namespace stsw
