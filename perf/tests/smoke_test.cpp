// The harness end to end: `stsw-bench --quick --json` and `stsw-bench sweep` on a small
// file must run every workload and baseline and produce a well-formed report. Asserts
// structure, that the bytes counted are the bytes the workload moves (exactly, where stsw
// or a baseline reads the data region or writes the file), that GB/s is bytes/seconds,
// and rates inside generous bounds: at least kMinGbps, set from measured figures with a
// wide margin (the slowest quick-suite row, "naive write + mmap read", measured 0.27 GB/s
// on a loaded 2-core VM: 50x above the bound, which a sanitizer build's slowdown keeps
// clear of), and at most kMaxGbps, which only a clock or byte-counting bug exceeds.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"

namespace stsw::bench {
namespace {

namespace json = boost::json;

class Smoke : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/stsw-perf-smoke-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override { (void)run_child({"rm", "-rf", dir_}); }

  json::object run_json(std::vector<std::string> args, const std::string& out) {
    ChildRun r = run_child(args);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    std::ifstream f(out);
    std::stringstream ss;
    ss << f.rdbuf();
    json::value v = json::parse(ss.str());
    return v.as_object();
  }

  std::string dir_;
};

bool have_fio() { return find_program("fio").has_value(); }

constexpr double kMinGbps = 0.005;
constexpr double kMaxGbps = 1000.0;

// What a row's sample must count, from the report's file facts; 0: not known exactly
// (writes of other layouts, fio's block-rounded jobs), then only bounds are checked.
std::uint64_t expected_bytes(const std::string& id, std::uint64_t file_size,
                             std::uint64_t data_size) {
  if (id == "stsw-write" || id.rfind("engine-read", 0) == 0) return file_size;
  if (id.rfind("stsw-read", 0) == 0 || id.rfind("mmap-read", 0) == 0 ||
      id.rfind("pread-read", 0) == 0 || id.rfind("stsw-load", 0) == 0 || id == "stsw-verify") {
    return data_size;
  }
  if (id == "stsw-roundtrip") return file_size + data_size;
  return 0;
}

TEST_F(Smoke, QuickRunCoversEveryWorkloadAndBaseline) {
  const std::string out = dir_ + "/report.json";
  json::object doc =
      run_json({STSW_BENCH_BIN, "--quick", "--dir", dir_, "--json", out, "--quiet"}, out);
  EXPECT_EQ(doc.at("tool").as_string(), "stsw-bench");
  EXPECT_EQ(doc.at("config").at("suite").as_string(), "quick");
  const std::uint64_t file_size = doc.at("file").at("file_size").to_number<std::uint64_t>();
  const std::uint64_t data_size = doc.at("file").at("data_size").to_number<std::uint64_t>();
  EXPECT_GT(data_size, 32U << 20);
  EXPECT_GT(file_size, data_size);
  std::set<std::string> ids;
  for (const auto& rv : doc.at("rows").as_array()) {
    const json::object& row = rv.as_object();
    const std::string id(row.at("id").as_string());
    ids.insert(id);
    EXPECT_TRUE(row.at("errors").as_array().empty())
        << id << ": " << json::serialize(row.at("errors"));
    const auto& samples = row.at("samples").as_array();
    ASSERT_EQ(samples.size(), 1U) << id;
    EXPECT_TRUE(samples[0].at("ok").as_bool()) << id;
    const auto bytes = samples[0].at("bytes").to_number<std::uint64_t>();
    const double seconds = samples[0].at("seconds").as_double();
    if (id == "stsw-read-range8") {  // 1/8 of each tensor (rounded per tensor)
      EXPECT_GE(bytes, data_size / 8 - data_size / 800) << id;
      EXPECT_LE(bytes, data_size / 8 + data_size / 800) << id;
    } else if (const std::uint64_t want = expected_bytes(id, file_size, data_size); want != 0) {
      EXPECT_EQ(bytes, want) << id;
    } else {
      EXPECT_GE(bytes, data_size / 2) << id;
      EXPECT_LE(bytes, 2 * file_size + (8U << 20)) << id;
    }
    EXPECT_EQ(row.at("bytes").to_number<std::uint64_t>(), bytes) << id;
    ASSERT_GT(seconds, 0.0) << id;
    const double gbps = samples[0].at("gbps").as_double();
    EXPECT_NEAR(gbps, static_cast<double>(bytes) / seconds / 1e9, gbps * 1e-6) << id;
    EXPECT_GE(gbps, kMinGbps) << id;
    EXPECT_LE(gbps, kMaxGbps) << id;
    EXPECT_GE(samples[0].at("cpu_seconds").as_double(), 0.0) << id;
    EXPECT_TRUE(row.contains("cpu_s_per_gb")) << id;
    EXPECT_TRUE(row.contains("peak_rss_growth")) << id;
    // stsw rows: first request to last completion, the whole call beside it; engine rows
    // also per-request latency and IOPS.
    if (row.at("impl").as_string() == "stsw" || row.at("impl").as_string() == "engine") {
      if (id != "stsw-roundtrip") {
        EXPECT_GE(samples[0].at("wall_seconds").as_double(), seconds) << id;
      }
    }
    if (row.at("impl").as_string() == "engine") {
      EXPECT_GT(samples[0].at("requests").to_number<std::uint64_t>(), 0U) << id;
      EXPECT_GE(samples[0].at("lat_p99_us").as_double(), samples[0].at("lat_p50_us").as_double())
          << id;
      EXPECT_GT(samples[0].at("iops").as_double(), 0.0) << id;
    }
    if (have_fio() && row.at("impl").as_string() == "stsw") {
      EXPECT_FALSE(row.at("ratio_to_fio").is_null()) << id;
    }
  }
  for (const char* id :
       {"stsw-write",     "stsw-write-nocrc",      "engine-write",        "naive-write",
        "stsw-read",      "stsw-read-nocrc",       "stsw-read-congruent", "stsw-read-fresh",
        "engine-read",    "engine-read-crc",       "mmap-read",           "pread-read",
        "stsw-read-warm", "engine-read-warm",      "mmap-read-warm",      "pread-read-warm",
        "stsw-verify",    "stsw-roundtrip",        "naive-roundtrip",     "stsw-load-1",
        "stsw-load-2",    "stsw-load-2-congruent", "stsw-convert",        "stsw-convert-warm"}) {
    EXPECT_EQ(ids.count(id), 1U) << id;
  }
  if (have_fio()) {
    for (const char* id :
         {"fio-write", "fio-read", "fio-read-warm", "fio-read-verify", "fio-roundtrip",
          "fio-best-write", "fio-best-read", "fio-best-verify", "fio-copy"}) {
      EXPECT_EQ(ids.count(id), 1U) << id;
    }
    // "fio best" is the reference (impl fio) by its own bandwidth, its wall time and exact
    // command line stored; the default job is a baseline then. The sweeps are short.
    for (const auto& rv : doc.at("rows").as_array()) {
      const json::object& row = rv.as_object();
      const std::string id(row.at("id").as_string());
      const auto& s0 = row.at("samples").as_array().at(0).as_object();
      if (id.rfind("fio-best", 0) == 0) {
        EXPECT_EQ(row.at("impl").as_string(), "fio") << id;
        EXPECT_GT(s0.at("wall_seconds").as_double(), 0.0) << id;
        EXPECT_NE(std::string(s0.at("command").as_string()).find("--fixedbufs=1"),
                  std::string::npos)
            << id;
      }
      // The convert row's limit is fio copy (a read and a durable write at once, in fio
      // best's shape); a convert of an input in the page cache is held to the StreamWriter
      // of the same run; the other rows to the group's fio row.
      const char* reference = id == "stsw-convert"        ? "fio-copy"
                              : id == "stsw-convert-warm" ? "stsw-write"
                                                          : "";
      EXPECT_EQ(row.at("ratio_reference").as_string(), reference) << id;
      if (id == "stsw-convert-warm") {
        EXPECT_FALSE(row.at("ratio_to_fio").is_null());
      }
      if (id == "fio-copy") {
        const std::string cmd(s0.at("command").as_string());
        EXPECT_NE(cmd.find("--name=stsw-bench-read"), std::string::npos) << cmd;
        EXPECT_NE(cmd.find("--name=stsw-bench-write"), std::string::npos) << cmd;
        EXPECT_NE(cmd.find("--fixedbufs=1"), std::string::npos) << cmd;
        EXPECT_GT(s0.at("wall_seconds").as_double(), 0.0);
        EXPECT_FALSE(row.at("ratio_to_fio").is_null());  // its share of fio best write
      }
      if (id == "fio-write" || id == "fio-read" || id == "fio-read-verify") {
        EXPECT_EQ(row.at("impl").as_string(), "fio-default") << id;
      }
    }
    const auto& sweeps = doc.at("fio_sweeps").as_array();
    ASSERT_EQ(sweeps.size(), 2U);
    for (const auto& sw : sweeps) {
      EXPECT_LE(sw.at("trials").as_array().size(), 8U);
      EXPECT_FALSE(sw.at("best").is_null()) << json::serialize(sw);
    }
  }
  EXPECT_GT(doc.at("file").at("tensors").to_number<std::uint64_t>(), 10U);
  // A quick run lasts well under a second per run: the report says so.
  bool short_note = false;
  for (const auto& n : doc.at("notes").as_array()) {
    short_note = short_note || std::string(n.as_string()).find("under 1 s") != std::string::npos;
  }
  EXPECT_TRUE(short_note) << json::serialize(doc.at("notes"));
  // Plain decimal numbers, not Boost.JSON's "1.8596834348030453E0".
  std::ifstream raw(out);
  const std::string text((std::istreambuf_iterator<char>(raw)), std::istreambuf_iterator<char>());
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == 'E' && std::isdigit(static_cast<unsigned char>(text[i - 1])) &&
        (std::isdigit(static_cast<unsigned char>(text[i + 1])) || text[i + 1] == '-')) {
      ADD_FAILURE() << "exponent number at " << i << ": " << text.substr(i - 20, 40);
      break;
    }
  }
  // Nothing left behind but the report.
  ChildRun ls = run_child({"ls", "-A", dir_});
  EXPECT_EQ(ls.out, "report.json\n");
}

