// Crash consistency: a forked child replaces a complete file (StreamWriter) or a complete
// sharded set (stsw::dump) and is killed with SIGKILL; after every kill the destination
// must hold the previous or the new generation, complete and valid (strict open, every
// CRC verified, bytes equal to one generation), no temporary file may remain but the
// documented complete hidden copy of a kill between link and rename. A sharded set: the
// index is there after every kill (it is replaced atomically, last), opens (StreamReader on
// the index) and verifies, and names exactly the previous or the new set, complete; other
// files with shard names are complete shards of one generation that no index names
// (documented: a kill before the new index or before the old shards were removed), never
// more than one set of them. One file and a set replacing each other (stsw::dump): after
// every kill the file is complete or the index names a complete set (or both).
// Hidden leftovers (a complete copy, the fallback's partial hidden files) must then be
// removed by the next writer of the same destination: after each kill that left one, an
// uninterrupted writer runs and none may remain.
//
// Kill points, per scenario:
//  - timed: spread uniformly over [0, 1.1 x D] from fork, D the median duration of an
//    uninterrupted child (some kills land after the child has finished);
//  - close window (single file): spread over [0, 1.2 x C] after the child signals that
//    close() starts, C the measured duration of close();
//  - steps: exactly before and exactly after each file-system call of the write (fsync,
//    fdatasync, linkat, renameat, unlink, ftruncate, fallocate, pwrite64), by seccomp.
// STSW_CRASH_POINTS scales the number of timed and close-window kills (default 200 in
// total; the soak binary defaults to 2000).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "reliability/crash_support.hpp"
#include "reliability/crash_writers.hpp"
#include "stsw/dump.hpp"
#include "stsw/tensor_meta.hpp"
#include "stsw/writer.hpp"

#ifndef STSW_CRASH_DEFAULT_POINTS
#define STSW_CRASH_DEFAULT_POINTS 200
#endif
// The soak binary names its suite differently, so CTest sees distinct tests.
#ifndef STSW_CRASH_SUITE
#define STSW_CRASH_SUITE CrashConsistency
#endif

namespace stsw::reliability {
namespace {

using Files = std::map<std::string, std::vector<std::byte>>;  // shard_key -> expected bytes

const char* const kDest = "model.safetensors";
const char* const kIndex = "model.safetensors.index.json";

// A shard's name without its generation tag ("-g1", include/stsw/dump.hpp): the same
// shard of the same generation has the same bytes under either name.
std::string shard_key(const std::string& name) {
  const std::string suffix = ".safetensors";
  const std::size_t g = name.rfind("-g");
  if (g == std::string::npos || name.size() < suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0 ||
      name.find_first_not_of("0123456789", g + 2) != name.size() - suffix.size()) {
    return name;
  }
  return name.substr(0, g) + suffix;
}

struct Tally {
  std::uint64_t tried = 0, survived = 0, landed = 0, torn = 0, temp_left = 0;
  std::uint64_t hidden_complete = 0, unnamed_shards = 0, hidden_fallback = 0;
  std::uint64_t cleaned = 0;  // leftovers the next writer removed
  std::vector<std::string> problems;
  std::vector<std::string> notes;
  void add(const Tally& o) {
    tried += o.tried, survived += o.survived, landed += o.landed, torn += o.torn;
    temp_left += o.temp_left, hidden_complete += o.hidden_complete;
    unnamed_shards += o.unnamed_shards;
    hidden_fallback += o.hidden_fallback;
    cleaned += o.cleaned;
    problems.insert(problems.end(), o.problems.begin(), o.problems.end());
  }
};

// True once nothing holds the flock of live writers on `path` (or it is gone), within
// `seconds`.
bool wait_until_unlocked(const std::string& path, double seconds) {
  const double until = seconds_now() + seconds;
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return true;
    const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    if (free) return true;
    if (seconds_now() > until) return false;
    ::usleep(1000);
  }
}

// ---- the scenario driver ------------------------------------------------------------------

class CrashRun {
 public:
  // `fallback`: the children cannot use O_TMPFILE (seccomp), as on file systems without it.
  // `mixed`: generation 0 is a sharded set, generation 1 one file at the same name, so
  // every write replaces a set by a file or a file by a set.
  CrashRun(bool sharded, bool fallback, std::string label, bool mixed = false)
      : sharded_(sharded || mixed), mixed_(mixed), fallback_(fallback), label_(std::move(label)) {}

