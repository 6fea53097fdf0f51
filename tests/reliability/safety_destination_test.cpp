// The destination rules of every file stsw creates (issue 20, items 1, 5 and 8):
//  - only nothing, a regular file or a symlink may be at the destination; a device node, a
//    FIFO or a socket is refused (InvalidArgument naming the path and its type) before any
//    data is written, and left as it was;
//  - names up to the file system's limit work: the hidden temporary name always fits;
//    a name over the limit fails in open();
//  - errors about the destination name the destination, not the input or a bare ".".
// Device nodes are private ones made with mknod in a scratch directory (root only).
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "reliability/crash_support.hpp"
#include "reliability/safety_support.hpp"
#include "stsw/convert.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "writer/target_file.hpp"
#include "writer/temp_names.hpp"
#ifdef STSW_SAFETY_CLI
#include "cli/cli_runner.hpp"
#endif

namespace stsw::reliability {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Node {
  const char* kind;  // as the error names it
  mode_t type;
};

// Makes a node of `type` at `path`; returns "" or why it could not.
std::string make_node(const std::string& path, mode_t type) {
  if (type == S_IFIFO) return ::mkfifo(path.c_str(), 0644) == 0 ? "" : "mkfifo failed";
  if (type == S_IFSOCK) {
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return "socket path too long";
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    const int rc = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(s);  // the socket file stays
    return rc == 0 ? "" : "bind failed";
  }
  if (::geteuid() != 0) return "mknod of a device node needs root";
  // The null device's numbers (1,3) and a loop device's (7,0), at a private path.
  const dev_t dev = type == S_IFCHR ? makedev(1, 3) : makedev(7, 0);
  if (::mknod(path.c_str(), type | 0644, dev) != 0) {
    return std::string("mknod refused here: ") + std::strerror(errno);
  }
  return "";
}

const std::vector<Node> kNodes = {{"character device", S_IFCHR},
                                  {"block device", S_IFBLK},
                                  {"FIFO", S_IFIFO},
                                  {"socket", S_IFSOCK}};

void expect_refused(const std::string& path, const Node& n, const std::function<void()>& make) {
  try {
    make();
    ADD_FAILURE() << "wrote over a " << n.kind << " at " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
    EXPECT_THAT(e.message(), HasSubstr(path));
    EXPECT_THAT(e.message(), HasSubstr(n.kind));
  }
  EXPECT_EQ(file_type(path), n.type) << n.kind << " at " << path << " was replaced";
}

TEST(SafetyDestination, SpecialFilesAreRefusedByEveryWriter) {
  ScratchDir dir("safety");
  int made = 0;
  for (const Node& n : kNodes) {
    const std::string path = dir.file(std::string("node-") + std::to_string(n.type));
    if (const std::string why = make_node(path, n.type); !why.empty()) {
      std::cout << "[ skipped ] " << n.kind << ": " << why << "\n";
      continue;
    }
    ++made;
    expect_refused(path, n, [&] { write_small(path, 7); });
    expect_refused(path, n, [&] {
      const std::vector<std::byte> a(100, std::byte{1});
      DumpOptions o;
      o.engine = small_engine();
      (void)dump({{"a", DType::U8, {100}, a}}, path, o);
    });
    expect_refused(path, n, [&] {
      (void)writer::TargetFile::create(path, IoMode::Buffered, 10, false);  // fallback
    });
    const std::string npy = dir.file("in.npy");
    put_text(npy, npy_f32(64));
    expect_refused(path, n, [&] { (void)convert(npy, path, ConvertOptions{}); });
    EXPECT_THAT(hidden_files(dir.path()), ::testing::IsEmpty()) << n.kind;
  }
  if (made < 4) {
    if (made == 0) GTEST_SKIP() << "no special file could be made here";
    std::cout << "[ note ] only " << made << " of 4 node kinds could be made here\n";
  }
}

// A FIFO at one name of a sharded set: dump() refuses it and leaves it in place.
void expect_sharded_dump_refuses_fifo_at(const std::string& name) {
  ScratchDir dir("safety");
  const std::string fifo = dir.file(name);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const std::vector<std::byte> a(3000, std::byte{1}), b(3000, std::byte{2});
  DumpOptions o;
  o.max_shard_size = 4000;
  o.engine = small_engine();
  expect_refused(fifo, {"FIFO", S_IFIFO}, [&] {
    (void)dump({{"a", DType::U8, {3000}, a}, {"b", DType::U8, {3000}, b}},
               dir.file("model.safetensors"), o);
  });
  EXPECT_THAT(hidden_files(dir.path()), ::testing::IsEmpty()) << name;
}

// The sharded-set writer creates its shards through the same rule.
TEST(SafetyDestination, ShardsRefuseAFifo) {
  expect_sharded_dump_refuses_fifo_at("model-00001-of-00002.safetensors");
  expect_sharded_dump_refuses_fifo_at("model-00002-of-00002.safetensors");
}

// The index too: the sharded-set writer reads the previous index (refusing anything but a
// regular file) and publishes the new one through the same rule.
TEST(SafetyDestination, TheIndexRefusesAFifo) {
  expect_sharded_dump_refuses_fifo_at("model.safetensors.index.json");
}

TEST(SafetyDestination, ANodeAppearingBeforeTheRenameIsNotReplaced) {
  ScratchDir dir("safety");
  const std::string path = dir.file("model.safetensors");
  for (const bool tmpfile : {true, false}) {
    auto t = writer::TargetFile::create(path, IoMode::Buffered, 4, tmpfile);
    ASSERT_EQ(::pwrite(t.file().fd(), "new!", 4, 0), 4);
    ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
    try {
      t.commit(false);
      ADD_FAILURE() << "renamed over a FIFO";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
    }
    EXPECT_EQ(file_type(path), S_IFIFO);
    t.discard();
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
  EXPECT_THAT(hidden_files(dir.path()), ::testing::IsEmpty());
}

#ifdef STSW_SAFETY_CLI
TEST(SafetyDestination, ConvertRefusesASpecialFileThroughTheBinary) {
  ScratchDir dir("safety");
  put_text(dir.file("in.npy"), npy_f32(1024));
  int made = 0;
  for (const Node& n : kNodes) {
    const std::string path = dir.file(std::string("node-") + std::to_string(n.type));
    if (const std::string why = make_node(path, n.type); !why.empty()) {
      std::cout << "[ skipped ] " << n.kind << ": " << why << "\n";
      continue;
    }
    ++made;
    const test::RunResult r = test::run_stsw({"convert", dir.file("in.npy"), path});
    EXPECT_EQ(r.exit_code, 2) << n.kind << "\n" << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("InvalidArgument"));
    EXPECT_THAT(r.err, HasSubstr(path));
    EXPECT_THAT(r.err, HasSubstr(n.kind));
    EXPECT_EQ(file_type(path), n.type) << n.kind << " was replaced";
  }
  if (made == 0) GTEST_SKIP() << "no special file could be made here";
  EXPECT_THAT(hidden_files(dir.path()), ::testing::IsEmpty());
}
#endif

// ---- item 5: long names -------------------------------------------------------------------

TEST(SafetyDestination, HiddenNamesFitWheneverTheNameFits) {
  for (std::size_t len = 1; len <= 255; ++len) {
    const std::string base(len, 'x');
    const std::string name = writer::hidden_temp_name(base);
    EXPECT_LE(name.size(), 255U) << len;
    EXPECT_TRUE(writer::is_hidden_temp_name(name, writer::hidden_temp_prefix(base))) << len;
    EXPECT_TRUE(writer::is_hidden_temp_name(name)) << len;
  }
  // Long names differing only at their end get different shortened prefixes.
  const std::string a = std::string(250, 'm') + ".safe", b = std::string(250, 'm') + ".sAfe";
  EXPECT_NE(writer::hidden_temp_prefix(a), writer::hidden_temp_prefix(b));
  // The cut never splits a UTF-8 character.
  const std::string u = std::string(226, 'a') + "\xC3\xA9" + std::string(27, 'b');
  const std::string p = writer::hidden_temp_prefix(u);
  EXPECT_EQ(p.substr(0, 228), "." + std::string(226, 'a') + "~");
}

TEST(SafetyDestination, NamesOf237To255BytesAreWritten) {
  ScratchDir dir("safety");
  for (const std::size_t len : {236U, 237U, 240U, 254U, 255U}) {
    const std::string base = std::string(len - 12, 'n') + ".safetensors";
    ASSERT_EQ(base.size(), len);
    write_small(dir.file(base), 3);
    EXPECT_EQ(verify_file(dir.file(base)), "") << len;
    write_small(dir.file(base), 4);  // replacing, too
    auto t = writer::TargetFile::create(dir.file(base), IoMode::Buffered, 4, false);
    ASSERT_EQ(::pwrite(t.file().fd(), "new!", 4, 0), 4);
    t.commit(false);
    EXPECT_EQ(read_text(dir.file(base)), "new!") << len;
    ASSERT_EQ(::unlink(dir.file(base).c_str()), 0);
  }
  EXPECT_THAT(hidden_files(dir.path()), ::testing::IsEmpty());
}

TEST(SafetyDestination, ANameOverTheLimitFailsInOpen) {
  ScratchDir dir("safety");
  const std::string path = dir.file(std::string(256, 'n'));
  WriterOptions o;
  o.engine = small_engine();
  const Layout layout = plan_layout({{"t", DType::U8, {10}}}, LayoutOrder::Keep);
  try {
    (void)StreamWriter::open(path, layout.tensors, o);
    ADD_FAILURE() << "opened a 256-byte name";
  } catch (const Error& e) {
    EXPECT_EQ(e.sys_errno(), ENAMETOOLONG) << e.what();
    EXPECT_THAT(e.message(), HasSubstr(path));
  }
  EXPECT_THAT(dir.entries(), ::testing::IsEmpty());
}

// ---- item 8: errors name the destination --------------------------------------------------

// In an unprivileged child, in a directory it may not write, with a relative destination
// (the directory is then "."): the error names the destination.
TEST(SafetyDestination, APermissionErrorNamesTheDestination) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
  ScratchDir dir("safety");
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg = "no error";
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0 || ::chdir(dir.path().c_str()) != 0) {
      msg = "SKIP";
    } else {
      for (const bool tmpfile : {true, false}) {
        try {
          (void)writer::TargetFile::create("model.safetensors", IoMode::Buffered, 4, tmpfile);
        } catch (const Error& e) {
          msg = (msg == "no error" ? "" : msg + "\n") + e.what();
        }
      }
    }
    const bool ok = ::write(fds[1], msg.data(), msg.size()) == static_cast<ssize_t>(msg.size());
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  std::string got;
  char buf[512];
  for (ssize_t r; (r = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, r);
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (got == "SKIP") GTEST_SKIP() << "could not drop privileges";
  const std::size_t nl = got.find('\n');
  ASSERT_NE(nl, std::string::npos) << got;
  for (const std::string& m : {got.substr(0, nl), got.substr(nl + 1)}) {
    EXPECT_THAT(m, HasSubstr("model.safetensors")) << m;
    EXPECT_THAT(m, HasSubstr("Permission denied")) << m;
    EXPECT_THAT(m, Not(HasSubstr(".stsw-"))) << m;
  }
}

#ifdef STSW_SAFETY_CLI
TEST(SafetyDestination, ConvertErrorsAboutTheOutputNameTheOutput) {
  ScratchDir dir("safety");
  put_text(dir.file("good.npy"), npy_f32(16));
  put_text(dir.file("plain.txt"), "a file, not a directory");
  test::RunOptions ro;
  ro.cwd = dir.path();
  const test::RunResult r =
      test::run_stsw({"convert", "good.npy", "plain.txt/out.safetensors"}, ro);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("plain.txt/out.safetensors"));
  EXPECT_THAT(r.err, Not(HasSubstr("good.npy"))) << "the input named for an output error";
  // An error about the input still names the input.
  const test::RunResult bad = test::run_stsw({"convert", "missing.npy", "out.safetensors"}, ro);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("missing.npy"));
}
#endif

}  // namespace
}  // namespace stsw::reliability
