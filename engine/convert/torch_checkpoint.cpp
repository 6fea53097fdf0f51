#include "convert/torch_checkpoint.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "convert/torch_pickle.hpp"
#include "stsw/error.hpp"
#include "stsw/tensor_meta.hpp"

namespace stsw::cvt {

namespace {

const ZipEntry* find_pickle(const ZipArchive& zip) {
  const ZipEntry* found = nullptr;
  for (const auto& e : zip.entries()) {
    const auto slash = e.name.find('/');
    if (slash == std::string::npos || e.name.substr(slash + 1) != "data.pkl") continue;
    if (found != nullptr) {
      throw Error(Errc::InvalidArgument, zip.file().path() + ": two pickles ('" + found->name +
                                             "' and '" + e.name + "'): not a torch.save file");
    }
    found = &e;
  }
  return found;
}

std::string kind_name(const PickleVm& vm, ObjectId id) {
  const Object& o = vm.at(id);
  return o.kind == Kind::Global ? "global " + o.s : std::string(to_string(o.kind));
}

// Descends `path` from `root` through dicts with string keys: at each level the longest
// prefix of the remaining path (up to a '.') that is a key wins.
ObjectId select(const PickleVm& vm, ObjectId root, std::string_view path, const std::string& src) {
  ObjectId cur = root;
  std::string_view rest = path;
  std::string walked;
  while (!rest.empty()) {
    const Object& d = vm.at(cur);
    if (d.kind != Kind::Dict) {
      throw Error(Errc::UnknownTensor, src + ": --key '" + std::string(path) + "': '" + walked +
                                           "' is a " + kind_name(vm, cur) + ", not a dict");
    }
    bool found = false;
    for (std::size_t len = rest.size(); len > 0 && !found; --len) {
      if (len != rest.size() && rest[len] != '.') continue;
      const std::string_view part = rest.substr(0, len);
      // Later duplicates win, as in Python.
      for (auto it = d.entries.rbegin(); it != d.entries.rend(); ++it) {
        const Object& k = vm.at(it->first);
        if (k.kind == Kind::Str && k.s == part) {
          cur = it->second;
          walked += (walked.empty() ? "" : ".") + std::string(part);
          rest = len == rest.size() ? std::string_view{} : rest.substr(len + 1);
          found = true;
          break;
        }
      }
    }
    if (!found) {
      std::string keys;
      std::size_t shown = 0;
      for (const auto& [k, v] : d.entries) {
        if (vm.at(k).kind != Kind::Str || shown++ >= 10) continue;
        keys += (keys.empty() ? "'" : ", '") + vm.at(k).s + "'";
      }
      throw Error(Errc::UnknownTensor, src + ": --key '" + std::string(path) + "': no key '" +
                                           std::string(rest) + "'" +
                                           (walked.empty() ? "" : " under '" + walked + "'") +
                                           " (keys: " + (keys.empty() ? "none" : keys) + ")");
    }
  }
  return cur;
}

}  // namespace

bool is_torch_zip(const ZipArchive& zip) noexcept {
  try {
    return find_pickle(zip) != nullptr;
  } catch (...) {
    return true;  // two pickles: still torch-like; read_torch_checkpoint reports it
  }
}

bool looks_like_legacy_torch(std::span<const std::byte> prefix) noexcept {
  if (!prefix.empty() && std::to_integer<unsigned>(prefix[0]) == 0x80) return true;
  // tar (torch < 0.4 with a tarfile): "ustar" at offset 257.
  return prefix.size() >= 262 && std::memcmp(prefix.data() + 257, "ustar", 5) == 0;
}

TorchCheckpoint read_torch_checkpoint(const ZipArchive& zip, std::string_view key_path) {
  const std::string& path = zip.file().path();
  const ZipEntry* pkl = find_pickle(zip);
  if (pkl == nullptr) {
    throw Error(Errc::InvalidArgument,
                path + ": zip archive has no '<folder>/data.pkl': not a torch.save checkpoint");
  }
  TorchCheckpoint ck;
  ck.prefix = pkl->name.substr(0, pkl->name.find('/'));
  if (const ZipEntry* bo = zip.find(ck.prefix + "/byteorder")) {
    const std::string order = zip.read_all(*bo, 16);
    if (order == "big") {
      ck.big_endian = true;
    } else if (order != "little") {
      throw Error(Errc::InvalidArgument,
                  zip.describe(*bo) + ": unknown byte order '" + order + "'");
    }
  }
  const std::string data = zip.read_all(*pkl, kMaxPickleSize);
  TorchPolicy policy;
  PickleVm vm(data, zip.describe(*pkl), policy);
  const ObjectId root = vm.run();
  const ObjectId sel = select(vm, root, key_path, path);
  const Object& dict = vm.at(sel);
  if (dict.kind != Kind::Dict) {
    throw Error(Errc::InvalidArgument,
                path + ": the checkpoint" +
                    (key_path.empty() ? "" : " under '" + std::string(key_path) + "'") + " is a " +
                    kind_name(vm, sel) + ", not a dict of tensors");
  }
  // Later duplicates win, as in Python; keep the first position of each name.
  std::vector<std::pair<std::string, ObjectId>> items;
  std::vector<std::string> nested;
  std::unordered_map<std::string, std::size_t> position;
  for (const auto& [k, v] : dict.entries) {
    const Object& key = vm.at(k);
    if (key.kind != Kind::Str) {
      ck.warnings.push_back("skipped an entry with a non-string key (" + vm.describe(k) + ")");
      continue;
    }
    auto [it, inserted] = position.emplace(key.s, items.size());
    if (inserted) {
      items.emplace_back(key.s, v);
    } else {
      items[it->second].second = v;
    }
  }
  for (const auto& [name, v] : items) {
    const Object& val = vm.at(v);
    if (val.kind != Kind::Tensor) {
      if (val.kind == Kind::Dict) nested.push_back("'" + name + "'");
      ck.warnings.push_back("skipped '" + name + "': a " + kind_name(vm, v) + ", not a tensor");
      continue;
    }
    const TorchTensorView& tv = policy.tensors()[val.tag];
    const TorchStorage& st = policy.storages()[tv.storage];
    if (!st.dtype) {
      throw Error(Errc::Unsupported, path + ": tensor '" + name + "' has storage type " +
                                         st.type_name + ", which safetensors cannot hold");
    }
    const ZipEntry* entry = zip.find(ck.prefix + "/data/" + st.key);
    if (entry == nullptr) {
      throw Error(Errc::InvalidArgument, path + ": tensor '" + name + "' uses storage '" + st.key +
                                             "' but the archive has no entry '" + ck.prefix +
                                             "/data/" + st.key + "'");
    }
    TorchTensor t;
    t.name = name;
    t.dtype = *st.dtype;
    t.shape = tv.shape;
    t.storage = entry;
    t.view = StridedView{tv.offset, tv.shape, tv.stride, bit_size(t.dtype) / 8};
    if (!byte_size(t.dtype, t.shape)) {
      throw Error(Errc::InvalidArgument,
                  path + ": tensor '" + name + "' has a shape whose size overflows 64 bits");
    }
    std::uint64_t needed = 0;
    try {
      needed = view_extent(t.view).second;
    } catch (const Error&) {
      throw Error(Errc::InvalidArgument,
                  path + ": tensor '" + name + "': offsets overflow 64 bits");
    }
    std::uint64_t declared = 0;
    if (__builtin_mul_overflow(st.numel, std::uint64_t{t.view.element_size}, &declared) ||
        needed > declared || needed > entry->uncompressed_size) {
      throw Error(Errc::InvalidArgument, path + ": tensor '" + name + "' needs bytes [0, " +
                                             std::to_string(needed) + ") of storage '" + st.key +
                                             "', which holds " +
                                             std::to_string(entry->uncompressed_size) + " bytes (" +
                                             std::to_string(st.numel) + " elements declared)");
    }
    ck.tensors.push_back(std::move(t));
  }
  if (ck.tensors.empty()) {
    std::string hint;
    if (!nested.empty()) {
      hint = "; nested dicts: ";
      for (std::size_t i = 0; i < nested.size() && i < 10; ++i) hint += (i ? ", " : "") + nested[i];
      hint += " (pick one with --key)";
    }
    throw Error(Errc::InvalidArgument,
                path + ": no tensors found" +
                    (key_path.empty() ? "" : " under '" + std::string(key_path) + "'") + hint);
  }
  return ck;
}

}  // namespace stsw::cvt