  // In the child: installs the seccomp filter when kill points or the fallback need it.
  void prepare_child(const StepKill& step, int fd) const {
    if (step.before == 0 && step.after == 0 && !fallback_) return;
    if (!install_step_kill({step.before, step.after, fallback_}, fd)) {
      throw std::runtime_error("seccomp refused");
    }
  }

  void write_child(int gen, int marker_fd) const {
    if (mixed_ && gen == 1) {
      dump_single(dir_.path(), gen, marker_fd);
    } else if (sharded_) {
      write_sharded(dir_.path(), gen, marker_fd);
    } else {
      write_single(dir_.path(), gen, marker_fd);
    }
  }

  // Runs `gen` to completion; returns {total seconds, close seconds (single file)}.
  std::pair<double, double> run_uninterrupted(int gen) {
    Child c = fork_child([&](int fd) {
      prepare_child({}, fd);
      write_child(gen, fd);
    });
    const double marker = sharded_ ? -1 : wait_marker(c);
    const int st = reap(c);
    const double end = seconds_now();
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      throw std::runtime_error(label_ + ": an uninterrupted child failed, status " +
                               std::to_string(st));
    }
    return {end - c.started, marker > 0 ? end - marker : 0};
  }

  // Writes both generations once (capturing their exact bytes) and measures D and C.
  void calibrate() {
    std::vector<double> total, close;
    for (int gen : {1, 0, 1, 0}) {
      const auto [d, c] = run_uninterrupted(gen);
      total.push_back(d);
      close.push_back(c);
      Files& f = expected_[gen];
      f.clear();
      for (const std::string& e : dir_.entries()) {
        known_.insert(e);
        if (sharded_ && e == kIndex) {
          index_texts_.insert(slurp(dir_.file(e)));
        } else {
          f[shard_key(e)] = slurp(dir_.file(e));
        }
      }
    }
    if (sharded_) add_generation_names();
    std::sort(total.begin(), total.end());
    std::sort(close.begin(), close.end());
    duration_ = (total[1] + total[2]) / 2;
    close_duration_ = (close[1] + close[2]) / 2;
    current_ = 0;
    if (!step_kill_supported()) return;
    if (mixed_) {  // on generation 0: the file over the set, then the set over the file
      steps_by_gen_[1] = count_steps(1);
      steps_by_gen_[0] = count_steps(0);
      steps_ = steps_by_gen_[0] + steps_by_gen_[1];
    } else {
      steps_ = count_steps(1);
    }
  }

