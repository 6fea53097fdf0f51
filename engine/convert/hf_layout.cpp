// Hugging Face repository layouts as convert inputs: a model directory (the checkpoint
// picked as transformers' from_pretrained picks it) and a sharded PyTorch set
// (pytorch_model.bin.index.json naming torch.save shards).
#include <sys/stat.h>

#include <set>
#include <utility>

#include "convert/source.hpp"
#include "reader/shard_index.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace

std::optional<std::string> resolve_model_dir(const std::string& input) {
  struct stat st {};
  if (::stat(input.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  const std::string dir = input.ends_with('/') ? input : input + "/";
  // transformers (modeling_utils.from_pretrained): model.safetensors, then
  // model.safetensors.index.json, then pytorch_model.bin, then pytorch_model.bin.index.json.
  for (const char* name : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                           "pytorch_model.bin.index.json"}) {
    if (is_regular_file(dir + name)) return dir + name;
  }
  throw Error(Errc::InvalidArgument,
              input +
                  ": a directory without model.safetensors, model.safetensors.index.json, "
                  "pytorch_model.bin or pytorch_model.bin.index.json (the files transformers "
                  "loads); name the checkpoint file to convert");
}

bool is_torch_index(const std::string& index_path) {
  if (!index_path.ends_with(".json")) return false;
  try {
    const detail::ShardIndex index =
        detail::parse_index(detail::read_index_file(index_path), index_path);
    const std::string first = dir_of(index_path) + index.shard_names.front();
    if (!is_regular_file(first)) return false;
    return detect_format(first) == ConvertFormat::Torch;
  } catch (const Error&) {
    return false;  // the safetensors reader reports what is wrong with the index
  }
}

SourcePlan open_torch_index(const std::string& index_path, const SourceOptions& options) {
  const detail::ShardIndex index =
      detail::parse_index(detail::read_index_file(index_path), index_path);
  const std::string dir = dir_of(index_path);
  SourcePlan plan;
  plan.format = ConvertFormat::Torch;
  std::set<std::string> seen;
  for (const std::string& shard : index.shard_names) {
    const std::string path = dir + shard;
    if (!is_regular_file(path)) {
      throw Error(Errc::InvalidIndex,
                  index_path + ": shard '" + shard + "' is missing (" + path + ")");
    }
    SourcePlan part = open_torch(path, options);
    std::set<std::string> listed;
    for (const auto& [tensor, file] : index.weight_map) {
      if (file == shard) listed.insert(tensor);
    }
    for (SourceTensor& t : part.tensors) {
      if (!listed.erase(t.name)) {
        plan.warnings.push_back(path + ": tensor '" + t.name +
                                "' is not in the index's weight_map; converted anyway");
      }
      if (!seen.insert(t.name).second) {
        throw Error(Errc::DuplicateName,
                    path + ": tensor '" + t.name + "' is also in another shard of " + index_path);
      }
      if (!t.alias_key.empty()) t.alias_key = shard + ":" + t.alias_key;
      plan.tensors.push_back(std::move(t));
    }
    if (!listed.empty()) {
      throw Error(Errc::InvalidIndex, index_path + ": tensor '" + *listed.begin() +
                                          "' is not in shard '" + shard + "'");
    }
    for (auto& w : part.warnings) plan.warnings.push_back(path + ": " + w);
    for (auto& k : part.keep_alive) plan.keep_alive.push_back(std::move(k));
  }
  return plan;
}

}  // namespace stsw::cvt
