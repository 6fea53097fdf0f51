// Unit tests of the harness's parts that need no stsw I/O: statistics, sizes, tensor
// mixes, fio's JSON, child processes, page-cache control, the naive baselines' bytes and
// the report formats.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench_file.hpp"
#include "fio.hpp"
#include "json_text.hpp"
#include "measure.hpp"
#include "memory.hpp"
#include "naive.hpp"
#include "page_cache.hpp"
#include "process.hpp"
#include "report.hpp"
#include "stats.hpp"
#include "stsw/error.hpp"
#include "tensor_mix.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

std::string temp_dir() {
  std::string t = "/tmp/stsw-perf-test-XXXXXX";
  if (::mkdtemp(t.data()) == nullptr) ADD_FAILURE() << "mkdtemp";
  return t;
}

TEST(Stats, MedianMinMaxOddAndEven) {
  std::vector<double> odd = {3, 1, 2};
  Summary s = summarize(odd);
  EXPECT_EQ(s.median, 2);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 3);
  EXPECT_EQ(s.count, 3U);
  std::vector<double> even = {4, 1, 3, 2};
  EXPECT_EQ(summarize(even).median, 2.5);
  EXPECT_EQ(summarize(std::vector<double>{}).count, 0U);
}

TEST(Stats, PairedRatiosSkipMissingDenominators) {
  std::vector<double> a = {2, 3, 4};
  std::vector<double> b = {1, 0, 2, 7};
  EXPECT_EQ(paired_ratios(a, b), (std::vector<double>{2, 2}));
}

// parse_size and format_bytes are the library's (tests/codec/units_test.cpp).
TEST(Units, ShortSizes) {
  EXPECT_EQ(format_size_short(8 << 20), "8M");
  EXPECT_EQ(format_size_short(1536 << 10), "1536K");
}

TEST(TensorMix, UniformSplitsIntoEqualTensors) {
  auto mix = parse_mix("uniform:1M");
  ASSERT_TRUE(mix);
  auto t = generate_mix(*mix, (10U << 20) + 5);
  EXPECT_EQ(t.size(), 10U);
  EXPECT_EQ(total_bytes(t), 10U << 20);
  EXPECT_EQ(to_string(*mix), "uniform:1M");
  EXPECT_THROW((void)generate_mix(*mix, 1000), Error);
  EXPECT_FALSE(parse_mix("uniform:0"));
  EXPECT_FALSE(parse_mix("gpt"));
}

TEST(TensorMix, LlmLooksLikeATransformerCheckpoint) {
  const std::uint64_t target = 4ULL << 30;
  auto t = generate_mix(*parse_mix("llm"), target);
  const std::uint64_t total = total_bytes(t);
  EXPECT_LE(total, target);
  EXPECT_GT(total, target * 9 / 10);
  std::size_t huge = 0, mid = 0, tiny = 0;
  for (const auto& s : t) {
    const auto n = *byte_size(s.dtype, s.shape);
    if (n >= 100'000'000) ++huge;
    if (n >= 10'000'000 && n < 100'000'000) ++mid;
    if (n < 100'000) ++tiny;
  }
  EXPECT_GE(huge, 2U);
  EXPECT_GE(mid, 40U);
  EXPECT_GE(tiny, 40U);
  EXPECT_THROW((void)generate_mix(*parse_mix("llm"), 1000), Error);
  // Small files still get a valid mix.
  EXPECT_LE(total_bytes(generate_mix(*parse_mix("llm"), 64U << 20)), 64U << 20);
}

constexpr const char* kFioJson = R"(note: both iodepth >= 1 and synchronous I/O engine are selected
{
  "fio version" : "fio-3.33",
  "jobs" : [ { "jobname" : "stsw-bench", "error" : 0, "usr_cpu" : 1.5, "sys_cpu" : 20.25,
      "read" : { "io_bytes" : 0, "runtime" : 0 },
      "write" : { "io_bytes" : 4294967296, "bw_bytes" : 1073741824, "runtime" : 4000 } } ]
})";

