// "fio copy" (fio_copy.hpp): the two-job command line, its JSON report, the copy's rate,
// and the report's choice of reference for a row that names one (the convert row).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fio_copy.hpp"
#include "process.hpp"
#include "report.hpp"
#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

std::vector<std::string> after(const std::vector<std::string>& argv, const std::string& from,
                               const std::string& to = {}) {
  auto b = std::find(argv.begin(), argv.end(), from);
  auto e = to.empty() ? argv.end() : std::find(b, argv.end(), to);
  return {b, e};
}

bool has(const std::vector<std::string>& v, const std::string& a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}

FioJob write_shape() {
  FioJob j;
  j.filename = "/x/old-target";
  j.write = true;
  j.size = 1;
  j.block_size = 4U << 20;
  j.iodepth = 32;
  j.fixed_buffers = true;
  j.register_files = true;
  j.direct = true;
  return j;
}

TEST(FioCopy, JobTakesTheWriteShapeForBothDirections) {
  const FioCopyJob c = fio_copy_job(write_shape(), "/x/in", "/x/out", 100U << 20);
  EXPECT_EQ(c.read.filename, "/x/in");
  EXPECT_FALSE(c.read.write);
  EXPECT_TRUE(c.read.direct);
  EXPECT_TRUE(c.read.invalidate);
  EXPECT_EQ(c.write.filename, "/x/out");
  EXPECT_TRUE(c.write.write);
  for (const FioJob* j : {&c.read, &c.write}) {
    EXPECT_EQ(j->size, 100U << 20);
    EXPECT_EQ(j->block_size, 4U << 20);
    EXPECT_EQ(j->iodepth, 32U);
    EXPECT_TRUE(j->fixed_buffers && j->register_files);
  }
}

TEST(FioCopy, CommandRunsTwoJobsInTheirOwnReportingGroups) {
  FioCopyJob c = fio_copy_job(write_shape(), "/x/in", "/x/out", 24U << 20);
  const auto argv = fio_copy_command("fio", c);
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], "fio");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--output-format=json"), 1);
  const auto read = after(argv, "--name=stsw-bench-read", "--name=stsw-bench-write");
  const auto write = after(argv, "--name=stsw-bench-write");
  ASSERT_FALSE(read.empty());
  ASSERT_FALSE(write.empty());
  EXPECT_TRUE(has(read, "--filename=/x/in"));
  EXPECT_TRUE(has(read, "--rw=read"));
  EXPECT_FALSE(has(read, "--end_fsync=1"));
  EXPECT_TRUE(has(write, "--filename=/x/out"));
  EXPECT_TRUE(has(write, "--rw=write"));
  EXPECT_TRUE(has(write, "--end_fsync=1"));  // durable, like the convert row
  EXPECT_TRUE(has(write, "--new_group"));    // jobs[1] of the report is the write
  for (const auto* j : {&read, &write}) {
    EXPECT_TRUE(has(*j, "--direct=1"));
    EXPECT_TRUE(has(*j, "--bs=" + std::to_string(4U << 20)));
    EXPECT_TRUE(has(*j, "--iodepth=32"));
    EXPECT_TRUE(has(*j, "--fixedbufs=1"));
    EXPECT_TRUE(has(*j, "--registerfiles=1"));
    EXPECT_TRUE(has(*j, "--size=" + std::to_string(24U << 20)));
    EXPECT_EQ(std::count(j->begin(), j->end(), "--group_reporting=1"), 1);
  }
  // Two jobs per direction (the sweep's 2-job shape): still one report entry each.
  c.read.numjobs = c.write.numjobs = 2;
  const auto two = fio_copy_command("fio", c);
  EXPECT_EQ(std::count(two.begin(), two.end(), "--group_reporting=1"), 2);
  EXPECT_EQ(std::count(two.begin(), two.end(), "--numjobs=2"), 2);
}

// A recorded fio 3.33 report of a copy (trimmed): the read group first, then the write.
constexpr const char* kCopyJson = R"(stsw-bench-read : Saving output of prerun in x
{
  "fio version" : "fio-3.33",
  "jobs" : [
    { "jobname" : "stsw-bench-read", "groupid" : 0, "error" : 0, "job_runtime" : 2000,
      "usr_cpu" : 1.0, "sys_cpu" : 9.0,
      "read" : { "io_bytes" : 1073741824, "bw_bytes" : 536870912, "runtime" : 2000 },
      "write" : { "io_bytes" : 0, "bw_bytes" : 0, "runtime" : 0 } },
    { "jobname" : "stsw-bench-write", "groupid" : 1, "error" : 0, "job_runtime" : 2500,
      "usr_cpu" : 2.0, "sys_cpu" : 18.0,
      "read" : { "io_bytes" : 0, "bw_bytes" : 0, "runtime" : 0 },
      "write" : { "io_bytes" : 1073741824, "bw_bytes" : 429496729, "runtime" : 2500 } }
  ]
})";

