// A real full file system: as root, the test mounts a size-limited tmpfs, a loop-mounted
// ext4 image and a loop-mounted ext2 image (no fallocate there, so the writes themselves
// run out of space), then writes more than fits with StreamWriter (Auto and Buffered I/O)
// and with a sharded dump. Every attempt must end in Errc::NoSpace naming the path, leave
// nothing at the destination and no temporary file, give the space back, and leave a
// previous file at the destination untouched. Skipped (with the reason) when not root or
// when mounting is not permitted (containers).
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "reliability/crash_support.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"

namespace stsw::reliability {
namespace {

using ::testing::HasSubstr;

enum class FsKind { Tmpfs, Ext4, Ext2 };

std::string fs_name(FsKind k) {
  switch (k) {
    case FsKind::Tmpfs: return "tmpfs";
    case FsKind::Ext4: return "ext4";
    case FsKind::Ext2: return "ext2";
  }
  return "?";
}

bool run_quiet(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

class FullFs : public ::testing::TestWithParam<FsKind> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system";
    mnt_ = scratch_.file("mnt");
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    if (GetParam() == FsKind::Tmpfs) {
      if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=8m") != 0) {
        GTEST_SKIP() << "mount -t tmpfs refused here: " << std::strerror(errno);
      }
    } else {
      const std::string mkfs = GetParam() == FsKind::Ext4 ? "mkfs.ext4" : "mkfs.ext2";
      if (!run_quiet("command -v " + mkfs)) GTEST_SKIP() << mkfs << " missing (e2fsprogs)";
      const std::string img = scratch_.file("fs.img");
      if (!run_quiet("truncate -s 24M " + img) || !run_quiet(mkfs + " -q -F " + img)) {
        GTEST_FAIL() << mkfs << " failed on " << img;
      }
      if (!run_quiet("mount -o loop " + img + " " + mnt_)) {
        GTEST_SKIP() << "mount -o loop refused here (no loop devices or no privilege)";
      }
    }
    mounted_ = true;
    dir_ = mnt_ + "/out";
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  }

  void TearDown() override {
    if (!mounted_) return;
    if (::umount(mnt_.c_str()) != 0) {
      ADD_FAILURE() << "umount " << mnt_ << ": " << std::strerror(errno);
      ::umount2(mnt_.c_str(), MNT_DETACH);
    }
  }

  [[nodiscard]] std::uint64_t free_bytes() const {
    struct statvfs s {};
    EXPECT_EQ(::statvfs(mnt_.c_str(), &s), 0);
    return static_cast<std::uint64_t>(s.f_bfree) * s.f_frsize;
  }
  [[nodiscard]] std::uint64_t total_bytes() const {
    struct statvfs s {};
    EXPECT_EQ(::statvfs(mnt_.c_str(), &s), 0);
    return static_cast<std::uint64_t>(s.f_blocks) * s.f_frsize;
  }

  // The free space returns to `before` (blocks of closed unlinked files are freed soon,
  // not always at once).
  void expect_space_back(std::uint64_t before, const std::string& what) {
    std::uint64_t now = free_bytes();
    for (int i = 0; i < 200 && now != before; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ::sync();
      now = free_bytes();
    }
    EXPECT_EQ(now, before) << what << ": " << (static_cast<double>(before) - now) / 1024
                           << " KiB not given back";
  }

  void expect_only(const std::vector<std::string>& names, const std::string& what) {
    std::vector<std::string> got;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      got.push_back(e.path().filename().string());
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, names) << what;
  }

  ScratchDir scratch_{"enospc"};
  std::string mnt_;
  std::string dir_;
  bool mounted_ = false;
};

std::shared_ptr<Engine> small_engine() {
  EngineOptions eo;
  eo.chunk_size = 1 << 20;
  eo.buffer_count = 4;
  return Engine::create(eo);
}

