#include "checkpoint_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "report.hpp"
#include "stsw/error.hpp"

namespace stsw::cli {

std::uint64_t alignment_of(std::uint64_t offset) noexcept {
  std::uint64_t a = 1;
  while (a < 4096 && offset % (a * 2) == 0) a *= 2;
  return a;
}

boost::json::object tensor_json(const TensorMeta& t) {
  boost::json::object o;
  o["name"] = utf8_safe(t.name);
  o["dtype"] = std::string(to_string(t.dtype));
  boost::json::array shape;
  for (auto d : t.shape) shape.emplace_back(d);
  o["shape"] = std::move(shape);
  o["data_offsets"] = boost::json::array{t.offset_begin, t.offset_end};
  o["nbytes"] = t.nbytes();
  if (t.crc32) {
    o["crc32"] = *t.crc32;
  } else {
    o["crc32"] = nullptr;
  }
  return o;
}

boost::json::object file_json(const FileHeader& f, bool with_tensors) {
  const Header& h = f.header;
  boost::json::object o;
  o["path"] = utf8_safe(f.path);
  o["file_size"] = f.file_size;
  o["header_size"] = h.header_size;
  o["data_offset"] = h.data_offset();
  o["data_alignment"] = alignment_of(h.data_offset());
  o["strict_valid"] = f.strict_valid;
  if (!f.strict_valid) o["strict_error"] = utf8_safe(f.strict_error);
  o["incomplete"] = h.incomplete;
  if (h.version) {
    o["stsw_version"] = utf8_safe(*h.version);  // "__version__" of a Python stsw file
  } else {
    o["stsw_version"] = nullptr;
  }
  if (h.metadata) {
    boost::json::object md;
    for (const auto& [k, v] : *h.metadata) md[utf8_safe(k)] = utf8_safe(v);
    o["metadata"] = std::move(md);
  } else {
    o["metadata"] = nullptr;
  }
  o["tensor_count"] = h.tensors.size();
  o["total_bytes"] = h.total_tensor_bytes();
  if (with_tensors) {
    boost::json::array tensors;
    tensors.reserve(h.tensors.size());
    for (const auto& t : h.tensors) tensors.emplace_back(tensor_json(t));
    o["tensors"] = std::move(tensors);
  }
  return o;
}

boost::json::object checkpoint_json(const Checkpoint& cp) {
  if (!cp.sharded) return file_json(cp.shards.front(), true);
  boost::json::object o;
  o["path"] = utf8_safe(cp.path);
  o["sharded"] = true;
  o["strict_valid"] = cp.strict_valid();
  o["metadata"] = cp.index_metadata;
  o["tensor_count"] = cp.tensor_count();
  o["total_bytes"] = cp.tensor_bytes();
  boost::json::array shards;
  boost::json::array tensors;
  for (const auto& s : cp.shards) {
    shards.emplace_back(file_json(s, false));
    const auto slash = s.path.rfind('/');
    const std::string shard_name =
        utf8_safe(slash == std::string::npos ? s.path : s.path.substr(slash + 1));
    for (const auto& t : s.header.tensors) {
      auto tj = tensor_json(t);
      tj["shard"] = shard_name;
      tensors.emplace_back(std::move(tj));
    }
  }
  o["shards"] = std::move(shards);
  o["tensors"] = std::move(tensors);
  return o;
}

boost::json::object error_json(const std::string& path, const std::exception& e) {
  const auto* err = dynamic_cast<const Error*>(&e);
  boost::json::object o;
  o["path"] = utf8_safe(path);
  o["error"] = boost::json::object{{"kind", error_kind(e)},
                                   {"message", utf8_safe(err ? err->message() : e.what())}};
  return o;
}

}  // namespace stsw::cli
