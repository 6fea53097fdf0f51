#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "convert/pickle_vm.hpp"
#include "convert/test_support.hpp"
#include "convert/torch_pickle.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {
namespace {

using test::Pickle;
using ::testing::HasSubstr;

struct Unpickled {
  TorchPolicy policy;
  std::string data;
  std::unique_ptr<PickleVm> vm;
  ObjectId root = 0;
  explicit Unpickled(std::string bytes) : data(std::move(bytes)) {
    vm = std::make_unique<PickleVm>(data, "test.pkl", policy);
    root = vm->run();
  }
  const Object& obj(ObjectId id) const { return vm->at(id); }
  const Object& value(std::string_view key) const {
    for (const auto& [k, v] : obj(root).entries) {
      if (obj(k).kind == Kind::Str && obj(k).s == key) return obj(v);
    }
    throw std::runtime_error("no key " + std::string(key));
  }
};

void expect_refused(const std::string& bytes, Errc code, const std::string& needle) {
  try {
    Unpickled r(bytes);
    ADD_FAILURE() << "pickle accepted; expected " << to_string(code) << " '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(needle));
    EXPECT_THAT(e.what(), HasSubstr("test.pkl"));
  }
}

TEST(PickleVm, StateDictOfTensors) {
  Pickle p;
  p.proto(2).global("collections", "OrderedDict").op('q').byte(0).empty_tuple().reduce().mark();
  p.str("w").tensor("FloatStorage", "0", 12, 2, {2, 5}, {5, 1});
  p.str("b").tensor("BFloat16Storage", "1", 4, 0, {4}, {1});
  p.setitems();
  // state_dict()._metadata through BUILD, as torch writes it.
  p.empty_dict().str("_metadata").op('h').byte(0).empty_tuple().reduce().op('s').op('b').stop();
  Unpickled r(p.bytes());
  ASSERT_EQ(r.obj(r.root).kind, Kind::Dict);
  ASSERT_EQ(r.obj(r.root).entries.size(), 2u);
  const Object& w = r.value("w");
  ASSERT_EQ(w.kind, Kind::Tensor);
  const auto& tv = r.policy.tensors()[w.tag];
  EXPECT_EQ(tv.offset, 2u);
  EXPECT_EQ(tv.shape, (std::vector<std::uint64_t>{2, 5}));
  EXPECT_EQ(tv.stride, (std::vector<std::uint64_t>{5, 1}));
  const auto& st = r.policy.storages()[tv.storage];
  EXPECT_EQ(st.type_name, "FloatStorage");
  EXPECT_EQ(st.dtype, DType::F32);
  EXPECT_EQ(st.key, "0");
  EXPECT_EQ(st.location, "cpu");
  EXPECT_EQ(st.numel, 12u);
  EXPECT_EQ(r.policy.storages()[r.policy.tensors()[r.value("b").tag].storage].dtype, DType::BF16);
}

TEST(PickleVm, PlainValuesAndMemo) {
  Pickle p;
  p.proto(4).op(0x95).raw(std::string(8, '\0'));  // FRAME (length unchecked beyond the end)
  p.empty_dict().op(0x94).mark();
  p.op(0x8c).byte(1).raw("i").integer(-5);
  p.op(0x8c).byte(1).raw("n").op('N');
  p.op(0x8c).byte(1).raw("t").op(0x88);
  p.op(0x8c).byte(1).raw("f").op('G').raw(std::string("\x40\x09\x21\xfb\x54\x44\x2d\x18", 8));
  p.op(0x8c).byte(1).raw("l").op(']').mark().integer(1).integer(70000).op('e');
  p.op(0x8c).byte(1).raw("b").op('C').byte(2).raw("xy");
  p.op(0x8c).byte(1).raw("s").op(0x8f).mark().integer(3).op(0x90);
  p.op(0x8c).byte(3).raw("big").op(0x8a).byte(9).raw(std::string(9, '\x01'));
  p.op(0x8c).byte(1).raw("m").op('h').byte(0);  // the dict itself, through the memo
  p.setitems().stop();
  Unpickled r(p.bytes());
  EXPECT_EQ(r.value("i").i, -5);
  EXPECT_EQ(r.value("n").kind, Kind::None);
  EXPECT_EQ(r.value("t").kind, Kind::Bool);
  EXPECT_DOUBLE_EQ(r.value("f").f, 3.141592653589793);
  EXPECT_EQ(r.value("l").items.size(), 2u);
  EXPECT_EQ(r.value("b").s, "xy");
  EXPECT_EQ(r.value("s").kind, Kind::Set);
  EXPECT_EQ(r.value("big").kind, Kind::BigInt);
  EXPECT_EQ(r.value("m").kind, Kind::Dict);  // a cycle: costs nothing to hold or destroy
}

TEST(PickleVm, ParameterAndRebuildFromType) {
  Pickle p;
  p.proto(2).empty_dict().mark();
  p.str("p").global("torch._utils", "_rebuild_parameter").mark();
  p.tensor("HalfStorage", "0", 3, 0, {3}, {1});
  p.op(0x88).global("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce();
  p.str("t").global("torch._tensor", "_rebuild_from_type_v2").mark();
  p.global("torch._utils", "_rebuild_tensor_v2").global("torch", "Tensor").mark();
  p.storage("LongStorage", "1", 2).integer(0).int_tuple({2}).int_tuple({1}).newfalse();
  p.global("collections", "OrderedDict").empty_tuple().reduce().tuple();
  p.empty_dict().tuple().reduce();
  p.setitems().stop();
  Unpickled r(p.bytes());
  EXPECT_EQ(r.value("p").kind, Kind::Tensor);
  const Object& t = r.value("t");
  ASSERT_EQ(t.kind, Kind::Tensor);
  EXPECT_EQ(r.policy.storages()[r.policy.tensors()[t.tag].storage].dtype, DType::I64);
}

TEST(PickleVm, StorageDtypes) {
  EXPECT_EQ(torch_storage_dtype("Float8_e4m3fnStorage"), DType::F8_E4M3);
  EXPECT_EQ(torch_storage_dtype("Float8_e5m2Storage"), DType::F8_E5M2);
  EXPECT_EQ(torch_storage_dtype("Float8_e8m0fnuStorage"), DType::F8_E8M0);
  EXPECT_EQ(torch_storage_dtype("BoolStorage"), DType::BOOL);
  EXPECT_EQ(torch_storage_dtype("UInt64Storage"), DType::U64);
  EXPECT_EQ(torch_storage_dtype("ComplexFloatStorage"), DType::C64);
  EXPECT_EQ(torch_storage_dtype("ComplexDoubleStorage"), std::nullopt);
  EXPECT_EQ(torch_storage_dtype("QInt8Storage"), std::nullopt);
}

TEST(PickleHostile, GlobalsThatWouldRunCode) {
  Pickle sys;
  sys.proto(2).global("posix", "system").mark().str("touch /tmp/x").tuple().reduce().stop();
  expect_refused(sys.bytes(), Errc::Unsupported, "pickle global 'posix.system' is not allowed");
  Pickle os;
  os.proto(2).global("os", "system").stop();
  expect_refused(os.bytes(), Errc::Unsupported, "'os.system'");
  Pickle ev;
  ev.proto(4).op(0x8c).byte(8).raw("builtins").op(0x8c).byte(4).raw("eval").op(0x93).stop();
  expect_refused(ev.bytes(), Errc::Unsupported, "'builtins.eval'");
  Pickle sub;
  sub.proto(2).global("torch", "load").stop();
  expect_refused(sub.bytes(), Errc::Unsupported, "'torch.load'");
  Pickle q;
  q.proto(2).global("torch._utils", "_rebuild_qtensor").stop();
  expect_refused(q.bytes(), Errc::Unsupported, "'torch._utils._rebuild_qtensor'");
  Pickle codecs;
  codecs.proto(2).global("_codecs", "encode").stop();
  expect_refused(codecs.bytes(), Errc::Unsupported, "'_codecs.encode'");
}

TEST(PickleHostile, OpcodesThatInstantiate) {
  expect_refused(std::string("\x80\x02(X\x01\x00\x00\x00"
                             "aios\nsystem\n.",
                             22),
                 Errc::Unsupported, "opcode 0x69 'i' (INST)");
  expect_refused(std::string("\x80\x02(o.", 5), Errc::Unsupported, "(OBJ)");
  expect_refused(std::string("\x80\x02N)\x81.", 6), Errc::Unsupported, "(NEWOBJ)");
  expect_refused(std::string("\x80\x02N)}\x92.", 7), Errc::Unsupported, "(NEWOBJ_EX)");
  expect_refused(std::string("\x80\x02\x82\x01.", 5), Errc::Unsupported, "(EXT1)");
  expect_refused(std::string("\x80\x02P1\n.", 6), Errc::Unsupported, "(PERSID)");
  expect_refused(std::string("\x80\x05\x97.", 4), Errc::Unsupported, "(NEXT_BUFFER)");
  expect_refused(std::string("\x80\x02\xff.", 4), Errc::Unsupported, "opcode 0xff (unknown)");
  expect_refused(std::string("\x80\x02S'a'\n.", 8), Errc::Unsupported, "(STRING)");
  expect_refused(std::string("I1\n.", 4), Errc::Unsupported, "(INT)");
}

TEST(PickleHostile, ReduceBuildAndPersistentIdMisuse) {
  Pickle p1;  // calling a storage class
  p1.proto(2).global("torch", "FloatStorage").empty_tuple().reduce().stop();
  expect_refused(p1.bytes(), Errc::Unsupported, "calling 'torch.FloatStorage' is not allowed");
  Pickle p2;  // REDUCE on a string
  p2.proto(2).str("x").empty_tuple().reduce().stop();
  expect_refused(p2.bytes(), Errc::Unsupported, "REDUCE on str 'x'");
  Pickle p3;  // BUILD on a list
  p3.proto(2).op(']').empty_dict().op('b').stop();
  expect_refused(p3.bytes(), Errc::Unsupported, "BUILD on list");
  Pickle p4;  // a persistent id that is not a storage
  p4.proto(2).mark().str("module").str("x").tuple().op('Q').stop();
  expect_refused(p4.bytes(), Errc::Unsupported, "not a torch storage");
  Pickle p5;  // storage labelled with a function
  p5.proto(2)
      .mark()
      .str("storage")
      .global("torch._utils", "_rebuild_tensor_v2")
      .str("0")
      .str("cpu");
  p5.integer(1).tuple().op('Q').stop();
  expect_refused(p5.bytes(), Errc::Unsupported, "instead of a storage class");
  Pickle p6;  // tensor rebuilt from a non-storage
  p6.proto(2).global("torch._utils", "_rebuild_tensor_v2").mark().str("s").integer(0);
  p6.int_tuple({1}).int_tuple({1}).tuple().reduce().stop();
  expect_refused(p6.bytes(), Errc::Unsupported, "instead of a storage");
  Pickle p7;  // arguments as a list (cannot be cyclic-checked): refused
  p7.proto(2).global("collections", "OrderedDict").op(']').reduce().stop();
  expect_refused(p7.bytes(), Errc::Unsupported, "expects a tuple");
  Pickle p8;  // rebuild_from_type with an arbitrary class
  p8.proto(2).global("torch._tensor", "_rebuild_from_type_v2").mark();
  p8.global("torch._utils", "_rebuild_tensor_v2").global("torch", "FloatStorage");
  p8.empty_tuple().empty_dict().tuple().reduce().stop();
  expect_refused(p8.bytes(), Errc::Unsupported, "only torch.Tensor");
}

TEST(PickleHostile, MalformedStreams) {
  expect_refused(std::string("\x80\x02}", 3), Errc::InvalidArgument, "no STOP");
  expect_refused(std::string("\x80\x02X\xff\xff\xff\x7f", 7), Errc::InvalidArgument,
                 "runs past the end");
  expect_refused(std::string("\x80\x02h\x07.", 5), Errc::InvalidArgument, "memo key 7");
  expect_refused(std::string("\x80\x02"
                             "0.",
                             4),
                 Errc::InvalidArgument, "stack underflow");
  expect_refused(std::string("\x80\x02N(0.", 6), Errc::InvalidArgument, "stack underflow");
  expect_refused(std::string("\x80\x02Ne.", 5), Errc::InvalidArgument, "no MARK");
  expect_refused(std::string("\x80\x02NNN.", 6), Errc::InvalidArgument, "3 objects on the stack");
  expect_refused(std::string("\x80\x02Na.", 5), Errc::InvalidArgument, "stack underflow");
  expect_refused(std::string("\x80\x02NNa.", 6), Errc::InvalidArgument, "APPEND applied to None");
  expect_refused(std::string("\x80\x02(NNNd.", 7), Errc::InvalidArgument, "odd number");
  expect_refused(std::string("\x80\x01N.", 4), Errc::Unsupported, "protocol 1");
  expect_refused(std::string("\x80\x06N.", 4), Errc::Unsupported, "protocol 6");
  expect_refused(std::string("\x80\x02"
                             "ctorch\n",
                             8),
                 Errc::InvalidArgument, "truncated GLOBAL");
  expect_refused(std::string("\x80\x02\x95\xff\xff\xff\xff\x00\x00\x00\x00N.", 13),
                 Errc::InvalidArgument, "FRAME");
}

TEST(PickleHostile, AbsurdTensorArguments) {
  Pickle p;
  p.proto(2).global("torch._utils", "_rebuild_tensor_v2").mark();
  p.storage("FloatStorage", "0", 4)
      .integer(-1)
      .int_tuple({2})
      .int_tuple({1})
      .tuple()
      .reduce()
      .stop();
  expect_refused(p.bytes(), Errc::InvalidArgument, "storage offset must be a non-negative int");
  Pickle q;
  q.proto(2).global("torch._utils", "_rebuild_tensor_v2").mark();
  q.storage("FloatStorage", "0", 4)
      .integer(0)
      .int_tuple({2, 2})
      .int_tuple({1})
      .tuple()
      .reduce()
      .stop();
  expect_refused(q.bytes(), Errc::InvalidArgument, "rank 2 has 1 strides");
}

TEST(PickleHostile, MemoryIsBounded) {
  const PickleLimits small{.max_objects = 100, .max_references = 200};
  auto refused = [&](const std::string& bytes, const std::string& needle) {
    TorchPolicy policy;
    PickleVm vm(bytes, "test.pkl", policy, small);
    try {
      (void)vm.run();
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::InvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr(needle));
    }
  };
  refused("\x80\x02" + std::string(101, 'N') + ".", "more than 100 objects");
  refused("\x80\x02N" + std::string(300, '2') + ".", "more than 200 references");  // DUP
  refused("\x80\x02" + std::string(300, '(') + "N.", "more than 200 references");  // MARK
  std::string memo = "\x80\x02N";
  for (int i = 0; i < 300; ++i) memo += "r" + std::string(reinterpret_cast<const char*>(&i), 4);
  refused(memo + ".", "more than 200 references");  // LONG_BINPUT
  std::string appends = std::string("\x80\x02]q\x00", 5);
  for (int round = 0; round < 2; ++round) {
    appends += "(";
    for (int i = 0; i < 150; ++i) appends += std::string("h\0", 2);
    appends += "e";
  }
  refused(appends + "0.", "more than 200 references");  // APPENDS
}

TEST(PickleVm, DeepNestingDoesNotRecurse) {
  // 200000 nested lists: built and destroyed without recursion.
  std::string s = "\x80\x02";
  for (int i = 0; i < 200000; ++i) s += "]";
  for (int i = 0; i < 199999; ++i) s += "a";
  s += ".";
  Unpickled r(s);
  EXPECT_EQ(r.obj(r.root).kind, Kind::List);
}

}  // namespace
}  // namespace stsw::cvt
