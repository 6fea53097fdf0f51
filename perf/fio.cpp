#include "fio.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "process.hpp"
#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

namespace json = boost::json;

double number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return 0;
}

// A temporary working directory for fio, removed with what fio left in it.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string t = "/tmp/stsw-bench-fio-XXXXXX";
    if (::mkdtemp(t.data()) == nullptr) throw errno_error(errno, "mkdtemp " + t);
    path = t;
  }
  ~ScratchDir() {
    if (DIR* d = ::opendir(path.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") ::unlink((path + "/" + name).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// A `date +%s.%N` timestamp written by a hook; 0 when missing.
double read_stamp(const std::string& path) {
  std::ifstream f(path);
  double v = 0;
  if (!(f >> v)) return 0;
  return v;
}

[[noreturn]] void bad(const std::string& why) {
  throw Error(Errc::InvalidArgument, "fio output: " + why);
}

}  // namespace

FioStats parse_fio_json(std::string_view text, bool write, std::size_t index) {
  const auto brace = text.find('{');
  if (brace == std::string_view::npos) bad("no JSON object");
  boost::system::error_code ec;
  json::value doc = json::parse(text.substr(brace), ec);
  if (ec) bad("invalid JSON (" + ec.message() + ")");
  if (!doc.is_object()) bad("top level is not an object");
  const json::value* jobs = doc.as_object().if_contains("jobs");
  if (jobs == nullptr || !jobs->is_array() || jobs->as_array().empty()) bad("no jobs");
  if (index >= jobs->as_array().size()) bad("no job " + std::to_string(index + 1));
  const json::value& job = jobs->as_array()[index];
  if (!job.is_object()) bad("job is not an object");
  const json::object& jo = job.as_object();
  const json::value* dir = jo.if_contains(write ? "write" : "read");
  if (dir == nullptr || !dir->is_object()) bad(write ? "no write section" : "no read section");
  FioStats s;
  s.io_bytes = static_cast<std::uint64_t>(number(dir->as_object(), "io_bytes"));
  s.io_seconds = number(dir->as_object(), "runtime") / 1000.0;
  s.job_seconds = number(jo, "job_runtime") / 1000.0;
  s.usr_cpu_pct = number(jo, "usr_cpu");
  s.sys_cpu_pct = number(jo, "sys_cpu");
  s.error = static_cast<int>(number(jo, "error"));
  s.bw_bytes = number(dir->as_object(), "bw_bytes");
  if (s.bw_bytes <= 0 && s.io_seconds > 0)
    s.bw_bytes = static_cast<double>(s.io_bytes) / s.io_seconds;
  return s;
}

std::vector<std::string> fio_command(const std::string& fio, const FioJob& job) {
  std::vector<std::string> argv = {fio, "--output-format=json"};
  for (auto& a : fio_job_options(job, "stsw-bench")) argv.push_back(std::move(a));
  return argv;
}

std::vector<std::string> fio_job_options(const FioJob& job, const std::string& name) {
  const std::uint64_t bs = job.block_size == 0 ? 1 : job.block_size;
  const unsigned jobs = job.numjobs == 0 ? 1 : job.numjobs;
  const std::uint64_t size = job.size / jobs / bs * bs;
  std::vector<std::string> argv = {
      "--name=" + name,
      "--filename=" + job.filename,
      std::string("--rw=") + (job.write ? "write" : "read"),
      "--bs=" + std::to_string(bs),
      "--iodepth=" + std::to_string(job.iodepth),
      "--ioengine=io_uring",
      std::string("--direct=") + (job.direct ? "1" : "0"),
      "--size=" + std::to_string(size),
      "--offset=" + std::to_string(job.offset),
      "--exec_prerun=date +%s.%N",
      "--exec_postrun=date +%s.%N",
  };
  if (job.write) argv.push_back("--end_fsync=1");
  if (!job.invalidate) argv.push_back("--invalidate=0");
  if (!job.iomem.empty()) argv.push_back("--iomem=" + job.iomem);
  if (job.fixed_buffers) argv.push_back("--fixedbufs=1");
  if (job.register_files) argv.push_back("--registerfiles=1");
  if (jobs > 1) {
    argv.push_back("--numjobs=" + std::to_string(jobs));
    argv.push_back("--offset_increment=" + std::to_string(size));
    argv.push_back("--group_reporting=1");
  }
  return argv;
}

std::string shell_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_=./,:+%@") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::vector<FioJob> fio_sweep_jobs(const FioJob& base, std::uint64_t size) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  // (block size, depth, jobs): depth across 8-64 at the usual 8 MiB chunk, the smaller
  // blocks at the depths that keep 32-64 MiB in flight, and two jobs once.
  const struct {
    std::size_t bs;
    unsigned depth;
    unsigned jobs;
  } grid[] = {{8 * kMiB, 8, 1},  {8 * kMiB, 16, 1}, {8 * kMiB, 32, 1}, {8 * kMiB, 64, 1},
              {4 * kMiB, 16, 1}, {4 * kMiB, 32, 1}, {1 * kMiB, 64, 1}, {8 * kMiB, 16, 2}};
  std::vector<FioJob> jobs;
  for (const auto& g : grid) {
    FioJob j = base;
    j.block_size = g.bs;
    j.iodepth = g.depth;
    j.numjobs = g.jobs;
    j.fixed_buffers = true;
    j.register_files = true;
    j.iomem.clear();
    j.size = size;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::optional<std::size_t> pick_fio_best(const std::vector<FioTrial>& trials) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (!trials[i].stats || trials[i].stats->bw_bytes <= 0) continue;
    if (!best || trials[i].stats->bw_bytes > trials[*best].stats->bw_bytes) best = i;
  }
  return best;
}

FioProcess run_fio_process(const std::vector<std::string>& argv,
                           const std::vector<std::string>& jobs, const std::string& what) {
  ScratchDir scratch;
  ChildRun run = run_child(argv, scratch.path);
  if (run.exit_code != 0) {
    throw Error(Errc::Io, "fio on " + what + " exited with " + std::to_string(run.exit_code) +
                              ": " + run.err.substr(0, 2000));
  }
  FioProcess p;
  p.out = std::move(run.out);
  p.max_rss = run.max_rss;
  double pre = 0;
  double post = 0;
  bool all = !jobs.empty();
  for (const auto& j : jobs) {
    const double a = read_stamp(scratch.path + "/" + j + ".prerun.txt");
    const double b = read_stamp(scratch.path + "/" + j + ".postrun.txt");
    if (a <= 0 || b < a) all = false;
    pre = pre == 0 ? a : std::min(pre, a);
    post = std::max(post, b);
  }
  p.hooked = all;
  p.seconds = all ? post - pre : run.seconds;
  return p;
}

Sample run_fio(const std::string& fio, const FioJob& job, FioStats* stats, bool own_bandwidth) {
  const auto argv = fio_command(fio, job);
  FioProcess run = run_fio_process(argv, {"stsw-bench"}, job.filename);
  FioStats fs = parse_fio_json(run.out, job.write);
  if (fs.error != 0) {
    throw Error(Errc::Io, "fio on " + job.filename + " reported error " + std::to_string(fs.error));
  }
  Sample s;
  s.seconds = run.seconds;
  if (!run.hooked) s.note = "fio hooks left no timestamps: process wall time (start-up included)";
  s.wall_seconds = s.seconds;
  s.command = shell_command(argv);
  if (own_bandwidth) {
    if (fs.bw_bytes <= 0)
      throw Error(Errc::Io, "fio on " + job.filename + " reported no bandwidth");
    s.seconds = static_cast<double>(fs.io_bytes) / fs.bw_bytes;
  }
  s.cpu_seconds = (fs.usr_cpu_pct + fs.sys_cpu_pct) / 100.0 * fs.job_seconds;
  s.bytes = fs.io_bytes;
  s.peak_rss = run.max_rss;
  s.peak_rss_growth = run.max_rss;
  s.peak_rss_own = run.max_rss;
  if (stats != nullptr) *stats = fs;
  return s;
}

std::optional<std::string> fio_version(const std::string& fio) {
  try {
    ChildRun run = run_child({fio, "--version"});
    if (run.exit_code != 0) return std::nullopt;
    std::string v = run.out;
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace stsw::bench
