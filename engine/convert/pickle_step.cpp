// The opcode interpreter of the restricted pickle VM: one case per opcode of protocols 2
// to 5 that builds plain data; everything that would import or call goes to the policy,
// everything that always runs code is refused.
#include <bit>
#include <cstdio>

#include "convert/pickle_vm.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {
constexpr int kMinProtocol = 2;
constexpr int kMaxProtocol = 5;
}  // namespace

bool PickleVm::step() {
  op_pos_ = pos_;
  const auto op = static_cast<std::uint8_t>(data_[pos_++]);
  auto str_obj = [&](Kind kind, std::size_t n) {
    Object o;
    o.kind = kind;
    o.s = std::string(take(n));
    push(make(std::move(o)));
  };
  auto int_obj = [&](std::int64_t v, Kind kind = Kind::Int) {
    Object o;
    o.kind = kind;
    o.i = v;
    push(make(std::move(o)));
  };
  auto seq_obj = [&](Kind kind, std::vector<ObjectId> items) {
    Object o;
    o.kind = kind;
    o.items = std::move(items);
    push(make(std::move(o)));
  };
  auto need = [&](ObjectId id, Kind kind, const char* opname) -> Object& {
    if (objects_[id].kind != kind) {
      malformed(std::string(opname) + " applied to " + describe(id) + ", expected " +
                std::string(to_string(kind)));
    }
    return objects_[id];
  };
  switch (op) {
    case 0x80: {  // PROTO
      const auto proto = static_cast<int>(le(1));
      if (proto < kMinProtocol || proto > kMaxProtocol) {
        throw Error(Errc::Unsupported, source_ + ": pickle protocol " + std::to_string(proto) +
                                           " is not supported (2 to 5 are)");
      }
      return true;
    }
    case 0x95: {  // FRAME: a length hint only
      const std::uint64_t n = le(8);
      if (n > data_.size() - pos_)
        malformed("FRAME of " + std::to_string(n) + " bytes runs past the end");
      return true;
    }
    case '.': stopped_ = true; return false;  // STOP
    case '(':                                 // MARK
      if (marks_.size() >= limits_.max_references) count_references(limits_.max_references);
      marks_.push_back(stack_.size());
      return true;
    case '0': pop(); return true;                                      // POP
    case '1': pop_mark(); return true;                                 // POP_MARK
    case '2': push(top()); return true;                                // DUP
    case 'N': push(make({})); return true;                             // NONE
    case 0x88: int_obj(1, Kind::Bool); return true;                    // NEWTRUE
    case 0x89: int_obj(0, Kind::Bool); return true;                    // NEWFALSE
    case 'J': int_obj(static_cast<std::int32_t>(le(4))); return true;  // BININT
    case 'K': int_obj(static_cast<std::int64_t>(le(1))); return true;  // BININT1
    case 'M': int_obj(static_cast<std::int64_t>(le(2))); return true;  // BININT2
    case 0x8a:                                                         // LONG1
    case 0x8b: {                                                       // LONG4
      const std::uint64_t n = op == 0x8a ? le(1) : le(4);
      std::string_view b = take(n);
      if (n > 8) {
        int_obj(0, Kind::BigInt);
        return true;
      }
      std::uint64_t v = 0;
      for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[i]);
      if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80) != 0) {
        v |= ~std::uint64_t{0} << (8 * n);  // sign-extend
      }
      int_obj(static_cast<std::int64_t>(v));
      return true;
    }
    case 'G': {  // BINFLOAT: big-endian double
      std::string_view b = take(8);
      std::uint64_t bits = 0;
      for (char c : b) bits = (bits << 8) | static_cast<unsigned char>(c);
      Object o;
      o.kind = Kind::Float;
      o.f = std::bit_cast<double>(bits);
      push(make(std::move(o)));
      return true;
    }
    case 'X': str_obj(Kind::Str, le(4)); return true;         // BINUNICODE
    case 0x8c: str_obj(Kind::Str, le(1)); return true;        // SHORT_BINUNICODE
    case 0x8d: str_obj(Kind::Str, le(8)); return true;        // BINUNICODE8
    case 'T': str_obj(Kind::Bytes, le(4)); return true;       // BINSTRING
    case 'U': str_obj(Kind::Bytes, le(1)); return true;       // SHORT_BINSTRING
    case 'B': str_obj(Kind::Bytes, le(4)); return true;       // BINBYTES
    case 'C': str_obj(Kind::Bytes, le(1)); return true;       // SHORT_BINBYTES
    case 0x8e: str_obj(Kind::Bytes, le(8)); return true;      // BINBYTES8
    case 0x96: str_obj(Kind::Bytes, le(8)); return true;      // BYTEARRAY8
    case ']': seq_obj(Kind::List, {}); return true;           // EMPTY_LIST
    case ')': seq_obj(Kind::Tuple, {}); return true;          // EMPTY_TUPLE
    case 0x8f: seq_obj(Kind::Set, {}); return true;           // EMPTY_SET
    case 'l': seq_obj(Kind::List, pop_mark()); return true;   // LIST
    case 't': seq_obj(Kind::Tuple, pop_mark()); return true;  // TUPLE
    case 0x91: seq_obj(Kind::Set, pop_mark()); return true;   // FROZENSET
    case 0x85:                                                // TUPLE1
    case 0x86:                                                // TUPLE2
    case 0x87: {                                              // TUPLE3
      const std::size_t n = op - 0x84u;
      std::vector<ObjectId> items(n);
      for (std::size_t i = n; i-- > 0;) items[i] = pop();
      seq_obj(Kind::Tuple, std::move(items));
      return true;
    }
    case 'a': {  // APPEND
      const ObjectId v = pop();
      count_references(1);
      need(top(), Kind::List, "APPEND").items.push_back(v);
      return true;
    }
    case 'e': {  // APPENDS
      auto items = pop_mark();
      count_references(items.size());
      auto& list = need(top(), Kind::List, "APPENDS").items;
      list.insert(list.end(), items.begin(), items.end());
      return true;
    }
    case 0x90: {  // ADDITEMS
      auto items = pop_mark();
      count_references(items.size());
      auto& set = need(top(), Kind::Set, "ADDITEMS").items;
      set.insert(set.end(), items.begin(), items.end());
      return true;
    }
    case '}': {  // EMPTY_DICT
      Object o;
      o.kind = Kind::Dict;
      push(make(std::move(o)));
      return true;
    }
    case 'd': {  // DICT
      auto items = pop_mark();
      if (items.size() % 2 != 0) malformed("DICT with an odd number of items");
      Object o;
      o.kind = Kind::Dict;
      for (std::size_t i = 0; i < items.size(); i += 2)
        o.entries.emplace_back(items[i], items[i + 1]);
      push(make(std::move(o)));
      return true;
    }
    case 's': {  // SETITEM
      const ObjectId v = pop();
      const ObjectId k = pop();
      count_references(1);
      need(top(), Kind::Dict, "SETITEM").entries.emplace_back(k, v);
      return true;
    }
    case 'u': {  // SETITEMS
      auto items = pop_mark();
      if (items.size() % 2 != 0) malformed("SETITEMS with an odd number of items");
      count_references(items.size() / 2);
      auto& d = need(top(), Kind::Dict, "SETITEMS").entries;
      for (std::size_t i = 0; i < items.size(); i += 2) d.emplace_back(items[i], items[i + 1]);
      return true;
    }
    case 'q': memo_put(le(1)); return true;          // BINPUT
    case 'r': memo_put(le(4)); return true;          // LONG_BINPUT
    case 0x94: memo_put(memo_.size()); return true;  // MEMOIZE
    case 'h': push(memo_get(le(1))); return true;    // BINGET
    case 'j': push(memo_get(le(4))); return true;    // LONG_BINGET
    case 'c': {                                      // GLOBAL
      const std::size_t nl1 = data_.find('\n', pos_);
      if (nl1 == std::string_view::npos) malformed("truncated GLOBAL");
      const std::string_view module = data_.substr(pos_, nl1 - pos_);
      const std::size_t nl2 = data_.find('\n', nl1 + 1);
      if (nl2 == std::string_view::npos) malformed("truncated GLOBAL");
      const std::string_view name = data_.substr(nl1 + 1, nl2 - nl1 - 1);
      pos_ = nl2 + 1;
      push(policy_.global(*this, module, name));
      return true;
    }
    case 0x93: {  // STACK_GLOBAL
      const ObjectId name = pop();
      const ObjectId module = pop();
      if (objects_[name].kind != Kind::Str || objects_[module].kind != Kind::Str) {
        malformed("STACK_GLOBAL needs two strings");
      }
      // Copies: the policy may add objects, which moves the arena.
      const std::string module_name = objects_[module].s;
      const std::string global_name = objects_[name].s;
      push(policy_.global(*this, module_name, global_name));
      return true;
    }
    case 'R': {  // REDUCE
      const ObjectId args = pop();
      const ObjectId callable = pop();
      push(policy_.reduce(*this, callable, args));
      return true;
    }
    case 'b': {  // BUILD
      const ObjectId state = pop();
      const ObjectId obj = pop();
      push(policy_.build(*this, obj, state));
      return true;
    }
    case 'Q': {  // BINPERSID
      const ObjectId pid = pop();
      push(policy_.persistent_load(*this, pid));
      return true;
    }
    case 'i': refuse(op, "INST", "it instantiates an arbitrary class");
    case 'o': refuse(op, "OBJ", "it instantiates an arbitrary class");
    case 0x81: refuse(op, "NEWOBJ", "it instantiates an arbitrary class");
    case 0x92: refuse(op, "NEWOBJ_EX", "it instantiates an arbitrary class");
    case 0x82: refuse(op, "EXT1", "it imports through the extension registry");
    case 0x83: refuse(op, "EXT2", "it imports through the extension registry");
    case 0x84: refuse(op, "EXT4", "it imports through the extension registry");
    case 0x97: refuse(op, "NEXT_BUFFER", "out-of-band buffers are not supported");
    case 0x98: refuse(op, "READONLY_BUFFER", "out-of-band buffers are not supported");
    case 'P': refuse(op, "PERSID", "text persistent ids are not used by torch.save");
    case 'I': refuse(op, "INT", "protocol 0 text opcodes are not supported");
    case 'L': refuse(op, "LONG", "protocol 0 text opcodes are not supported");
    case 'F': refuse(op, "FLOAT", "protocol 0 text opcodes are not supported");
    case 'S': refuse(op, "STRING", "protocol 0 text opcodes are not supported");
    case 'V': refuse(op, "UNICODE", "protocol 0 text opcodes are not supported");
    case 'p': refuse(op, "PUT", "protocol 0 text opcodes are not supported");
    case 'g': refuse(op, "GET", "protocol 0 text opcodes are not supported");
    default: refuse(op, "unknown", "not a pickle opcode stsw knows");
  }
}

}  // namespace stsw::cvt
