// stsw::convert on hostile and broken PyTorch archives: nothing in them may run, every
// refusal names its cause, and a previous output file survives.
#include "convert/convert_fixture.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

TEST_F(Convert, HostilePicklesExecuteNothing) {
  const std::string marker = dir_.file("marker");
  const std::string cmd = "touch " + marker;
  Pickle sys;
  sys.proto(2).global("posix", "system").mark().str(cmd).tuple().reduce().stop();
  expect_refused(torch_zip(sys.bytes(), {}), Errc::Unsupported, "pickle global 'posix.system'");
  Pickle os;
  os.proto(2).empty_dict().mark().str("w").global("os", "system").mark().str(cmd).tuple().reduce();
  os.setitems().stop();
  expect_refused(torch_zip(os.bytes(), {}), Errc::Unsupported, "'os.system'");
  Pickle stack;  // protocol 4: STACK_GLOBAL builtins.exec
  stack.proto(4).op(0x8c).byte(8).raw("builtins").op(0x8c).byte(4).raw("exec").op(0x93);
  stack.mark().str("open('" + marker + "','w')").tuple().reduce().stop();
  expect_refused(torch_zip(stack.bytes(), {}), Errc::Unsupported, "'builtins.exec'");
  Pickle inst;  // INST: instantiate os.system directly
  inst.proto(2).mark().str(cmd).raw("ios\nsystem\n").stop();
  expect_refused(torch_zip(inst.bytes(), {}), Errc::Unsupported, "(INST)");
  Pickle sub;  // subprocess via a tensor's storage slot
  sub.proto(2).global("subprocess", "check_call").mark().mark().str("sh").str("-c").str(cmd);
  sub.op('l').tuple().reduce().stop();
  expect_refused(torch_zip(sub.bytes(), {}), Errc::Unsupported, "'subprocess.check_call'");
  expect_refused(torch_zip(std::string("\x80\x02\xfe.", 4), {}), Errc::Unsupported,
                 "opcode 0xfe (unknown)");
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a hostile pickle ran code";
}

TEST_F(Convert, CorruptArchives) {
  Pickle p;
  p.proto(2).empty_dict().mark().str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.setitems().stop();
  const std::string good = torch_zip(p.bytes(), {f32_bytes({1, 2, 3, 4})});
  expect_refused(good.substr(0, good.size() - 30), Errc::InvalidArgument, "corrupt zip");
  expect_refused(good.substr(0, 200), Errc::InvalidArgument, "");
  std::string outside = good;
  const std::size_t cd = outside.find("PK\x01\x02");
  outside[cd + 42] = 0x7F;  // first entry's local header offset far beyond the data
  outside[cd + 43] = 0x7F;
  expect_refused(outside, Errc::InvalidArgument, "outside the file");
  // A storage entry missing from the archive.
  expect_refused(torch_zip(p.bytes(), {}), Errc::InvalidArgument, "no entry 'archive/data/0'");
  // A zip without data.pkl and without .npy members.
  expect_refused(make_zip({{"readme.txt", "hi", false}}), Errc::InvalidArgument,
                 "neither a torch.save checkpoint");
  expect_refused("garbage that is no checkpoint at all", Errc::InvalidArgument,
                 "unrecognized input format");
}

TEST_F(Convert, AbsurdSizes) {
  Pickle huge;  // a view far beyond its storage
  huge.proto(2).empty_dict().mark().str("w");
  huge.tensor("FloatStorage", "0", 1ULL << 60, 0, {1ULL << 40, 1ULL << 10}, {1ULL << 10, 1});
  huge.setitems().stop();
  expect_refused(torch_zip(huge.bytes(), {f32_bytes({1, 2})}), Errc::InvalidArgument,
                 "tensor 'w' needs bytes [0, 4503599627370496) of storage '0'");
  Pickle over;  // shape whose byte size overflows 64 bits
  over.proto(2).empty_dict().mark().str("w");
  over.tensor("FloatStorage", "0", 2, 0, {1ULL << 62, 8}, {0, 0});
  over.setitems().stop();
  expect_refused(torch_zip(over.bytes(), {f32_bytes({1, 2})}), Errc::InvalidArgument,
                 "overflows 64 bits");
  Pickle offset;  // storage offset beyond the storage
  offset.proto(2).empty_dict().mark().str("w");
  offset.tensor("FloatStorage", "0", 2, 9, {1}, {1});
  offset.setitems().stop();
  expect_refused(torch_zip(offset.bytes(), {f32_bytes({1, 2})}), Errc::InvalidArgument,
                 "needs bytes [0, 40)");
  // data.pkl claiming a terabyte (ZIP64 sizes).
  std::string z = torch_zip(huge.bytes(), {}, {.zip64 = true});
  const std::size_t cd = z.find("PK\x01\x02");
  const std::size_t ex =
      cd + 46 + std::string("archive/data.pkl").size() + 4;  // usize in zip64 extra
  for (int i = 0; i < 8; ++i) z[ex + i] = i == 5 ? 1 : 0;    // 2^40
  expect_refused(z, Errc::InvalidArgument, "exceeds the limit");
}

TEST_F(Convert, UnsupportedTorchDtype) {
  Pickle p;
  p.proto(2).empty_dict().mark().str("z").tensor("ComplexDoubleStorage", "0", 1, 0, {1}, {1});
  p.setitems().stop();
  expect_refused(torch_zip(p.bytes(), {std::string(16, '\0')}), Errc::Unsupported,
                 "tensor 'z' has storage type ComplexDoubleStorage");
  Pickle q;
  q.proto(2).empty_dict().mark().str("__metadata__").tensor("FloatStorage", "0", 1, 0, {1}, {1});
  q.setitems().stop();
  expect_refused(torch_zip(q.bytes(), {f32_bytes({1})}), Errc::InvalidName, "__metadata__");
}

}  // namespace
}  // namespace stsw