  // Writes `gen` once over what is on disk, counting its trapped file-system calls.
  std::uint64_t count_steps(int gen) {
    Child c = fork_child([&](int fd) {
      if (!install_step_kill({0, 0, fallback_})) throw std::runtime_error("seccomp refused");
      write_child(gen, fd);
      const std::string n = std::to_string(trapped_calls());
      std::string names;
      for (std::uint64_t i = 1; i <= trapped_calls(); ++i) names += " " + trapped_call_name(i);
      const std::string msg = n + names;
      if (::write(fd, msg.data(), msg.size()) < 0) ::_exit(5);
    });
    std::string got;  // "c" (the close marker, single file) then the count
    char buf[64];
    for (ssize_t r; (r = ::read(c.marker_fd, buf, sizeof buf)) > 0;) got.append(buf, r);
    const int st = reap(c);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      throw std::runtime_error(label_ + ": the counting child failed, status " +
                               std::to_string(st));
    }
    const std::size_t digits = got.find_first_of("0123456789");
    if (digits == std::string::npos) throw std::runtime_error(label_ + ": no call count");
    std::istringstream in(got.substr(digits));
    std::uint64_t n = 0;
    in >> n;
    std::cout << "[ crash ] " << label_ << ": " << n << " trapped calls writing generation " << gen
              << ":" << got.substr(got.find(' ')) << "\n";
    current_ = gen;
    return n;
  }

  // The "-g1" twins of the plain shard names seen, and the index naming them (the writer
  // takes them whenever the index on disk names the plain ones: a set over a set, or a set
  // over a file that a crash left beside the previous index).
  void add_generation_names() {
    const std::string suffix = ".safetensors";
    std::vector<std::pair<std::string, std::string>> twins;
    for (const std::string& n : known_) {
      if (n == kIndex || n == kDest || shard_key(n) != n) continue;
      twins.emplace_back(n, n.substr(0, n.size() - suffix.size()) + "-g1" + suffix);
    }
    for (const auto& [plain, tagged] : twins) known_.insert(tagged);
    std::set<std::vector<std::byte>> texts = index_texts_;
    for (const std::vector<std::byte>& t : index_texts_) {
      std::string text(reinterpret_cast<const char*>(t.data()), t.size());
      for (const auto& [plain, tagged] : twins) {
        for (std::size_t at; (at = text.find('"' + plain + '"')) != std::string::npos;) {
          text.replace(at + 1, plain.size(), tagged);
        }
      }
      const auto* b = reinterpret_cast<const std::byte*>(text.data());
      texts.emplace(b, b + text.size());
    }
    index_texts_ = std::move(texts);
  }

  // Mixed: makes generation `gen` the one on disk (an uninterrupted write when it is not).
  void ensure_current(int gen) {
    if (current_ == gen) return;
    (void)run_uninterrupted(gen);
    current_ = gen;
  }

  // One kill point: fork a child writing the other generation, kill it per `how`, check.
  // `how` returns what it learned about the moment of the kill (appended to `desc`).
  void kill_point(const std::function<std::string(const Child&)>& how, const StepKill& step,
                  std::string desc, Tally& t) {
    const int next = 1 - current_;
    Child c = fork_child([&](int fd) {
      prepare_child(step, fd);
      write_child(next, fd);
    });
    desc += how(c);
    ::kill(c.pid, SIGKILL);
    const int st = reap(c);
    ++t.tried;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
      ++t.landed;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      t.problems.push_back("child ended with status " + std::to_string(st));
    }
    const std::size_t before = t.problems.size();
    const double t0 = seconds_now();
    check(next, desc, t);
    clean_by_next_writer(t);
    check_seconds_ += seconds_now() - t0;
    for (std::size_t i = before; i < t.problems.size(); ++i) t.problems[i] += " [" + desc + "]";
    if (t.problems.size() == before) {
      ++t.survived;
    } else {
      ++t.torn;
    }
  }

  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
  [[nodiscard]] double check_seconds() const noexcept { return check_seconds_; }

  Tally run(std::uint64_t timed, std::uint64_t in_close) {
    Tally t;
    calibrate();
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> u(0, 1);
    // Stratified: one kill in each of `timed` equal slices of [0, 1.1 D], in random order.
    std::vector<double> at;
    for (std::uint64_t i = 0; i < timed; ++i) at.push_back((i + u(rng)) / timed * 1.1 * duration_);
    std::shuffle(at.begin(), at.end(), rng);
    std::cout << "[ crash ] " << label_ << ": uninterrupted write " << duration_ * 1e3
              << " ms, close() " << close_duration_ * 1e3 << " ms\n";
    // The machine's load can change after the calibration: a kill that finds the child
    // already done means the write runs faster now, so later kill times shrink (down to a
    // fifth) and the kills keep landing inside the write rather than after it.
    double scale = 1.0;
    const auto adapt = [&](std::uint64_t landed_before) {
      if (t.landed == landed_before) scale = std::max(0.2, scale * 0.85);
    };
    for (const double at_d : at) {
      const double d = at_d * scale;
      const std::uint64_t before = t.landed;
      kill_point(
          [&](const Child& c) {
            sleep_until(c.started + d);
            return std::string();
          },
          {}, "timed kill at " + std::to_string(d * 1e3) + " ms", t);
      adapt(before);
    }
    scale = 1.0;
    if (!sharded_) {
      for (std::uint64_t i = 0; i < in_close; ++i) {
        const double d = (i + u(rng)) / in_close * 1.2 * close_duration_ * scale;
        const std::uint64_t before = t.landed;
        kill_point(
            [&](const Child& c) {
              const double m = wait_marker(c);
              if (m > 0) sleep_until(m + d);
              return std::string();
            },
            {}, "kill " + std::to_string(d * 1e3) + " ms into close()", t);
        adapt(before);
      }
    }
    // The child kills itself at the chosen call and names it ("K<nr;"): read to the end.
    const auto until_exit = [](const Child& c) {
      std::string got;
      char buf[64];
      for (ssize_t r; (r = ::read(c.marker_fd, buf, sizeof buf)) > 0;) got.append(buf, r);
      const std::size_t k = got.find('K');
      if (k == std::string::npos || k + 2 >= got.size()) return std::string(" (no kill)");
      return std::string(" = ") + (got[k + 1] == '<' ? "before " : "after ") +
             syscall_label(std::strtol(got.c_str() + k + 2, nullptr, 10));
    };
    if (mixed_) {  // every call of both transitions: the file over the set, the set over it
      for (const int gen : {1, 0}) {
        const std::string what =
            gen == 1 ? " of the file over the set" : " of the set over the file";
        for (std::uint64_t n = 1; n <= steps_by_gen_[gen]; ++n) {
          ensure_current(1 - gen);
          kill_point(until_exit, {n, 0}, "kill before call " + std::to_string(n) + what, t);
          ensure_current(1 - gen);
          kill_point(until_exit, {0, n}, "kill after call " + std::to_string(n) + what, t);
        }
      }
      return t;
    }
    for (std::uint64_t n = 1; n <= steps_; ++n) {
      kill_point(until_exit, {n, 0}, "kill before call " + std::to_string(n), t);
      kill_point(until_exit, {0, n}, "kill after call " + std::to_string(n), t);
    }
    return t;
  }

 private:
  void check(int next, const std::string& desc, Tally& t);

  // Runs the next generation's writer to completion when a kill left hidden files, and
  // checks that it removed every one of them (no live writer holds them).
  void clean_by_next_writer(Tally& t) {
    if (leftovers_.empty()) return;
    // A dead writer's lock goes with the last reference to its file, and io_uring requests
    // still in flight at the kill hold one until the kernel cancels them (asynchronously,
    // after the process was reaped): wait for that first, as the next writer would judge a
    // still referenced file as held.
    for (const std::string& e : leftovers_) {
      if (!wait_until_unlocked(dir_.file(e), 2.0)) {
        t.problems.push_back(label_ + ": " + e + " is still locked 2 s after its writer died");
      }
    }
    const int gen = 1 - current_;
    run_uninterrupted(gen);
    current_ = gen;
    for (const std::string& e : leftovers_) {
      if (::access(dir_.file(e).c_str(), F_OK) == 0) {
        t.problems.push_back(label_ + ": the next writer did not remove the leftover " + e);
        ::unlink(dir_.file(e).c_str());
      } else {
        ++t.cleaned;
      }
    }
    leftovers_.clear();
  }

  std::vector<std::string> leftovers_;  // hidden files left by the last kill

  bool sharded_;
  bool mixed_ = false;
  bool fallback_;
  std::string label_;
  ScratchDir dir_{"crash"};
  Files expected_[2];
  double duration_ = 0, close_duration_ = 0, check_seconds_ = 0;
  std::uint64_t steps_ = 0;
  std::uint64_t steps_by_gen_[2] = {0, 0};  // mixed
  int current_ = 0;
  std::set<std::string> known_;                   // every name calibration saw
  std::set<std::vector<std::byte>> index_texts_;  // sharded: the indexes it saw
};