TEST(Fio, ParsesTheJsonReport) {
  FioStats s = parse_fio_json(kFioJson, true);
  EXPECT_EQ(s.io_bytes, 4294967296ULL);
  EXPECT_DOUBLE_EQ(s.io_seconds, 4.0);
  EXPECT_DOUBLE_EQ(s.sys_cpu_pct, 20.25);
  EXPECT_EQ(s.error, 0);
  EXPECT_EQ(parse_fio_json(kFioJson, false).io_bytes, 0U);
  EXPECT_THROW((void)parse_fio_json("fio: failed", true), Error);
  EXPECT_THROW((void)parse_fio_json("{\"jobs\": []}", true), Error);
  EXPECT_THROW((void)parse_fio_json("{\"jobs\": [{}]}", true), Error);
  EXPECT_THROW((void)parse_fio_json("{ broken", true), Error);
}

TEST(Fio, CommandMatchesTheJob) {
  FioJob j;
  j.filename = "/x/f";
  j.write = true;
  j.size = (8U << 20) * 3 + 100;  // rounded down to the block size
  j.block_size = 8U << 20;
  j.iodepth = 16;
  auto argv = fio_command("fio", j);
  auto has = [&](const std::string& a) {
    return std::find(argv.begin(), argv.end(), a) != argv.end();
  };
  EXPECT_TRUE(has("--rw=write"));
  EXPECT_TRUE(has("--end_fsync=1"));
  EXPECT_TRUE(has("--ioengine=io_uring"));
  EXPECT_TRUE(has("--direct=1"));
  EXPECT_TRUE(has("--iodepth=16"));
  EXPECT_TRUE(has("--size=" + std::to_string((8U << 20) * 3)));
  j.write = false;
  j.direct = false;
  j.invalidate = false;
  argv = fio_command("fio", j);
  EXPECT_TRUE(has("--rw=read"));
  EXPECT_TRUE(has("--invalidate=0"));
  EXPECT_TRUE(has("--direct=0"));
  EXPECT_FALSE(has("--end_fsync=1"));
}

TEST(Fio, ReadsItsOwnBandwidth) {
  EXPECT_DOUBLE_EQ(parse_fio_json(kFioJson, true).bw_bytes, 1073741824.0);
  // Without bw_bytes: io_bytes over the direction's runtime.
  constexpr const char* kNoBw = R"({"jobs": [{"error": 0, "job_runtime": 2000,
      "read": {"io_bytes": 2000000000, "runtime": 1000}}]})";
  const FioStats s = parse_fio_json(kNoBw, false);
  EXPECT_DOUBLE_EQ(s.bw_bytes, 2e9);
  EXPECT_DOUBLE_EQ(s.job_seconds, 2.0);
}

TEST(Fio, CommandCarriesFixedBuffersFilesAndJobs) {
  FioJob j;
  j.filename = "/x/f";
  j.size = std::uint64_t{64} << 20;
  j.block_size = 8U << 20;
  j.fixed_buffers = true;
  j.register_files = true;
  j.numjobs = 2;
  auto argv = fio_command("fio", j);
  auto has = [&](const std::string& a) {
    return std::find(argv.begin(), argv.end(), a) != argv.end();
  };
  EXPECT_TRUE(has("--fixedbufs=1"));
  EXPECT_TRUE(has("--registerfiles=1"));
  EXPECT_TRUE(has("--numjobs=2"));
  EXPECT_TRUE(has("--group_reporting=1"));
  // Each job covers its half of the range.
  EXPECT_TRUE(has("--size=" + std::to_string(32U << 20)));
  EXPECT_TRUE(has("--offset_increment=" + std::to_string(32U << 20)));
  j.numjobs = 1;
  j.fixed_buffers = false;
  argv = fio_command("fio", j);
  EXPECT_FALSE(has("--fixedbufs=1"));
  EXPECT_FALSE(has("--group_reporting=1"));
}

TEST(Fio, ShellCommandQuotesWhatTheShellWouldSplit) {
  EXPECT_EQ(shell_command({"fio", "--bs=8388608", "--filename=/a/b.st"}),
            "fio --bs=8388608 --filename=/a/b.st");
  EXPECT_EQ(shell_command({"fio", "--exec_prerun=date +%s.%N", "it's"}),
            "fio '--exec_prerun=date +%s.%N' 'it'\\''s'");
}

