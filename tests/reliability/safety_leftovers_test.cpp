// Leftover hidden copies (issue 20, item 7): a writer killed between linkat and renameat
// leaves `.<name>.stsw-*`; the next writer of that destination removes the ones no live
// writer holds (flock, include/stsw/temp_files.hpp), and `stsw clean DIR` lists and removes
// them in a whole directory. Files of live writers, other names and non-files are kept.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reliability/crash_support.hpp"
#include "reliability/safety_support.hpp"
#include "stsw/error.hpp"
#include "stsw/temp_files.hpp"
#include "writer/target_file.hpp"
#include "writer/temp_names.hpp"
#ifdef STSW_SAFETY_CLI
#include "cli/cli_runner.hpp"
#endif

namespace stsw::reliability {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::string kBase = "model.safetensors";

bool exists(const std::string& path) { return file_type(path) != 0; }

// A child process creates a complete hidden copy the way close() does (O_TMPFILE, locked,
// linked to a hidden name) and dies before the rename. Returns the hidden name.
std::string leftover_of_a_killed_writer(const ScratchDir& dir, const std::string& base) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string name;
    try {
      auto t = writer::TargetFile::create(dir.file(base), IoMode::Buffered, 4, true);
      name = writer::hidden_temp_name(base);
      const std::string proc = "/proc/self/fd/" + std::to_string(t.file().fd());
      if (::pwrite(t.file().fd(), "done", 4, 0) != 4 ||
          ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, dir.file(name).c_str(), AT_SYMLINK_FOLLOW) !=
              0) {
        name.clear();
      }
    } catch (...) {
      name.clear();
    }
    if (::write(fds[1], name.data(), name.size()) < 0) ::_exit(1);
    ::_exit(0);  // dies holding the lock: the kernel drops it
  }
  ::close(fds[1]);
  std::string name;
  char buf[512];
  for (ssize_t r; (r = ::read(fds[0], buf, sizeof buf)) > 0;) name.append(buf, r);
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return name;
}

TEST(SafetyLeftovers, TheNextWriterRemovesAKilledWritersCompleteCopy) {
  ScratchDir dir("safety");
  write_small(dir.file(kBase), 1);
  const std::string name = leftover_of_a_killed_writer(dir, kBase);
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(exists(dir.file(name)));
  EXPECT_EQ(read_text(dir.file(name)), "done");
  write_small(dir.file(kBase), 2);
  EXPECT_FALSE(exists(dir.file(name))) << "the leftover survived the next writer";
  EXPECT_THAT(hidden_files(dir.path()), IsEmpty());
  EXPECT_EQ(verify_file(dir.file(kBase)), "");
}

TEST(SafetyLeftovers, LongNamesLeftoversAreRemovedToo) {
  ScratchDir dir("safety");
  const std::string base = std::string(243, 'L') + ".safetensors";
  const std::string name = leftover_of_a_killed_writer(dir, base);
  ASSERT_FALSE(name.empty());
  EXPECT_LE(name.size(), 255U);
  write_small(dir.file(base), 2);
  EXPECT_FALSE(exists(dir.file(name)));
}

TEST(SafetyLeftovers, LiveWritersAndOtherFilesAreKept) {
  ScratchDir dir("safety");
  // A live writer in this process, on the no-O_TMPFILE path (its hidden name exists now).
  auto live = writer::TargetFile::create(dir.file(kBase), IoMode::Buffered, 4, false);
  const std::vector<std::string> live_names = hidden_files(dir.path());
  ASSERT_EQ(live_names.size(), 1U);
  // A file some other live process holds locked.
  const std::string held = "." + kBase + ".stsw-00000000beef";
  put_text(dir.file(held), "held");
  const int held_fd = ::open(dir.file(held).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::flock(held_fd, LOCK_EX | LOCK_NB), 0);
  // Names that only look similar, another destination's leftover, a symlink and a FIFO at
  // a hidden name: none is this destination's leftover file.
  const std::vector<std::string> others = {"." + kBase + ".stsw-XYZ", kBase + ".stsw-0123456789ab",
                                           "." + kBase + ".stsw-0123456789abc",
                                           ".other.safetensors.stsw-0123456789ab"};
  for (const std::string& o : others) put_text(dir.file(o), "not ours");
  const std::string link = "." + kBase + ".stsw-00000000001c";
  const std::string fifo = "." + kBase + ".stsw-00000000fff0";
  put_text(dir.file("victim"), "precious");
  ASSERT_EQ(::symlink("victim", dir.file(link).c_str()), 0);
  ASSERT_EQ(::mkfifo(dir.file(fifo).c_str(), 0644), 0);
  const std::string dead = "." + kBase + ".stsw-0000000000de";
  put_text(dir.file(dead), "abandoned");

  write_small(dir.file(kBase), 3);  // the next writer of the same destination

  EXPECT_FALSE(exists(dir.file(dead))) << "the abandoned copy was kept";
  EXPECT_TRUE(exists(dir.file(live_names[0]))) << "a live writer's file was removed";
  EXPECT_EQ(read_text(dir.file(held)), "held");
  for (const std::string& o : others) EXPECT_EQ(read_text(dir.file(o)), "not ours") << o;
  EXPECT_EQ(file_type(dir.file(link)), S_IFLNK);
  EXPECT_EQ(file_type(dir.file(fifo)), S_IFIFO);
  EXPECT_EQ(read_text(dir.file("victim")), "precious");
  // The live writer still commits.
  ASSERT_EQ(::pwrite(live.file().fd(), "new!", 4, 0), 4);
  live.commit(false);
  EXPECT_EQ(read_text(dir.file(kBase)), "new!");
  ::close(held_fd);
}