void CrashRun::check(int next, const std::string& desc, Tally& t) {
  const auto fail = [&](const std::string& m) { t.problems.push_back(label_ + ": " + m); };
  std::map<std::string, int> holds;                       // complete file -> its generation
  const std::shared_ptr<Engine> engine = check_engine();  // gone when the check ends
  for (const std::string& e : dir_.entries()) {
    const std::string path = dir_.file(e);
    const std::vector<std::byte> bytes = slurp(path);
    if (known_.count(e) != 0) {
      if (sharded_ && e == kIndex) continue;  // checked below
      int gen = -1;
      for (int g : {next, current_}) {
        const auto it = expected_[g].find(shard_key(e));
        if (gen < 0 && it != expected_[g].end() && it->second == bytes) gen = g;
      }
      if (gen < 0) {
        fail(e + " (" + std::to_string(bytes.size()) +
             " bytes) equals neither generation: " + verify_file(path, engine));
        continue;
      }
      if (const std::string v = verify_file(path, engine); !v.empty()) fail(v);
      holds[e] = gen;
      continue;
    }
    std::string base;
    for (const std::string& k : known_) {
      if (is_hidden_temp_of(e, k)) base = k;
    }
    const bool complete = !base.empty() && (sharded_ && base == kIndex
                                                ? index_texts_.count(bytes) != 0
                                                : expected_[next].count(shard_key(base)) != 0 &&
                                                      expected_[next].at(shard_key(base)) == bytes);
    if (base.empty()) {
      fail("unexpected file " + e);
    } else if (fallback_) {
      ++t.hidden_fallback;  // documented: the fallback's hidden temporary file
    } else if (complete) {
      ++t.hidden_complete;  // documented: a kill between link and rename
      const bool exact = desc.find(" = ") != std::string::npos;
      if (exact && desc.find("after linkat") == std::string::npos &&
          desc.find("before renameat") == std::string::npos) {
        fail("a complete hidden copy outside the link-rename window: " + e);
      }
      t.notes.push_back(label_ + ": complete hidden " + e + " after a " + desc);
    } else {
      ++t.temp_left;
      fail("temporary file left: " + e + " (" + std::to_string(bytes.size()) + " bytes)");
      ::unlink(path.c_str());
      continue;
    }
    leftovers_.push_back(e);  // for the next writer to remove
  }
  if (!sharded_) {
    if (holds.count(kDest) == 0) {
      fail(std::string("no complete file at ") + kDest);
    } else {
      current_ = holds[kDest];
    }
    return;
  }
  if (index_texts_.empty()) {
    fail("calibration saw no index");
    return;
  }
  // The index is replaced atomically, last: it is always there (or, mixed, the one file is)
  // and names a complete set.
  const std::string index = dir_.file(kIndex);
  const bool has_index = ::access(index.c_str(), F_OK) == 0;
  const std::size_t shards = expected_[mixed_ ? 0 : next].size();
  std::size_t named = 0;
  if (has_index) {
    const std::vector<std::byte> text = slurp(index);
    if (index_texts_.count(text) == 0) fail("the index differs from every expected text");
    if (const std::string v = verify_file(index, engine); !v.empty()) {
      fail("the index does not open and verify: " + v);
    }
    const std::string_view view(reinterpret_cast<const char*>(text.data()), text.size());
    std::set<int> gens;
    for (const std::string& name : known_) {
      if (name == kIndex || view.find('"' + name + '"') == std::string_view::npos) continue;
      ++named;
      if (holds.count(name) == 0) {
        fail("the index names " + name + ", which is missing or incomplete");
      } else {
        gens.insert(holds[name]);
      }
    }
    if (named != shards) fail("the index names " + std::to_string(named) + " known shards");
    if (gens.size() != 1) {
      fail("the index names shards of " + std::to_string(gens.size()) + " generations");
    } else if (!mixed_) {
      current_ = *gens.begin();
    }
  }
  const bool file = mixed_ && holds.count(kDest) != 0;
  if (mixed_) {
    // A loader that prefers the one file finds it complete, or else a complete set.
    if (!file && !has_index) fail("neither a complete file nor an index");
    current_ = file && has_index ? next : file ? 1 : 0;  // both: `next` got as far as its own
  } else if (!has_index) {
    fail("no index: neither the previous nor the new set can be opened");
  }
  // Complete shards no index names: at most one set (the next dump takes those names).
  const std::size_t shard_files = holds.size() - (file ? 1 : 0);
  if (shard_files > named) ++t.unnamed_shards;
  if (shard_files > 2 * shards) {
    fail(std::to_string(shard_files) + " shard files: leftovers of more than one set");
  }
}

