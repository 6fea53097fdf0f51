// `stsw selftest` on a small size: every step passes, the backend is reported, the scratch
// directory is removed, and usage errors exit 2.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <boost/json.hpp>
#include <csignal>
#include <set>

#include "cli/cli_files.hpp"
#include "cli/cli_runner.hpp"

namespace stsw::test {
namespace {

namespace json = boost::json;

json::object run_json(const std::vector<std::string>& args, const RunOptions& o = {}) {
  const auto r = run_stsw(args, o);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto docs = parse_json_lines(r.out);
  EXPECT_EQ(docs.size(), 1u) << r.out;
  return docs.empty() ? json::object{} : docs.front().as_object();
}

TEST(CliSelftest, AllStepsPassAndTheScratchDirIsRemoved) {
  TempDir dir;
  const auto doc =
      run_json({"selftest", "--size", "64M", "--dir", dir.path(), "--json"}, {.timeout_s = 240});
  EXPECT_TRUE(doc.at("passed").as_bool());
  const std::string backend(doc.at("backend").as_string());
  EXPECT_TRUE(backend == "io_uring" || backend == "threads") << backend;
  EXPECT_GE(doc.at("size").to_number<std::uint64_t>(), 63u << 20);
  EXPECT_LE(doc.at("size").to_number<std::uint64_t>(), 64u << 20);
  EXPECT_GE(doc.at("tensor_count").to_number<std::uint64_t>(), 8u);
  std::multiset<std::string> names;
  std::set<std::string> read_modes;
  for (const auto& s : doc.at("steps").as_array()) {
    const std::string name(s.at("name").as_string());
    names.insert(name);
    EXPECT_TRUE(s.at("ok").as_bool()) << name << ": " << s.at("detail").as_string();
    EXPECT_GT(s.at("bytes").to_number<std::uint64_t>(), 0u) << name;
    EXPECT_GT(s.at("mb_per_s").to_number<double>(), 0.0) << name;
    if (name == "read_into") read_modes.insert(std::string(s.at("mode").as_string()));
  }
  EXPECT_EQ(names.count("write"), 1u);
  EXPECT_EQ(names.count("read_into"), 4u);  // direct, buffered, mmap, auto
  EXPECT_EQ(names.count("get_slice"), 1u);
  EXPECT_EQ(names.count("verify"), 1u);
  EXPECT_EQ(names.count("corrupt"), 1u);
  EXPECT_TRUE(read_modes.contains("buffered"));
  EXPECT_TRUE(read_modes.contains("mmap"));
  EXPECT_TRUE(dir.entries().empty()) << "scratch files left behind";
}

TEST(CliSelftest, TextOutputShowsStepsRatesAndBackend) {
  TempDir dir;
  const auto r = run_stsw({"selftest", "--size", "4M", "--dir", dir.path()}, {.timeout_s = 120});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* s :
       {"backend", "write", "read_into", "direct", "buffered", "mmap", "get_slice", "auto",
        "verify", "corrupt", "MB/s", "selftest PASSED: 8 of 8 steps passed"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing from\n" << r.out;
  }
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << "no progress bar in a pipe";
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CliSelftest, ThreadsBackendOnRequest) {
  TempDir dir;
  const auto doc =
      run_json({"selftest", "--size", "2M", "--dir", dir.path(), "--json", "--backend", "threads"},
               {.timeout_s = 120});
  EXPECT_TRUE(doc.at("passed").as_bool());
  EXPECT_EQ(doc.at("backend").as_string(), "threads");
}

// One meaning of "MB"/"GB" across the CLI (stsw::parse_size): decimal, as for convert's
// --max-shard-size; "4M" stays binary.
TEST(CliSelftest, SizeInMBIsDecimal) {
  TempDir dir;
  const auto doc =
      run_json({"selftest", "--size", "4MB", "--dir", dir.path(), "--json"}, {.timeout_s = 120});
  EXPECT_TRUE(doc.at("passed").as_bool());
  EXPECT_LE(doc.at("size").to_number<std::uint64_t>(), 4'000'000u);
  EXPECT_GE(doc.at("size").to_number<std::uint64_t>(), 3'000'000u);
}

TEST(CliSelftest, DefaultDirIsUnderTheCurrentDirectory) {
  TempDir cwd;
  const auto doc = run_json({"selftest", "--size", "1M", "--json", "--seed", "42"},
                            {.cwd = cwd.path(), .timeout_s = 120});
  EXPECT_TRUE(doc.at("passed").as_bool());
  EXPECT_EQ(std::string(doc.at("dir").as_string()).rfind("./.stsw-selftest-", 0), 0u)
      << doc.at("dir");
  EXPECT_EQ(doc.at("seed").to_number<std::uint64_t>(), 42u);
  EXPECT_TRUE(cwd.entries().empty());
}

TEST(CliSelftest, KeepLeavesTheFilesForInspection) {
  TempDir dir;
  const auto doc = run_json({"selftest", "--size", "1M", "--dir", dir.path(), "--json", "--keep"},
                            {.timeout_s = 120});
  EXPECT_TRUE(doc.at("passed").as_bool());
  const auto entries = dir.entries();
  ASSERT_EQ(entries.size(), 1u);
  const std::string file = dir.path() + "/" + entries[0] + "/selftest.safetensors";
  const auto v = run_stsw({"verify", "--strict", "--require-crc", file});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST(CliSelftest, ProgressOnlyOnATerminal) {
  TempDir dir;
  const auto r =
      run_stsw({"selftest", "--size", "2M", "--dir", dir.path()},
               {.env = {{"STSW_PROGRESS_DELAY_MS", "0"}}, .stderr_pty = true, .timeout_s = 120});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("\x1b[K"), std::string::npos);  // drawn on stderr
  EXPECT_EQ(r.out.find("\x1b[K"), std::string::npos);
  EXPECT_NE(r.out.find("PASSED"), std::string::npos);
}

TEST(CliSelftest, InterruptedRunRemovesItsScratchDir) {
  TempDir dir;
  // The step table header is printed just before the write starts.
  const auto r = run_stsw({"selftest", "--size", "256M", "--dir", dir.path()},
                          {.timeout_s = 120, .interrupt_when = "  step "});
  EXPECT_EQ(r.term_signal, SIGINT) << r.out << r.err;
  EXPECT_TRUE(dir.entries().empty()) << dir.entries().front();
}

TEST(CliSelftest, UncreatableScratchDirExitsTwo) {
  // Nobody, root included, may create a directory in /sys.
  const auto r = run_stsw({"selftest", "--size", "1M", "--dir", "/sys"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("Io: create a scratch directory in /sys"), std::string::npos) << r.err;
}

TEST(CliSelftest, UnwritableDirExitsTwo) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0500), 0);
  const auto r = run_stsw({"selftest", "--size", "1M", "--dir", dir.path()});
  ::chmod(dir.path().c_str(), 0700);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
}

TEST(CliSelftest, NotEnoughSpaceExitsTwoBeforeWriting) {
  TempDir dir;
  struct statvfs st {};
  ASSERT_EQ(::statvfs(dir.path().c_str(), &st), 0);
  if (static_cast<double>(st.f_bavail) * st.f_frsize > 1e12) GTEST_SKIP() << "too much space";
  const auto r = run_stsw({"selftest", "--size", "1T", "--dir", dir.path()});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("NoSpace"), std::string::npos) << r.err;
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace stsw::test
