#include "fio_copy.hpp"

#include <algorithm>

#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

constexpr const char* kReadName = "stsw-bench-read";
constexpr const char* kWriteName = "stsw-bench-write";

double own_seconds(const FioStats& s) {
  if (s.io_seconds > 0) return s.io_seconds;
  return s.bw_bytes > 0 ? static_cast<double>(s.io_bytes) / s.bw_bytes : 0;
}

double cpu_seconds(const FioStats& s) {
  return (s.usr_cpu_pct + s.sys_cpu_pct) / 100.0 * s.job_seconds;
}

void append_job(std::vector<std::string>& argv, const FioJob& job, const char* name,
                bool new_group) {
  auto opts = fio_job_options(job, name);
  if (new_group) opts.insert(opts.begin() + 1, "--new_group");
  if (std::find(opts.begin(), opts.end(), "--group_reporting=1") == opts.end())
    opts.push_back("--group_reporting=1");
  for (auto& o : opts) argv.push_back(std::move(o));
}

}  // namespace

FioCopyJob fio_copy_job(const FioJob& shape, const std::string& input, const std::string& output,
                        std::uint64_t size) {
  FioCopyJob c{shape, shape};
  c.read.filename = input;
  c.read.write = false;
  c.read.direct = true;
  c.read.invalidate = true;
  c.write.filename = output;
  c.write.write = true;
  for (FioJob* j : {&c.read, &c.write}) {
    j->size = size;
    j->offset = 0;
  }
  return c;
}

std::vector<std::string> fio_copy_command(const std::string& fio, const FioCopyJob& job) {
  std::vector<std::string> argv = {fio, "--output-format=json"};
  append_job(argv, job.read, kReadName, false);
  append_job(argv, job.write, kWriteName, true);
  return argv;
}

std::uint64_t FioCopyStats::bytes() const { return std::min(read.io_bytes, write.io_bytes); }

double FioCopyStats::seconds() const { return std::max(own_seconds(read), own_seconds(write)); }

FioCopyStats parse_fio_copy_json(std::string_view text) {
  FioCopyStats s;
  s.read = parse_fio_json(text, false, 0);
  s.write = parse_fio_json(text, true, 1);
  return s;
}

Sample run_fio_copy(const std::string& fio, const FioCopyJob& job, FioCopyStats* stats) {
  const auto argv = fio_copy_command(fio, job);
  const std::string what = job.read.filename + " -> " + job.write.filename;
  FioProcess run = run_fio_process(argv, {kReadName, kWriteName}, what);
  const FioCopyStats fs = parse_fio_copy_json(run.out);
  for (const FioStats* d : {&fs.read, &fs.write}) {
    if (d->error != 0)
      throw Error(Errc::Io, "fio copy " + what + " reported error " + std::to_string(d->error));
  }
  if (fs.bytes() == 0 || fs.seconds() <= 0)
    throw Error(Errc::Io, "fio copy " + what + " reported no bytes or no runtime");
  Sample s;
  s.seconds = fs.seconds();
  s.wall_seconds = run.seconds;
  if (!run.hooked) s.note = "fio hooks left no timestamps: whole = process wall time";
  s.command = shell_command(argv);
  s.cpu_seconds = cpu_seconds(fs.read) + cpu_seconds(fs.write);
  s.bytes = fs.bytes();
  s.peak_rss = run.max_rss;
  s.peak_rss_growth = run.max_rss;
  s.peak_rss_own = run.max_rss;
  if (stats != nullptr) *stats = fs;
  return s;
}

}  // namespace stsw::bench