void report(const std::string& what, const Tally& t, double seconds) {
  std::cout << "crash: kill points tried " << t.tried << ", survived " << t.survived << ", torn "
            << t.torn << ", temp files left " << t.temp_left << "\n"
            << "[ crash ] " << what << ": " << t.landed << " kills landed in a live child, "
            << t.hidden_complete
            << " complete hidden copies left by a kill between link and rename (documented), "
            << t.unnamed_shards
            << " states with complete shards no index names (documented: removed by the next "
               "dump), "
            << t.hidden_fallback
            << " hidden temporary files of the no-O_TMPFILE fallback (documented), " << t.cleaned
            << " of them removed by the next writer, " << seconds << " s\n";
  for (std::size_t i = 0; i < t.notes.size() && i < 20; ++i) {
    std::cout << "[ crash ] " << t.notes[i] << "\n";
  }
  for (std::size_t i = 0; i < t.problems.size() && i < 20; ++i) {
    std::cout << "[ crash ] problem: " << t.problems[i] << "\n";
  }
  ::testing::Test::RecordProperty("kill_points_tried", std::to_string(t.tried));
  ::testing::Test::RecordProperty("kill_points_survived", std::to_string(t.survived));
  ::testing::Test::RecordProperty("kills_landed", std::to_string(t.landed));
  ::testing::Test::RecordProperty("torn", std::to_string(t.torn));
  ::testing::Test::RecordProperty("temp_files_left", std::to_string(t.temp_left));
  ::testing::Test::RecordProperty("hidden_complete_copies", std::to_string(t.hidden_complete));
  ::testing::Test::RecordProperty("hidden_fallback_files", std::to_string(t.hidden_fallback));
  ::testing::Test::RecordProperty("leftovers_cleaned", std::to_string(t.cleaned));
  ::testing::Test::RecordProperty("unnamed_shard_states", std::to_string(t.unnamed_shards));
}