TEST(SafetyLeftovers, CleanTempFilesListsAndRemovesOnlyAbandonedOnes) {
  ScratchDir dir("safety");
  const std::string a = leftover_of_a_killed_writer(dir, "a.safetensors");
  const std::string b = leftover_of_a_killed_writer(dir, "b.safetensors");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  auto live = writer::TargetFile::create(dir.file("c.safetensors"), IoMode::Buffered, 4, false);
  put_text(dir.file("plain.txt"), "x");

  const std::vector<TempFileEntry> listed = clean_temp_files(dir.path(), false);
  ASSERT_EQ(listed.size(), 3U);
  int in_use = 0;
  for (const TempFileEntry& e : listed) {
    EXPECT_FALSE(e.removed);
    in_use += e.in_use ? 1 : 0;
    EXPECT_TRUE(exists(e.path)) << e.path;
  }
  EXPECT_EQ(in_use, 1);

  const std::vector<TempFileEntry> cleaned = clean_temp_files(dir.path(), true);
  ASSERT_EQ(cleaned.size(), 3U);
  for (const TempFileEntry& e : cleaned) {
    EXPECT_NE(e.in_use, e.removed) << e.path;
    EXPECT_EQ(exists(e.path), e.in_use) << e.path;
  }
  EXPECT_TRUE(exists(dir.file("plain.txt")));
  live.discard();
  EXPECT_THAT(hidden_files(dir.path()), IsEmpty());
  try {
    (void)clean_temp_files(dir.file("missing"), true);
    ADD_FAILURE() << "cleaned a missing directory";
  } catch (const Error& e) {
    EXPECT_THAT(e.message(), HasSubstr(dir.file("missing")));
  }
}

#ifdef STSW_SAFETY_CLI
TEST(SafetyLeftovers, StswCleanThroughTheBinary) {
  ScratchDir dir("safety");
  const std::string a = leftover_of_a_killed_writer(dir, "a.safetensors");
  ASSERT_FALSE(a.empty());
  const std::string held = ".b.safetensors.stsw-00000000beef";
  put_text(dir.file(held), "held");
  const int held_fd = ::open(dir.file(held).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::flock(held_fd, LOCK_EX | LOCK_NB), 0);

  const test::RunResult dry = test::run_stsw({"clean", "--dry-run", dir.path()});
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would remove " + dir.file(a)));
  EXPECT_THAT(dry.out, HasSubstr("in use"));
  EXPECT_THAT(dry.out, HasSubstr(held));
  EXPECT_TRUE(exists(dir.file(a)));

  const test::RunResult run = test::run_stsw({"clean", dir.path()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("removed"));
  EXPECT_THAT(run.out, HasSubstr(dir.file(a)));
  EXPECT_FALSE(exists(dir.file(a)));
  EXPECT_TRUE(exists(dir.file(held))) << "a held file was removed";
  ::close(held_fd);

  // Released, it is abandoned and goes.
  const test::RunResult again = test::run_stsw({"clean", dir.path()});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_FALSE(exists(dir.file(held)));

  const test::RunResult missing = test::run_stsw({"clean", dir.file("missing")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr(dir.file("missing")));
}
#endif

}  // namespace
}  // namespace stsw::reliability
