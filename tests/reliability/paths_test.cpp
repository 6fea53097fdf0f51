// Security of paths: the writer never follows a symlink planted at its temporary names,
// creates files with mode 0644 minus the umask, replaces a symlink at the destination
// instead of writing through it, and a sharded index may only name plain files in its own
// directory.
//
// The temporary names are random (".<name>.stsw-" + 48 random bits), so an attacker
// cannot plant at them; to test the collision path anyway, the test predicts them: the
// name generator's state is per thread, and a forked child continues the calling thread's
// sequence, so the names it draws are exactly the ones the parent draws next.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "reliability/crash_support.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"
#include "writer/target_file.hpp"

namespace stsw::reliability {
namespace {

using ::testing::HasSubstr;

const std::string kBase = "model.safetensors";

// The next `n` hidden names this thread's generator will draw for `base`.
std::vector<std::string> predict_hidden_names(const std::string& base, int n) {
  (void)writer::hidden_temp_name(base);  // seeds this thread's generator before the fork
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string all;
    for (int i = 0; i < n; ++i) all += writer::hidden_temp_name(base) + "\n";
    const bool ok = ::write(fds[1], all.data(), all.size()) == static_cast<ssize_t>(all.size());
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t r; (r = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, r);
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  std::vector<std::string> names;
  for (std::size_t p = 0, q; (q = text.find('\n', p)) != std::string::npos; p = q + 1) {
    names.push_back(text.substr(p, q - p));
  }
  return names;
}

std::string read_text(const std::string& path) {
  const std::vector<std::byte> b = slurp(path);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void put_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool is_regular(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Writes a small valid file with a private engine.
void write_small(const std::string& path, std::uint8_t fill) {
  EngineOptions eo;
  eo.chunk_size = 64 * 1024;
  eo.buffer_count = 2;
  WriterOptions o;
  o.engine = Engine::create(eo);
  const Layout layout = plan_layout({{"t", DType::U8, {5000}}}, LayoutOrder::Keep);
  auto w = StreamWriter::open(path, layout.tensors, o);
  const std::vector<std::byte> data(5000, std::byte{fill});
  w.write_block("t", data).get();
  w.close().get();
}

// Plants symlinks to `victim` at the next five hidden names, runs `make` (which draws hidden
// names on this thread), and checks that the victim is unchanged and that the sixth name was
// used (so the planted names were really drawn and refused).
template <class Make>
void run_with_planted_symlinks(const ScratchDir& dir, const std::string& victim, Make make) {
  const std::string before = read_text(victim);
  const std::vector<std::string> names = predict_hidden_names(kBase, 8);
  ASSERT_EQ(names.size(), 8U);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(::symlink(victim.c_str(), dir.file(names[i]).c_str()), 0) << names[i];
  }
  make(names[5]);
  EXPECT_EQ(read_text(victim), before) << "written through a planted symlink";
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(is_symlink(dir.file(names[i]))) << names[i];
}

TEST(PathSecurity, FallbackTempNameNeverFollowsAPlantedSymlink) {
  ScratchDir dir("paths");
  const std::string victim = dir.file("victim");
  put_text(victim, "precious");
  run_with_planted_symlinks(dir, victim, [&](const std::string& expected_name) {
    auto t = writer::TargetFile::create(dir.file(kBase), IoMode::Buffered, 4, false);
    EXPECT_FALSE(t.anonymous());
    EXPECT_TRUE(is_regular(dir.file(expected_name))) << "the sixth predicted name was not used";
    ASSERT_EQ(::pwrite(t.file().fd(), "new!", 4, 0), 4);
    t.commit(false);
  });
  EXPECT_TRUE(is_regular(dir.file(kBase)));
  EXPECT_EQ(read_text(dir.file(kBase)), "new!");
}

TEST(PathSecurity, TmpfileLinkNeverFollowsAPlantedSymlink) {
  ScratchDir dir("paths");
  const std::string victim = dir.file("victim");
  put_text(victim, "precious");
  auto t = writer::TargetFile::create(dir.file(kBase), IoMode::Buffered, 4, true);
  if (!t.anonymous()) GTEST_SKIP() << "no O_TMPFILE on " << dir.path();
  ASSERT_EQ(::pwrite(t.file().fd(), "new!", 4, 0), 4);
  run_with_planted_symlinks(dir, victim, [&](const std::string&) { t.commit(true); });
  EXPECT_TRUE(is_regular(dir.file(kBase)));
  EXPECT_EQ(read_text(dir.file(kBase)), "new!");
}

// Another live writer's temporary file (it holds the flock of live writers, so the
// removal of abandoned leftovers keeps it).
TEST(PathSecurity, AnExistingFileAtATempNameIsNeverTruncated) {
  ScratchDir dir("paths");
  const std::vector<std::string> names = predict_hidden_names(kBase, 3);
  put_text(dir.file(names[0]), "someone else's temp file");
  const int held = ::open(dir.file(names[0]).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  auto t = writer::TargetFile::create(dir.file(kBase), IoMode::Buffered, 4, false);
  ::close(held);
  EXPECT_EQ(read_text(dir.file(names[0])), "someone else's temp file");
  EXPECT_TRUE(is_regular(dir.file(names[1])));
  t.discard();
  EXPECT_FALSE(is_regular(dir.file(names[1]))) << "discard() left its temp name";
  EXPECT_TRUE(is_regular(dir.file(names[0]))) << "discard() removed a name it did not create";
}

TEST(PathSecurity, ASymlinkAtTheDestinationIsReplacedNotWrittenThrough) {
  ScratchDir dir("paths");
  const std::string victim = dir.file("victim.safetensors");
  write_small(victim, 1);
  const std::string before = read_text(victim);
  ASSERT_EQ(::symlink("victim.safetensors", dir.file(kBase).c_str()), 0);
  write_small(dir.file(kBase), 2);
  EXPECT_TRUE(is_regular(dir.file(kBase))) << "the destination is still a symlink";
  EXPECT_EQ(read_text(victim), before) << "written through the destination symlink";
  EXPECT_EQ(verify_file(dir.file(kBase)), "");
  EXPECT_NE(read_text(dir.file(kBase)), before);
}

TEST(PathSecurity, DanglingAndDirectorySymlinksAtTheDestinationAreReplaced) {
  ScratchDir dir("paths");
  ASSERT_EQ(::mkdir(dir.file("sub").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("nowhere", dir.file("dangling.safetensors").c_str()), 0);
  ASSERT_EQ(::symlink("sub", dir.file("todir.safetensors").c_str()), 0);
  write_small(dir.file("dangling.safetensors"), 3);
  write_small(dir.file("todir.safetensors"), 4);
  EXPECT_TRUE(is_regular(dir.file("dangling.safetensors")));
  EXPECT_TRUE(is_regular(dir.file("todir.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("nowhere")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.file("sub")));
  // A real directory is still refused.
  try {
    write_small(dir.file("sub"), 5);
    ADD_FAILURE() << "wrote over a directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
  }
}

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

TEST(PathSecurity, FilesAreCreated0644MinusTheUmask) {
  for (const mode_t mask : {mode_t{022}, mode_t{077}, mode_t{002}, mode_t{0}}) {
    ScratchDir dir("paths");
    const unsigned want = 0644 & ~mask;
    ScopedUmask scoped(mask);
    write_small(dir.file(kBase), 1);
    EXPECT_EQ(mode_of(dir.file(kBase)), want) << "umask " << std::oct << mask;
    // Replacing a file does not keep its mode: the new file gets 0644 minus the umask.
    ASSERT_EQ(::chmod(dir.file(kBase).c_str(), 0600), 0);
    write_small(dir.file(kBase), 2);
    EXPECT_EQ(mode_of(dir.file(kBase)), want) << "umask " << std::oct << mask;
    // The fallback (a hidden name instead of O_TMPFILE).
    auto t = writer::TargetFile::create(dir.file("fallback"), IoMode::Buffered, 1, false);
    t.commit(false);
    EXPECT_EQ(mode_of(dir.file("fallback")), want) << "umask " << std::oct << mask;
    // Shards and the index of a sharded dump.
    const std::vector<std::byte> a(3000, std::byte{1}), b(3000, std::byte{2});
    DumpOptions o;
    o.max_shard_size = 4000;
    o.engine = Engine::create(EngineOptions{.chunk_size = 64 * 1024, .buffer_count = 2});
    const DumpResult r = dump({{"a", DType::U8, {3000}, a}, {"b", DType::U8, {3000}, b}},
                              dir.file("sharded.safetensors"), o);
    ASSERT_TRUE(r.index.has_value());
    EXPECT_EQ(mode_of(*r.index), want) << "umask " << std::oct << mask;
    for (const std::string& f : r.files) EXPECT_EQ(mode_of(f), want) << f;
  }
}

// ---- the reader side: shard names --------------------------------------------------------

// An index in dir/sub naming `shard` for tensor "t"; the file the name would reach exists
// and is valid, so only the name can be the reason for a refusal.
Error open_index_naming(const ScratchDir& dir, const std::string& shard) {
  const std::string index = dir.file("sub/model.safetensors.index.json");
  put_text(index, R"({"metadata":{"total_size":5000},"weight_map":{"t":")" + shard + R"("}})");
  try {
    ReaderOptions o;
    o.engine = check_engine();
    (void)StreamReader::open(index, o);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "opened an index naming '" << shard << "'";
  return Error(Errc::Io, "none");
}

TEST(PathSecurity, IndexShardNamesMustBePlainFilesInTheIndexDirectory) {
  ScratchDir dir("paths");
  ASSERT_EQ(::mkdir(dir.file("sub").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(dir.file("sub/a").c_str(), 0755), 0);
  write_small(dir.file("outside.safetensors"), 1);
  write_small(dir.file("sub/a/b.safetensors"), 1);
  write_small(dir.file("sub/plain.safetensors"), 1);
  const std::vector<std::string> bad = {"../outside.safetensors",
                                        dir.file("outside.safetensors"),
                                        "a/b.safetensors",
                                        "./plain.safetensors",
                                        "a/../plain.safetensors",
                                        "",
                                        ".",
                                        "..",
                                        "a/",
                                        "/"};
  for (const std::string& name : bad) {
    const Error e = open_index_naming(dir, name);
    EXPECT_EQ(e.code(), Errc::InvalidIndex) << "'" << name << "': " << e.what();
    EXPECT_THAT(e.message(), HasSubstr("model.safetensors.index.json")) << name;
  }
  // The same set with a plain name opens.
  put_text(dir.file("sub/model.safetensors.index.json"),
           R"({"metadata":{"total_size":5000},"weight_map":{"t":"plain.safetensors"}})");
  EXPECT_EQ(verify_file(dir.file("sub/model.safetensors.index.json")), "");
}

}  // namespace
}  // namespace stsw::reliability
