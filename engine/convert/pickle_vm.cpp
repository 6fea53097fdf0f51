#include "convert/pickle_vm.hpp"

#include <cstdio>

#include "stsw/error.hpp"

namespace stsw::cvt {

std::string_view to_string(Kind kind) noexcept {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Set: return "set";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "object";
}

PickleVm::PickleVm(std::string_view data, std::string source, PicklePolicy& policy,
                   PickleLimits limits)
    : data_(data), source_(std::move(source)), policy_(policy), limits_(limits) {}

void PickleVm::count_references(std::size_t n) {
  references_ += n;
  if (references_ > limits_.max_references) {
    throw Error(Errc::InvalidArgument,
                source_ + ": pickle builds more than " + std::to_string(limits_.max_references) +
                    " references (at offset " + std::to_string(op_pos_) + "): refused");
  }
}

ObjectId PickleVm::make(Object obj) {
  if (objects_.size() >= limits_.max_objects) {
    throw Error(Errc::InvalidArgument,
                source_ + ": pickle builds more than " + std::to_string(limits_.max_objects) +
                    " objects (at offset " + std::to_string(op_pos_) + "): refused");
  }
  count_references(obj.items.size() + obj.entries.size());
  objects_.push_back(std::move(obj));
  return static_cast<ObjectId>(objects_.size() - 1);
}

std::string PickleVm::where() const {
  return "at offset " + std::to_string(op_pos_) + " of " + source_;
}

std::string PickleVm::describe(ObjectId id) const {
  const Object& o = objects_.at(id);
  switch (o.kind) {
    case Kind::Str: return "str '" + o.s.substr(0, 64) + (o.s.size() > 64 ? "...'" : "'");
    case Kind::Int: return "int " + std::to_string(o.i);
    case Kind::Bool: return o.i != 0 ? "True" : "False";
    case Kind::Global: return "global " + o.s;
    case Kind::List:
    case Kind::Tuple:
    case Kind::Set: return std::string(to_string(o.kind)) + " of " + std::to_string(o.items.size());
    case Kind::Dict: return "dict of " + std::to_string(o.entries.size());
    default: return std::string(to_string(o.kind));
  }
}

void PickleVm::malformed(const std::string& why) const {
  throw Error(Errc::InvalidArgument,
              source_ + ": malformed pickle at offset " + std::to_string(op_pos_) + ": " + why);
}

void PickleVm::refuse(std::uint8_t op, const char* name, const char* why) const {
  char code[16];
  std::snprintf(code, sizeof code, "0x%02x", op);
  std::string printable;
  if (op >= 0x20 && op < 0x7f) printable = std::string(" '") + static_cast<char>(op) + "'";
  throw Error(Errc::Unsupported, source_ + ": pickle opcode " + code + printable + " (" + name +
                                     ") at offset " + std::to_string(op_pos_) +
                                     " is refused: " + why);
}

std::string_view PickleVm::take(std::size_t n) {
  if (n > data_.size() - pos_) {
    malformed("truncated: an argument of " + std::to_string(n) + " bytes runs past the end (" +
              std::to_string(data_.size()) + " bytes)");
  }
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

std::uint64_t PickleVm::le(std::size_t width) {
  std::string_view b = take(width);
  std::uint64_t v = 0;
  for (std::size_t i = width; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

ObjectId PickleVm::pop() {
  if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size())) {
    malformed("stack underflow");
  }
  ObjectId id = stack_.back();
  stack_.pop_back();
  return id;
}

ObjectId PickleVm::top() {
  if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size())) {
    malformed("stack underflow");
  }
  return stack_.back();
}

std::vector<ObjectId> PickleVm::pop_mark() {
  if (marks_.empty()) malformed("no MARK on the stack");
  const std::size_t m = marks_.back();
  marks_.pop_back();
  std::vector<ObjectId> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
  stack_.resize(m);
  return items;
}

ObjectId PickleVm::memo_get(std::uint64_t key) {
  auto it = memo_.find(key);
  if (it == memo_.end()) malformed("memo key " + std::to_string(key) + " was never stored");
  return it->second;
}

void PickleVm::memo_put(std::uint64_t key) {
  const ObjectId v = top();
  if (memo_.size() >= limits_.max_references) count_references(limits_.max_references);
  memo_[key] = v;
}

ObjectId PickleVm::run() {
  while (!stopped_) {
    if (pos_ >= data_.size()) malformed("truncated: no STOP opcode before the end");
    step();
  }
  if (stack_.size() != 1 || !marks_.empty()) {
    malformed("STOP with " + std::to_string(stack_.size()) + " objects on the stack");
  }
  return stack_.back();
}

}  // namespace stsw::cvt
