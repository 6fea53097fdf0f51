// The PyTorch side of the restricted unpickler: the few globals a torch.save state dict
// names (tensor and parameter rebuilders, storage classes, OrderedDict) mapped to plain
// data. Nothing is imported or called; every other global is refused by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "convert/pickle_vm.hpp"
#include "stsw/dtype.hpp"

namespace stsw::cvt {

// The safetensors dtype of a torch storage class ("FloatStorage" -> F32); nullopt for
// classes safetensors cannot hold (ComplexDouble, quantized, ...) or unknown names.
[[nodiscard]] std::optional<DType> torch_storage_dtype(std::string_view class_name) noexcept;

// One persistent id: ('storage', torch.<Type>Storage, key, location, numel).
struct TorchStorage {
  std::string type_name;  // "FloatStorage"
  std::optional<DType> dtype;
  std::string key;       // the entry "<prefix>/data/<key>"
  std::string location;  // "cpu", "cuda:0", ...
  std::uint64_t numel = 0;
};

// A dense tensor view: storage[offset + sum(i_k * stride_k)] in elements of the dtype.
struct TorchTensorView {
  std::uint32_t storage = 0;  // index into TorchPolicy::storages()
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> stride;
};

class TorchPolicy final : public PicklePolicy {
 public:
  ObjectId global(PickleVm& vm, std::string_view module, std::string_view name) override;
  ObjectId reduce(PickleVm& vm, ObjectId callable, ObjectId args) override;
  ObjectId persistent_load(PickleVm& vm, ObjectId pid) override;
  ObjectId build(PickleVm& vm, ObjectId obj, ObjectId state) override;

  [[nodiscard]] const std::vector<TorchStorage>& storages() const noexcept { return storages_; }
  [[nodiscard]] const std::vector<TorchTensorView>& tensors() const noexcept { return tensors_; }

 private:
  ObjectId rebuild_tensor(PickleVm& vm, const std::vector<ObjectId>& args, bool v2);
  ObjectId call(PickleVm& vm, ObjectId callable, ObjectId args, int depth);

  std::vector<TorchStorage> storages_;
  std::vector<TorchTensorView> tensors_;
};

}  // namespace stsw::cvt