TEST(Fio, SweepIsShortTunedAndSized) {
  FioJob base;
  base.filename = "/x/f";
  base.write = true;
  base.iomem = "shmhuge";
  const auto jobs = fio_sweep_jobs(base, 256U << 20);
  ASSERT_FALSE(jobs.empty());
  EXPECT_LE(jobs.size(), 8U);
  bool two_jobs = false;
  for (const auto& j : jobs) {
    EXPECT_TRUE(j.fixed_buffers && j.register_files);
    EXPECT_TRUE(j.write);
    EXPECT_EQ(j.filename, "/x/f");
    EXPECT_EQ(j.size, 256U << 20);
    EXPECT_TRUE(j.iomem.empty());
    EXPECT_GE(j.iodepth, 8U);
    EXPECT_LE(j.iodepth, 64U);
    EXPECT_GE(j.block_size, 1U << 20);
    EXPECT_LE(j.block_size, 8U << 20);
    two_jobs = two_jobs || j.numjobs == 2;
  }
  EXPECT_TRUE(two_jobs);
}

TEST(Fio, PicksTheHighestOwnBandwidth) {
  std::vector<FioTrial> t(3);
  EXPECT_FALSE(pick_fio_best(t).has_value());  // none ran
  t[0].stats = FioStats{};
  t[0].stats->bw_bytes = 1e9;
  t[1].error = "failed";
  t[2].stats = FioStats{};
  t[2].stats->bw_bytes = 2e9;
  EXPECT_EQ(pick_fio_best(t), 2U);
  t[0].stats->bw_bytes = 2e9;  // a tie keeps the earlier
  EXPECT_EQ(pick_fio_best(t), 0U);
}

