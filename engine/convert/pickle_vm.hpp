// A restricted pickle virtual machine: it decodes the data-only subset of the pickle
// language (protocols 2 to 5: None, bools, ints, floats, strings, bytes, lists, tuples,
// dicts, sets, the memo, persistent ids) into a tree of plain objects, and never imports
// or calls anything. What a pickle would execute (GLOBAL, REDUCE, BUILD, BINPERSID) is
// handed to a Policy, which either maps it to plain data or refuses it. Opcodes that
// always run code (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT*) and unknown bytes are refused
// with an Error naming the opcode and its offset.
//
// Memory: objects live in an arena indexed by ObjectId, so shared references and cycles
// built through the memo cost nothing to destroy; the number of objects and references
// is bounded by the pickle's length.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stsw::cvt {

using ObjectId = std::uint32_t;

enum class Kind : std::uint8_t {
  None,
  Bool,
  Int,     // fits int64
  BigInt,  // an integer wider than 64 bits (value not kept)
  Float,
  Str,  // text (UTF-8 as stored)
  Bytes,
  List,
  Tuple,
  Set,      // set or frozenset
  Dict,     // dict or OrderedDict, keys in insertion order
  Global,   // a policy-approved global; `tag` says which
  Storage,  // a policy-built persistent object; `tag` indexes the policy's table
  Tensor,   // a policy-built tensor; `tag` indexes the policy's table
};

[[nodiscard]] std::string_view to_string(Kind kind) noexcept;

struct Object {
  Kind kind = Kind::None;
  std::int64_t i = 0;  // Bool (0/1), Int
  double f = 0;        // Float
  std::uint32_t tag = 0;
  std::string s;                                       // Str, Bytes, Global ("module.name")
  std::vector<ObjectId> items;                         // List, Tuple, Set
  std::vector<std::pair<ObjectId, ObjectId>> entries;  // Dict
};

class PickleVm;

// What the VM asks before anything a real unpickler would execute. Each call returns
// the object to push, or throws Error (Unsupported) naming what it refuses.
class PicklePolicy {
 public:
  virtual ~PicklePolicy() = default;
  virtual ObjectId global(PickleVm& vm, std::string_view module, std::string_view name) = 0;
  virtual ObjectId reduce(PickleVm& vm, ObjectId callable, ObjectId args) = 0;
  virtual ObjectId persistent_load(PickleVm& vm, ObjectId pid) = 0;
  // BUILD: returns the object left on the stack (usually `obj`).
  virtual ObjectId build(PickleVm& vm, ObjectId obj, ObjectId state) = 0;
};

// Bounds on what a pickle may build, so that a small hostile pickle cannot exhaust memory
// (each object costs about 100 bytes, each reference 4 to 8).
struct PickleLimits {
  std::size_t max_objects = std::size_t{1} << 22;
  std::size_t max_references = std::size_t{1} << 24;  // list/tuple/set items + dict entries
};

class PickleVm {
 public:
  // `data` must outlive the VM; `source` names it in errors ("model.pt:archive/data.pkl").
  PickleVm(std::string_view data, std::string source, PicklePolicy& policy,
           PickleLimits limits = {});

  // Runs to STOP and returns the result. Throws Error: InvalidArgument for a malformed or
  // truncated pickle, Unsupported for a refused opcode (or what the policy refuses).
  [[nodiscard]] ObjectId run();

  [[nodiscard]] const Object& at(ObjectId id) const { return objects_.at(id); }
  [[nodiscard]] ObjectId make(Object obj);
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  // Offset of the opcode being executed (for policy errors).
  [[nodiscard]] std::size_t offset() const noexcept { return op_pos_; }
  // "at offset 17 of model.pt:archive/data.pkl"
  [[nodiscard]] std::string where() const;
  // A short human description of an object ("str 'abc'", "tuple of 3", ...).
  [[nodiscard]] std::string describe(ObjectId id) const;

 private:
  bool step();
  std::string_view take(std::size_t n);
  std::uint64_t le(std::size_t width);
  ObjectId pop();
  ObjectId top();
  std::vector<ObjectId> pop_mark();
  void push(ObjectId id) {
    if (stack_.size() >= limits_.max_references) count_references(limits_.max_references);
    stack_.push_back(id);
  }
  ObjectId memo_get(std::uint64_t key);
  void memo_put(std::uint64_t key);
  void count_references(std::size_t n);
  [[noreturn]] void malformed(const std::string& why) const;
  [[noreturn]] void refuse(std::uint8_t op, const char* name, const char* why) const;

  std::string_view data_;
  std::string source_;
  PicklePolicy& policy_;
  PickleLimits limits_;
  std::size_t references_ = 0;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  std::vector<Object> objects_;
  std::vector<ObjectId> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, ObjectId> memo_;
  bool stopped_ = false;
};

}  // namespace stsw::cvt