TEST_F(Smoke, MissingFioIsSaidNotHidden) {
  ChildRun r = run_child({STSW_BENCH_BIN, "--quick", "--workloads", "write", "--baselines", "fio",
                          "--no-crc-rows", "--fio", "/nonexistent/fio", "--dir", dir_, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("not found or not runnable: no fio rows"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("fio best: "), std::string::npos) << r.out;  // no fio best row
}

TEST_F(Smoke, RegisteredFilesCanBeTurnedOffForAnAB) {
  for (const bool off : {false, true}) {
    std::vector<std::string> args = {STSW_BENCH_BIN, "--quick", "--workloads",   "write",
                                     "--baselines",  "none",    "--no-crc-rows", "--dir",
                                     dir_,           "--quiet"};
    if (off) args.emplace_back("--no-register-files");
    ChildRun r = run_child(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (r.out.find("engine: io_uring") == std::string::npos) {
      GTEST_SKIP() << "the engine runs without io_uring here";
    }
    EXPECT_NE(r.out.find(off ? "(plain descriptors)" : "(registered files)"), std::string::npos)
        << r.out;
  }
}

TEST_F(Smoke, CsvAndBadOptions) {
  const std::string csv = dir_ + "/r.csv";
  ChildRun r = run_child({STSW_BENCH_BIN, "--quick", "--workloads", "write", "--baselines", "none",
                          "--no-crc-rows", "--dir", dir_, "--csv", csv, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stsw StreamWriter, crc32"), std::string::npos) << r.out;
  std::ifstream f(csv);
  std::string header, line;
  std::getline(f, header);
  EXPECT_EQ(header.rfind("group,id,impl,label", 0), 0U);
  std::getline(f, line);
  EXPECT_EQ(line.rfind("write,stsw-write,stsw,", 0), 0U) << line;

  for (std::vector<std::string> bad : {std::vector<std::string>{"--size", "12Q"},
                                       {"--mix", "gpt"},
                                       {"--workloads", "dance"},
                                       {"--chunk", "1000"},
                                       {"--baselines", "magic"},
                                       {"--reps", "zero"},
                                       {"--dst-layout", "diagonal"},
                                       {"--dir", dir_ + "/missing"}}) {
    std::vector<std::string> argv = {STSW_BENCH_BIN, "--quick", "--quiet"};
    if (bad[0] != "--dir") argv.insert(argv.end(), {"--dir", dir_});
    argv.insert(argv.end(), bad.begin(), bad.end());
    ChildRun b = run_child(argv);
    EXPECT_EQ(b.exit_code, 2) << bad[0] << " " << bad[1] << ": " << b.err;
    EXPECT_FALSE(b.err.empty());
  }
}

TEST_F(Smoke, SweepProducesTheMatrix) {
  const std::string out = dir_ + "/sweep.json";
  json::object doc = run_json({STSW_BENCH_BIN, "sweep", "--target", dir_, "--bs", "1M,2M", "--qd",
                               "1,4", "--size", "8M", "--json", out, "--quiet"},
                              out);
  const auto& cells = doc.at("cells").as_array();
  EXPECT_EQ(cells.size(), 8U);  // 2 directions x 2 block sizes x 2 depths
  for (const auto& c : cells) {
    EXPECT_TRUE(c.at("errors").as_array().empty()) << json::serialize(c);
    std::vector<const char*> rates = {"stsw_gbps"};
    if (have_fio()) rates.push_back("fio_gbps");
    for (const char* rate : rates) {
      const auto& s = c.at(rate);
      const double median = s.at("median").as_double();
      EXPECT_EQ(s.at("count").to_number<std::uint64_t>(),
                doc.at("repetitions").to_number<std::uint64_t>())
          << rate;
      EXPECT_LE(s.at("min").as_double(), median) << rate;
      EXPECT_GE(s.at("max").as_double(), median) << rate;
      EXPECT_GE(median, kMinGbps) << rate << " " << json::serialize(c);
      EXPECT_LE(median, kMaxGbps) << rate << " " << json::serialize(c);
    }
  }
  ChildRun dev = run_child({STSW_BENCH_BIN, "sweep", "--target", "/dev/null", "--quiet"});
  EXPECT_EQ(dev.exit_code, 2) << dev.err;  // a character device is no target
}

// The picture is a complete SVG document drawn by gnuplot.
void expect_svg(const std::string& path) {
  std::ifstream f(path);
  ASSERT_TRUE(f.good()) << path << " not written";
  const std::string svg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(svg.rfind("<?xml", 0), 0U) << svg.substr(0, 200);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_GT(svg.size(), 2000U);
}

TEST_F(Smoke, PlotsTheRunAndTheSweep) {
  if (!find_program("gnuplot")) GTEST_SKIP() << "gnuplot not installed (apt install gnuplot-nox)";
  const std::string run_svg = dir_ + "/run.svg";
  ChildRun r = run_child({STSW_BENCH_BIN, "--quick", "--workloads", "write", "--dir", dir_,
                          "--plot", run_svg, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_svg(run_svg);
  EXPECT_NE(r.err.find("under 1 s"), std::string::npos) << r.err;  // the short-run warning

  const std::string sweep_svg = dir_ + "/sweep.svg";
  r = run_child({STSW_BENCH_BIN, "sweep", "--target", dir_, "--bs", "1M,2M", "--qd", "1,4",
                 "--size", "4M", "--plot", sweep_svg, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_svg(sweep_svg);

  // PNG too; any other name is refused before anything runs.
  const std::string png = dir_ + "/sweep.png";
  r = run_child({STSW_BENCH_BIN, "sweep", "--target", dir_, "--bs", "1M", "--qd", "1,4", "--size",
                 "4M", "--plot", png, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream pf(png, std::ios::binary);
  std::string magic(8, '\0');
  pf.read(magic.data(), 8);
  EXPECT_EQ(magic, std::string("\x89PNG\r\n\x1a\n", 8));
  r = run_child({STSW_BENCH_BIN, "--quick", "--dir", dir_, "--plot", dir_ + "/x.jpg", "--quiet"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(".svg"), std::string::npos) << r.err;
}

TEST(MicroBench, RunsWhenBuilt) {
  const std::string bin = STSW_MICROBENCH_BIN;
  if (bin.empty()) GTEST_SKIP() << "Google Benchmark not installed";
  ChildRun r =
      run_child({bin, "--benchmark_filter=BM_Crc32_(Isal|Zlib)/4096|BM_ParseHeader/strict:1",
                 "--benchmark_min_time=0.01", "--benchmark_format=json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json::object doc = json::parse(r.out).as_object();
  EXPECT_EQ(doc.at("benchmarks").as_array().size(), 3U);
}

}  // namespace
}  // namespace stsw::bench