void expect_clean(const Tally& t, std::uint64_t at_least) {
  EXPECT_GE(t.tried, at_least);
  EXPECT_EQ(t.survived, t.tried);
  EXPECT_EQ(t.torn, 0U);
  EXPECT_EQ(t.temp_left, 0U);
  EXPECT_TRUE(t.problems.empty()) << t.problems.front();
  EXPECT_EQ(t.cleaned, t.hidden_complete + t.hidden_fallback)
      << "hidden leftovers the next writer did not remove";
  // A good share of the kills must hit a live child, or the test proves little (the load of
  // the machine can change between the calibration and the kills).
  EXPECT_GT(t.landed * 3, t.tried) << "only " << t.landed << " of " << t.tried << " kills landed";
}

std::uint64_t points() { return env_count("STSW_CRASH_POINTS", STSW_CRASH_DEFAULT_POINTS); }

TEST(STSW_CRASH_SUITE, StreamWriterReplacingAFile) {
  const double t0 = seconds_now();
  const std::uint64_t timed = points() * 45 / 100, in_close = points() * 20 / 100;
  CrashRun run(false, false, "single file");
  const Tally t = run.run(timed, in_close);
  report("single file (" + std::to_string(timed) + " timed, " + std::to_string(in_close) +
             " in close, " + std::to_string(run.steps()) + " x 2 at file-system calls; checks " +
             std::to_string(run.check_seconds()) + " s)",
         t, seconds_now() - t0);
  expect_clean(t, timed + in_close);
}

TEST(STSW_CRASH_SUITE, ShardedDumpReplacingASet) {
  const double t0 = seconds_now();
  const std::uint64_t timed = points() * 35 / 100;
  CrashRun run(true, false, "sharded dump");
  const Tally t = run.run(timed, 0);
  report("sharded dump (" + std::to_string(timed) + " timed, " + std::to_string(run.steps()) +
             " x 2 at file-system calls; checks " + std::to_string(run.check_seconds()) + " s)",
         t, seconds_now() - t0);
  expect_clean(t, timed);
  if (step_kill_supported()) {
    EXPECT_GT(t.unnamed_shards, 0U) << "no kill fell between the new shards and the index";
  }
}

// One file replacing a set and a set replacing one file, alternately: the set's index goes
// only after the file is in place, the file only after the index is.
TEST(STSW_CRASH_SUITE, DumpSwitchingBetweenOneFileAndASet) {
  const double t0 = seconds_now();
  const std::uint64_t timed = points() * 10 / 100;
  CrashRun run(false, false, "file <-> set", true);
  const Tally t = run.run(timed, 0);
  report("one file <-> sharded set (" + std::to_string(timed) + " timed, " +
             std::to_string(run.steps()) + " x 2 at file-system calls; checks " +
             std::to_string(run.check_seconds()) + " s)",
         t, seconds_now() - t0);
  expect_clean(t, timed);
}

// Where O_TMPFILE is missing the writer fills a hidden temporary name: a crash may leave that
// file (documented), never a torn destination.
TEST(STSW_CRASH_SUITE, StreamWriterWithoutTmpfile) {
  if (!step_kill_supported()) GTEST_SKIP() << "seccomp kill points need x86-64";
  const double t0 = seconds_now();
  const std::uint64_t timed = points() * 15 / 100, in_close = points() * 5 / 100;
  CrashRun run(false, true, "single file, no O_TMPFILE");
  const Tally t = run.run(timed, in_close);
  report("single file without O_TMPFILE (" + std::to_string(timed) + " timed, " +
             std::to_string(in_close) + " in close, " + std::to_string(run.steps()) +
             " x 2 at file-system calls; checks " + std::to_string(run.check_seconds()) + " s)",
         t, seconds_now() - t0);
  expect_clean(t, timed + in_close);
  EXPECT_GT(t.hidden_fallback, 0U) << "no kill left a hidden file: was the fallback used?";
}

}  // namespace
}  // namespace stsw::reliability