TEST(FioCopy, ParsesTheReadJobAndTheWriteJob) {
  const FioCopyStats s = parse_fio_copy_json(kCopyJson);
  EXPECT_EQ(s.read.io_bytes, 1073741824U);
  EXPECT_DOUBLE_EQ(s.read.io_seconds, 2.0);
  EXPECT_EQ(s.write.io_bytes, 1073741824U);
  EXPECT_DOUBLE_EQ(s.write.io_seconds, 2.5);
  EXPECT_DOUBLE_EQ(s.write.sys_cpu_pct, 18.0);
  // The single-job parser reads any job of the report by its index.
  EXPECT_EQ(parse_fio_json(kCopyJson, true, 1).io_bytes, 1073741824U);
  EXPECT_EQ(parse_fio_json(kCopyJson, true, 0).io_bytes, 0U);
  // A report with one job is not a copy's.
  constexpr const char* kOne = R"({"jobs": [{"error": 0, "read": {"io_bytes": 1, "runtime": 1},
      "write": {"io_bytes": 0, "runtime": 0}}]})";
  EXPECT_THROW((void)parse_fio_copy_json(kOne), Error);
  EXPECT_THROW((void)parse_fio_copy_json("fio: failed"), Error);
}

TEST(FioCopy, RateIsBytesOverTheLongerOwnRuntime) {
  FioCopyStats s = parse_fio_copy_json(kCopyJson);
  EXPECT_EQ(s.bytes(), 1073741824U);
  EXPECT_DOUBLE_EQ(s.seconds(), 2.5);  // the write ran longer
  s.read.io_seconds = 3.0;
  EXPECT_DOUBLE_EQ(s.seconds(), 3.0);  // now the read
  s.read.io_bytes = 1000;              // a short read: only what both moved was copied
  EXPECT_EQ(s.bytes(), 1000U);
  s.read.io_seconds = 0;  // no runtime: from fio's own bandwidth
  s.write.io_seconds = 0;
  EXPECT_DOUBLE_EQ(s.seconds(), 1073741824.0 / 429496729.0);
}

TEST(FioCopy, ConvertRowIsComparedWithFioCopyAndWritesWithFioBest) {
  BenchReport rep;
  rep.config.repetitions = 1;
  auto row = [](const std::string& id, std::string impl, double secs, std::string ref = {}) {
    Row r{Workload::Write, id, id + " label", std::move(impl), {}, {}, {}, std::move(ref)};
    Sample x;
    x.seconds = secs;
    x.bytes = 1'000'000'000;
    r.samples.push_back(x);
    r.ok.push_back(true);
    return r;
  };
  rep.rows.push_back(row("stsw-write", "stsw", 1.0));
  rep.rows.push_back(row("stsw-convert", "stsw", 4.0, "fio-copy"));
  rep.rows.push_back(row("fio-best-write", "fio", 0.5));
  rep.rows.push_back(row("fio-copy", "fio-copy", 2.0));
  const RowSummary w = summarize_row(rep, rep.rows[0]);
  ASSERT_TRUE(w.vs_fio);
  EXPECT_DOUBLE_EQ(w.vs_fio->median, 0.5);  // against fio best
  const RowSummary c = summarize_row(rep, rep.rows[1]);
  ASSERT_TRUE(c.vs_fio);
  EXPECT_DOUBLE_EQ(c.vs_fio->median, 0.5);  // against fio copy, not fio best (0.125)
  const RowSummary f = summarize_row(rep, rep.rows[3]);
  ASSERT_TRUE(f.vs_fio);
  EXPECT_DOUBLE_EQ(f.vs_fio->median, 0.25);  // the copy's share of the write limit
  // A named reference that did not run gives no ratio rather than another row's.
  rep.rows.pop_back();
  EXPECT_FALSE(summarize_row(rep, rep.rows[1]).vs_fio);

  rep.rows.push_back(row("fio-copy", "fio-copy", 2.0));
  rep.rows.back().samples[0].command = "fio --name=stsw-bench-read";
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  print_table(mem, rep);
  std::fclose(mem);
  const std::string text(buf, len);
  std::free(buf);
  EXPECT_NE(text.find("fio-copy: fio --name=stsw-bench-read"), std::string::npos) << text;
  EXPECT_NE(text.find("x fio copy"), std::string::npos) << text;
}

TEST(FioCopy, RunsWhenInstalled) {
  auto fio = find_program("fio");
  if (!fio || !fio_version(*fio)) GTEST_SKIP() << "fio not installed (apt install fio)";
  char dir[] = "/tmp/stsw-fio-copy-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string in = std::string(dir) + "/in";
  const std::string out = std::string(dir) + "/out";
  {
    std::ofstream f(in, std::ios::binary);
    const std::string block(1U << 20, 'x');
    for (int i = 0; i < 8; ++i) f << block;
  }
  FioJob shape;
  shape.block_size = 1U << 20;
  shape.iodepth = 4;
  shape.fixed_buffers = true;
  shape.register_files = true;
  FioCopyStats st;
  const Sample s = run_fio_copy(*fio, fio_copy_job(shape, in, out, 8U << 20), &st);
  EXPECT_EQ(s.bytes, 8U << 20);
  EXPECT_EQ(st.read.io_bytes, 8U << 20);
  EXPECT_EQ(st.write.io_bytes, 8U << 20);
  EXPECT_DOUBLE_EQ(s.seconds, st.seconds());
  EXPECT_GT(s.seconds, 0);
  EXPECT_GT(s.wall_seconds, 0);
  EXPECT_NE(s.command.find("--name=stsw-bench-write"), std::string::npos);
  (void)run_child({"rm", "-rf", dir});
}

}  // namespace
}  // namespace stsw::bench
