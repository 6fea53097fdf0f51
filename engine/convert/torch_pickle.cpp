#include "convert/torch_pickle.hpp"

#include <array>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {

// Tags of the approved globals (Object::tag of a Kind::Global).
enum Tag : std::uint32_t {
  kOrderedDict,
  kRebuildTensorV2,
  kRebuildTensor,
  kRebuildParameter,
  kRebuildParameterWithState,
  kRebuildFromTypeV2,
  kTensorClass,
  kParameterClass,
  kStorageClass,
};

struct Approved {
  std::string_view module;
  std::string_view name;
  Tag tag;
};

constexpr std::array<Approved, 8> kApproved = {{
    {"collections", "OrderedDict", kOrderedDict},
    {"torch._utils", "_rebuild_tensor_v2", kRebuildTensorV2},
    {"torch._utils", "_rebuild_tensor", kRebuildTensor},
    {"torch._utils", "_rebuild_parameter", kRebuildParameter},
    {"torch._utils", "_rebuild_parameter_with_state", kRebuildParameterWithState},
    {"torch._tensor", "_rebuild_from_type_v2", kRebuildFromTypeV2},
    {"torch", "Tensor", kTensorClass},
    {"torch.nn.parameter", "Parameter", kParameterClass},
}};

struct StorageName {
  std::string_view name;
  DType dtype;
};

constexpr std::array<StorageName, 20> kStorages = {{
    {"DoubleStorage", DType::F64},
    {"FloatStorage", DType::F32},
    {"HalfStorage", DType::F16},
    {"BFloat16Storage", DType::BF16},
    {"LongStorage", DType::I64},
    {"IntStorage", DType::I32},
    {"ShortStorage", DType::I16},
    {"CharStorage", DType::I8},
    {"ByteStorage", DType::U8},
    {"BoolStorage", DType::BOOL},
    {"UInt16Storage", DType::U16},
    {"UInt32Storage", DType::U32},
    {"UInt64Storage", DType::U64},
    {"ComplexFloatStorage", DType::C64},
    {"Float8_e4m3fnStorage", DType::F8_E4M3},
    {"Float8_e5m2Storage", DType::F8_E5M2},
    {"Float8_e4m3fnuzStorage", DType::F8_E4M3FNUZ},
    {"Float8_e5m2fnuzStorage", DType::F8_E5M2FNUZ},
    {"Float8_e8m0fnuStorage", DType::F8_E8M0},
    {"UntypedStorage", DType::U8},
}};

bool is_storage_class_name(std::string_view name) {
  if (name.size() <= 7 || name.substr(name.size() - 7) != "Storage") return false;
  for (char c : name) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

constexpr int kMaxRebuildDepth = 4;

[[noreturn]] void refuse(const PickleVm& vm, const std::string& what) {
  throw Error(Errc::Unsupported,
              vm.source() + ": " + what + " (offset " + std::to_string(vm.offset()) + ")");
}

const std::vector<ObjectId>& tuple_items(const PickleVm& vm, ObjectId id, const char* what) {
  const Object& o = vm.at(id);
  if (o.kind != Kind::Tuple) {
    refuse(vm, std::string(what) + " expects a tuple of arguments, got " + vm.describe(id));
  }
  return o.items;
}

std::uint64_t non_negative(const PickleVm& vm, ObjectId id, const char* what) {
  const Object& o = vm.at(id);
  if (o.kind != Kind::Int || o.i < 0) {
    throw Error(Errc::InvalidArgument, vm.source() + ": " + what +
                                           " must be a non-negative int, got " + vm.describe(id) +
                                           " (offset " + std::to_string(vm.offset()) + ")");
  }
  return static_cast<std::uint64_t>(o.i);
}

std::vector<std::uint64_t> int_tuple(const PickleVm& vm, ObjectId id, const char* what) {
  const Object& o = vm.at(id);
  if (o.kind != Kind::Tuple && o.kind != Kind::List) {
    throw Error(Errc::InvalidArgument,
                vm.source() + ": " + what + " must be a tuple of ints, got " + vm.describe(id));
  }
  std::vector<std::uint64_t> v;
  v.reserve(o.items.size());
  for (ObjectId x : o.items) v.push_back(non_negative(vm, x, what));
  return v;
}

}  // namespace

std::optional<DType> torch_storage_dtype(std::string_view class_name) noexcept {
  for (const auto& s : kStorages) {
    if (s.name == class_name) return s.dtype;
  }
  return std::nullopt;
}

ObjectId TorchPolicy::global(PickleVm& vm, std::string_view module, std::string_view name) {
  Object o;
  o.kind = Kind::Global;
  o.s = std::string(module) + "." + std::string(name);
  for (const auto& a : kApproved) {
    if (a.module == module && a.name == name) {
      o.tag = a.tag;
      return vm.make(std::move(o));
    }
  }
  // Storage classes only label persistent ids; they are never called.
  if ((module == "torch" || module == "torch.storage") && is_storage_class_name(name)) {
    o.tag = kStorageClass;
    return vm.make(std::move(o));
  }
  refuse(vm, "pickle global '" + o.s +
                 "' is not allowed: stsw convert never imports or calls anything and only knows "
                 "tensors, storages and OrderedDicts of a state dict");
}