void write_previous(const std::string& path) {
  WriterOptions o;
  o.engine = small_engine();
  const Layout layout = plan_layout({{"old", DType::U8, {100000}}}, LayoutOrder::Keep);
  auto w = StreamWriter::open(path, layout.tensors, o);
  const std::vector<std::byte> data = seeded_bytes(100000, 7);
  w.write_block("old", data).get();
  w.close().get();
}

// Streams `bytes` (a multiple of 1 MiB) into `path`; returns the error, and where it
// surfaced, or fails the test when everything fitted.
Error write_too_much(const std::string& path, std::uint64_t bytes, IoMode mode,
                     std::string& where) {
  WriterOptions o;
  o.engine = small_engine();
  o.io_mode = mode;
  const Layout layout = plan_layout(
      {{"big", DType::U8, {bytes / 2}}, {"big2", DType::F32, {bytes / 8}}}, LayoutOrder::Keep);
  const std::vector<std::byte> block = seeded_bytes(1 << 20, 3);
  where = "open";
  try {
    auto w = StreamWriter::open(path, layout.tensors, o);
    where = "write_block";
    for (const TensorMeta& t : layout.tensors) {
      for (std::uint64_t off = 0; off < t.nbytes(); off += block.size()) {
        w.write_block(t.name, std::span(block).first(
                                  std::min<std::uint64_t>(block.size(), t.nbytes() - off)))
            .get();
      }
    }
    where = "close";
    w.close().get();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "a " << bytes << "-byte file fitted";
  return Error(Errc::Io, "none");
}

TEST_P(FullFs, StreamWriterFailsCleanlyWithNoSpace) {
  const std::string dest = dir_ + "/model.safetensors";
  write_previous(dest);
  const std::vector<std::byte> previous = slurp(dest);
  const std::uint64_t total = total_bytes();
  for (const IoMode mode : {IoMode::Auto, IoMode::Buffered}) {
    const std::string what = fs_name(GetParam()) + " " + std::string(to_string(mode));
    const std::uint64_t before = free_bytes();
    std::string where;
    const Error e = write_too_much(dest, (total / (1 << 20) + 4) << 20, mode, where);
    EXPECT_EQ(e.code(), Errc::NoSpace) << what << ": " << e.what();
    EXPECT_THAT(e.message(), HasSubstr(dest)) << what;
    std::cout << "[ enospc ] " << what << ": NoSpace from " << where << ": " << e.what() << "\n";
    EXPECT_EQ(slurp(dest), previous) << what << ": the previous file changed";
    expect_only({"model.safetensors"}, what);
    expect_space_back(before, what);
  }
  // And with nothing at the destination: nothing appears.
  ASSERT_EQ(::unlink(dest.c_str()), 0);
  const std::uint64_t before = free_bytes();
  std::string where;
  const Error e = write_too_much(dest, (total / (1 << 20) + 4) << 20, IoMode::Auto, where);
  EXPECT_EQ(e.code(), Errc::NoSpace) << e.what();
  expect_only({}, "fresh destination");
  expect_space_back(before, "fresh destination");
}

TEST_P(FullFs, ShardedDumpFailsCleanlyWithNoSpace) {
  const std::string dest = dir_ + "/model.safetensors";
  write_previous(dest);  // a single file at the dump's path: shards never touch it
  const std::vector<std::byte> previous = slurp(dest);
  const std::uint64_t before = free_bytes();
  // Four shards of a quarter of the file system each (plus headers): the last cannot fit.
  const std::uint64_t shard = (total_bytes() / 4 / 4096) * 4096;
  std::vector<std::vector<std::byte>> data;
  std::vector<TensorView> views;
  for (int i = 0; i < 5; ++i) data.push_back(seeded_bytes(shard, i));
  for (int i = 0; i < 5; ++i) {
    views.push_back({"w" + std::to_string(i), DType::U8, {shard}, data[i]});
  }
  DumpOptions o;
  o.engine = small_engine();
  o.max_shard_size = shard;
  o.order = LayoutOrder::Keep;
  try {
    (void)dump(views, dest, o);
    ADD_FAILURE() << "the sharded set fitted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NoSpace) << e.what();
    EXPECT_THAT(e.message(), HasSubstr(dir_ + "/model-0000")) << e.what();
    std::cout << "[ enospc ] " << fs_name(GetParam()) << " dump: " << e.what() << "\n";
  }
  EXPECT_EQ(slurp(dest), previous);
  expect_only({"model.safetensors"}, "after the failed dump: no shard, no index, no temp file");
  expect_space_back(before, "dump");
}

// A sharded dump replacing a set: the new set (three shards of a quarter of the file system
// each) cannot fit beside the previous one (three of an eighth): NoSpace, the previous set
// byte-identical, no new shard, the space given back.
TEST_P(FullFs, ShardedDumpOverASetFailsCleanlyWithNoSpace) {
  const std::string dest = dir_ + "/model.safetensors";
  const std::uint64_t quarter = (total_bytes() / 4 / 4096) * 4096;
  const auto dump_set = [&](std::uint64_t bytes, std::uint32_t seed) {
    std::vector<std::vector<std::byte>> data;
    std::vector<TensorView> views;
    for (std::uint32_t i = 0; i < 3; ++i) data.push_back(seeded_bytes(bytes, seed + i));
    for (std::size_t i = 0; i < 3; ++i) {
      views.push_back({"w" + std::to_string(i), DType::U8, {bytes}, data[i]});
    }
    DumpOptions o;
    o.engine = small_engine();
    o.max_shard_size = bytes;
    o.order = LayoutOrder::Keep;
    (void)dump(views, dest, o);
  };
  dump_set(quarter / 2, 1);
  std::map<std::string, std::vector<std::byte>> previous;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    previous[e.path().filename().string()] = slurp(e.path().string());
  }
  ASSERT_EQ(previous.size(), 4U);  // three shards and the index
  const std::uint64_t before = free_bytes();
  try {
    dump_set(quarter, 10);
    ADD_FAILURE() << "the new set fitted beside the previous one";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::NoSpace) << e.what();
    std::cout << "[ enospc ] " << fs_name(GetParam()) << " dump over a set: " << e.what() << "\n";
  }
  std::vector<std::string> names;
  for (const auto& [name, bytes] : previous) {
    names.push_back(name);
    EXPECT_TRUE(slurp(dir_ + "/" + name) == bytes) << name << " changed";
  }
  expect_only(names, "after the failed dump over a set: the previous set only");
  expect_space_back(before, "dump over a set");
}