TEST(Fio, RunsTheTunedJobWhenInstalled) {
  auto fio = find_program("fio");
  if (!fio || !fio_version(*fio)) GTEST_SKIP() << "fio not installed (apt install fio)";
  char dir[] = "/tmp/stsw-fio-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/f";
  FioJob w;
  w.filename = path;
  w.write = true;
  w.size = 8U << 20;
  w.block_size = 1U << 20;
  w.fixed_buffers = true;
  w.register_files = true;
  w.numjobs = 2;
  FioStats st;
  Sample s = run_fio(*fio, w, &st, true);
  EXPECT_EQ(s.bytes, 8U << 20);
  EXPECT_GT(st.bw_bytes, 0);
  EXPECT_GT(s.wall_seconds, 0);
  EXPECT_NEAR(s.seconds, static_cast<double>(st.io_bytes) / st.bw_bytes, 1e-9);
  EXPECT_NE(s.command.find("--fixedbufs=1"), std::string::npos);
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(Measure, PercentileIsNearestRank) {
  std::vector<double> v;
  EXPECT_EQ(percentile(v, 50), 0.0);
  v = {5, 1, 4, 2, 3};
  EXPECT_EQ(percentile(v, 50), 3.0);
  EXPECT_EQ(percentile(v, 99), 5.0);
  EXPECT_EQ(percentile(v, 0), 1.0);
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(percentile(hundred, 99), 99.0);
}

TEST(Measure, IoWindowStartsAtTheFirstSubmission) {
  auto spin = [](double s) {
    const double t = now_seconds();
    while (now_seconds() - t < s) {
    }
  };
  Sample x = measure_in_process([&] {
    spin(0.05);  // open, set-up: not part of the I/O window
    mark_first_submit();
    record_request(0.002);
    mark_first_submit();  // only the first counts
    record_request(0.001);
    record_request(0.003);
    spin(0.02);
    return std::uint64_t{1000};
  });
  EXPECT_GE(x.wall_seconds, 0.07);
  EXPECT_LT(x.seconds, x.wall_seconds - 0.04);
  EXPECT_GE(x.seconds, 0.02);
  EXPECT_EQ(x.requests, 3U);
  EXPECT_DOUBLE_EQ(x.lat_p50_us, 2000.0);
  EXPECT_DOUBLE_EQ(x.lat_p99_us, 3000.0);
  EXPECT_NEAR(x.iops, 3 / x.seconds, 1e-6);
  // Without marks: the whole body, no wall column, no requests; marks outside are no-ops.
  mark_first_submit();
  record_request(1.0);
  Sample y = measure_in_process([] { return std::uint64_t{1}; });
  EXPECT_EQ(y.wall_seconds, 0.0);
  EXPECT_EQ(y.requests, 0U);
}

TEST(Process, CapturesOutputExitCodeAndUsage) {
  ChildRun r = run_child({"/bin/sh", "-c", "echo out; echo err >&2; sleep 0.2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_GT(r.max_rss, 0U);
  EXPECT_THROW((void)run_child({"/nonexistent/program"}), Error);
  EXPECT_THROW((void)run_child({}), Error);
  EXPECT_TRUE(find_program("sh"));
  EXPECT_FALSE(find_program("stsw-no-such-program-xyz"));
}

TEST(Memory, HugeBufferIsFilledAndPeakRssResets) {
  HugeBuffer b(3 << 20, 42);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % (2 << 20), 0U);
  HugeBuffer same(3 << 20, 42);
  EXPECT_EQ(std::memcmp(b.data(), same.data(), b.size()), 0);
  HugeBuffer moved = std::move(b);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(moved.size(), 3U << 20);
  RssSample s = read_rss();
  EXPECT_GT(s.rss, 0U);
  EXPECT_GE(s.hwm, s.rss);
  if (reset_peak_rss()) {
    RssSample after = read_rss();
    // The reset sets the high-water mark to the current RSS, which may have grown by a
    // few pages (allocations of read_rss itself) since the first sample.
    EXPECT_LE(after.hwm, s.hwm + (std::uint64_t{1} << 20));
  }
}

TEST(PageCache, DropsAndWarmsAFile) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/f";
  {
    HugeBuffer data(8 << 20, 7);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  EXPECT_GT(warm_cache(path), 0.99);
  DropResult d = drop_cache(path, CacheDrop::File);
  EXPECT_EQ(d.method, "fadvise");
  EXPECT_TRUE(d.cold) << d.note;
  EXPECT_LE(d.resident, 0.01);
  DropResult none = drop_cache(path, CacheDrop::None);
  EXPECT_FALSE(none.cold);
  EXPECT_FALSE(none.note.empty());
  EXPECT_EQ(resident_fraction(dir + "/missing"), -1);
  EXPECT_THROW((void)warm_cache(dir + "/missing"), Error);
  EXPECT_EQ(parse_cache_drop("global"), CacheDrop::Global);
  EXPECT_FALSE(parse_cache_drop("sometimes"));
  std::system(("rm -rf " + dir).c_str());
}

TEST(Naive, WriterAndReadersAgreeOnTheBytes) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/naive.safetensors";
  BenchFile f = make_bench_file(generate_mix(*parse_mix("uniform:1M"), 5 << 20));
  TensorSource src(f, 2 << 20);
  EXPECT_EQ(naive_write(path, f, src, 300'000), f.official_file_size());
  EXPECT_EQ(read_header_length(path) + 8, f.official_header.size());
  HugeBuffer a(f.data_size), b(f.data_size);
  EXPECT_EQ(mmap_memcpy_read(path, f, a.span()), f.data_size);
  EXPECT_EQ(pread_loop_read(path, f, b.span()), f.data_size);
  for (const auto& t : f.tensors) {
    auto want = src.bytes(t);
    EXPECT_EQ(std::memcmp(a.data() + t.offset_begin, want.data(), want.size()), 0) << t.name;
    EXPECT_EQ(std::memcmp(b.data() + t.offset_begin, want.data(), want.size()), 0) << t.name;
  }
  HugeBuffer small(1024);
  EXPECT_THROW((void)pread_loop_read(path, f, small.span()), Error);
  EXPECT_THROW((void)mmap_memcpy_read(dir + "/missing", f, a.span()), Error);
  EXPECT_THROW((void)naive_write(dir + "/no/such/dir/x", f, src), Error);
  std::system(("rm -rf " + dir).c_str());
}

TEST(Report, TableJsonAndCsvCarryRatios) {
  BenchReport rep;
  rep.config.repetitions = 2;
  auto row = [](std::string id, std::string impl, std::vector<double> secs) {
    Row r{Workload::Write, id, id + " label", impl, {}, {}, {}};
    for (double s : secs) {
      Sample x;
      x.seconds = s;
      x.bytes = 1'000'000'000;
      x.cpu_seconds = 0.5;
      r.samples.push_back(x);
      r.ok.push_back(s > 0);
    }
    return r;
  };
  rep.rows.push_back(row("stsw-write", "stsw", {1.0, 2.0}));
  rep.rows.push_back(row("fio-write", "fio", {2.0, 2.0}));
  rep.rows.push_back(row("naive-write", "naive", {4.0, 0.0}));
  rep.rows.back().errors.push_back("repetition 2: boom");
  for (Sample& x : rep.rows[0].samples) {  // an engine-style row: per-request figures
    x.requests = 100;
    x.lat_p50_us = 1500;
    x.lat_p99_us = 2500;
    x.iops = 321;
  }
  RowSummary s = summarize_row(rep, rep.rows[0]);
  ASSERT_TRUE(s.vs_fio);
  EXPECT_DOUBLE_EQ(s.vs_fio->max, 2.0);
  EXPECT_DOUBLE_EQ(s.vs_fio->min, 1.0);
  ASSERT_EQ(s.vs_baseline.count("naive-write"), 1U);
  EXPECT_EQ(s.vs_baseline["naive-write"].count, 1U);  // the failed repetition is skipped
  EXPECT_DOUBLE_EQ(s.vs_baseline["naive-write"].median, 4.0);
  EXPECT_DOUBLE_EQ(s.cpu_per_gb.median, 0.5);

  std::ostringstream js;
  write_json(js, rep);
  auto doc = boost::json::parse(js.str()).as_object();
  EXPECT_EQ(doc.at("tool").as_string(), "stsw-bench");
  auto& rows = doc.at("rows").as_array();
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_DOUBLE_EQ(rows[0].at("ratio_to_fio").at("max").as_double(), 2.0);
  EXPECT_TRUE(rows[1].at("ratio_to_fio").is_null());
  EXPECT_EQ(rows[2].at("errors").as_array().size(), 1U);

  std::ostringstream csv;
  write_csv(csv, rep);
  const std::string csv_text = csv.str();
  EXPECT_EQ(std::count(csv_text.begin(), csv_text.end(), '\n'), 4);

  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  print_table(mem, rep);
  std::fclose(mem);
  std::string text(buf, len);
  std::free(buf);
  EXPECT_NE(text.find("stsw-write label"), std::string::npos);
  EXPECT_NE(text.find("1 failed"), std::string::npos);
  // Latency sits in its own column, between CPU s/GB and peak RSS.
  const auto lat = text.find("1.5/2.5, 321");
  ASSERT_NE(lat, std::string::npos) << text;
  const auto header = text.find("lat p50/p99");
  EXPECT_NE(text.find("peak RSS", header), std::string::npos);
  EXPECT_EQ(text.find("MiB", text.rfind('\n', lat)), text.find("MiB", lat)) << text;
  EXPECT_NE(text.find("error: naive-write: repetition 2: boom"), std::string::npos);
}

TEST(JsonText, PlainDecimalNumbersOutsideStrings) {
  EXPECT_EQ(plain_json_numbers(R"({"a":1.8596834348030453E0,"b":0E0,"c":2E0,"d":-5E-5})"),
            R"({"a":1.8596834348030453,"b":0.0,"c":2.0,"d":-0.00005})");
  EXPECT_EQ(plain_json_numbers(R"({"s":"1E5 \"2E0\"","n":[3,4E2],"big":1E300})"),
            R"({"s":"1E5 \"2E0\"","n":[3,400.0],"big":1e+300})");
  const boost::json::value v = boost::json::parse(
      plain_json_numbers(boost::json::serialize(boost::json::value{{"x", 0.1}, {"y", 12345.678}})));
  EXPECT_EQ(v.at("x").as_double(), 0.1);
  EXPECT_EQ(v.at("y").as_double(), 12345.678);
}

}  // namespace
}  // namespace stsw::bench