ObjectId TorchPolicy::persistent_load(PickleVm& vm, ObjectId pid) {
  const Object& t = vm.at(pid);
  if (t.kind != Kind::Tuple || t.items.size() != 5 || vm.at(t.items[0]).kind != Kind::Str ||
      vm.at(t.items[0]).s != "storage") {
    refuse(vm, "persistent id " + vm.describe(pid) +
                   " is not a torch storage ('storage', type, key, location, numel)");
  }
  const Object& type = vm.at(t.items[1]);
  if (type.kind != Kind::Global || type.tag != kStorageClass) {
    refuse(vm, "persistent id names " + vm.describe(t.items[1]) + " instead of a storage class");
  }
  const Object& key = vm.at(t.items[2]);
  const Object& loc = vm.at(t.items[3]);
  if (key.kind != Kind::Str || loc.kind != Kind::Str) {
    throw Error(Errc::InvalidArgument, vm.source() + ": storage key and location must be strings");
  }
  TorchStorage s;
  s.type_name = type.s.substr(type.s.rfind('.') + 1);
  s.dtype = torch_storage_dtype(s.type_name);
  s.key = key.s;
  s.location = loc.s;
  s.numel = non_negative(vm, t.items[4], "storage numel");
  storages_.push_back(std::move(s));
  Object o;
  o.kind = Kind::Storage;
  o.tag = static_cast<std::uint32_t>(storages_.size() - 1);
  return vm.make(std::move(o));
}

ObjectId TorchPolicy::rebuild_tensor(PickleVm& vm, const std::vector<ObjectId>& args, bool v2) {
  if (args.size() < 4 || (!v2 && args.size() != 4) || args.size() > 7) {
    throw Error(Errc::InvalidArgument, vm.source() + ": tensor rebuild with " +
                                           std::to_string(args.size()) + " arguments");
  }
  const Object& st = vm.at(args[0]);
  if (st.kind != Kind::Storage) {
    refuse(vm, "tensor rebuild from " + vm.describe(args[0]) + " instead of a storage");
  }
  TorchTensorView t;
  t.storage = st.tag;
  t.offset = non_negative(vm, args[1], "storage offset");
  t.shape = int_tuple(vm, args[2], "tensor size");
  t.stride = int_tuple(vm, args[3], "tensor stride");
  if (t.shape.size() != t.stride.size()) {
    throw Error(Errc::InvalidArgument, vm.source() + ": tensor of rank " +
                                           std::to_string(t.shape.size()) + " has " +
                                           std::to_string(t.stride.size()) + " strides");
  }
  tensors_.push_back(std::move(t));
  Object o;
  o.kind = Kind::Tensor;
  o.tag = static_cast<std::uint32_t>(tensors_.size() - 1);
  return vm.make(std::move(o));
}

ObjectId TorchPolicy::call(PickleVm& vm, ObjectId callable, ObjectId args_id, int depth) {
  const Object& fn = vm.at(callable);
  if (fn.kind != Kind::Global) refuse(vm, "REDUCE on " + vm.describe(callable) + " is not allowed");
  const std::vector<ObjectId> args = tuple_items(vm, args_id, fn.s.c_str());
  switch (fn.tag) {
    case kOrderedDict: {
      Object d;
      d.kind = Kind::Dict;
      if (args.size() == 1) {
        const Object& pairs = vm.at(args[0]);
        if (pairs.kind != Kind::List && pairs.kind != Kind::Tuple) {
          refuse(vm, "OrderedDict built from " + vm.describe(args[0]));
        }
        for (ObjectId p : pairs.items) {
          const Object& kv = vm.at(p);
          if ((kv.kind != Kind::Tuple && kv.kind != Kind::List) || kv.items.size() != 2) {
            refuse(vm, "OrderedDict item " + vm.describe(p) + " is not a pair");
          }
          d.entries.emplace_back(kv.items[0], kv.items[1]);
        }
      } else if (!args.empty()) {
        refuse(vm, "OrderedDict called with " + std::to_string(args.size()) + " arguments");
      }
      return vm.make(std::move(d));
    }
    case kRebuildTensorV2: return rebuild_tensor(vm, args, true);
    case kRebuildTensor: return rebuild_tensor(vm, args, false);
    case kRebuildParameter:
    case kRebuildParameterWithState:
      if (args.size() < 3 || vm.at(args[0]).kind != Kind::Tensor) {
        refuse(vm, fn.s + " expects (tensor, requires_grad, hooks, ...)");
      }
      return args[0];
    case kRebuildFromTypeV2: {
      // (func, type, args, state): a Tensor or Parameter rebuilt by func; state ignored.
      if (args.size() != 4) refuse(vm, fn.s + " expects 4 arguments");
      const Object& type = vm.at(args[1]);
      if (type.kind != Kind::Global || (type.tag != kTensorClass && type.tag != kParameterClass)) {
        refuse(vm, fn.s + " of " + vm.describe(args[1]) +
                       " is not allowed (only torch.Tensor and torch.nn.Parameter)");
      }
      if (depth >= kMaxRebuildDepth) refuse(vm, fn.s + " nested too deeply");
      const std::string name = fn.s;  // `fn` may move: the inner call creates objects
      const ObjectId result = call(vm, args[0], args[2], depth + 1);
      if (vm.at(result).kind != Kind::Tensor) refuse(vm, name + " did not rebuild a tensor");
      return result;
    }
    default: refuse(vm, "calling '" + fn.s + "' is not allowed");
  }
}

ObjectId TorchPolicy::reduce(PickleVm& vm, ObjectId callable, ObjectId args) {
  return call(vm, callable, args, 0);
}

ObjectId TorchPolicy::build(PickleVm& vm, ObjectId obj, ObjectId /*state*/) {
  // An OrderedDict's attributes (state_dict()._metadata) and a tensor's Python attributes
  // carry nothing a safetensors file keeps: dropped.
  const Kind k = vm.at(obj).kind;
  if (k != Kind::Dict && k != Kind::Tensor) {
    refuse(vm, "BUILD on " + vm.describe(obj) + " is not allowed");
  }
  return obj;
}

}  // namespace stsw::cvt