// Without root: a failure in the middle of a sharded dump (a directory where shard 2 goes)
// also leaves no shard behind.
TEST(DumpFailure, RemovesTheShardsItPutInPlace) {
  for (const unsigned parallel : {1U, 3U}) {
    ScratchDir dir("enospc");
    ASSERT_EQ(::mkdir(dir.file("model-00002-of-00003.safetensors").c_str(), 0755), 0);
    const std::vector<std::byte> a(3000, std::byte{1});
    DumpOptions o;
    o.engine = small_engine();
    o.max_shard_size = 3000;
    o.parallel_shards = parallel;
    try {
      (void)dump(
          {{"a", DType::U8, {3000}, a}, {"b", DType::U8, {3000}, a}, {"c", DType::U8, {3000}, a}},
          dir.file("model.safetensors"), o);
      ADD_FAILURE() << "dump wrote over a directory";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
    }
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"model-00002-of-00003.safetensors"})
        << "parallel_shards " << parallel;
  }
}

INSTANTIATE_TEST_SUITE_P(Reliability, FullFs,
                         ::testing::Values(FsKind::Tmpfs, FsKind::Ext4, FsKind::Ext2),
                         [](const auto& info) { return fs_name(info.param); });

}  // namespace
}  // namespace stsw::reliability
