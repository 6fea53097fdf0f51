// Helpers for the writer tests: temporary directories on a real file system, file checks
// that apply the official loader's strict rules plus zlib's CRC-32, engines of both
// backends, and re-running the test binary as a child process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/fault_injection.hpp"
#include "stsw/engine.hpp"
#include "stsw/header.hpp"
#include "stsw/writer.hpp"
#include "support/backend_name.hpp"
#include "support/temp_dir.hpp"

namespace stsw::writer_test {

// The support TempDir (tests/support/temp_dir.hpp) under $STSW_TEST_TMPDIR (default
// /var/tmp: a disk file system, so O_DIRECT works).
class TempDir : public ::stsw::test::TempDir {
 public:
  TempDir();
};

// The failure sweep of a whole-file write (fault injection): ENOSPC and EIO at each of its
// `writes` write requests, then EIO at each of its `syncs` sync requests (the counts of a
// clean run). `run(plan)` writes `path` with that plan and says whether the fault landed
// (a run's request count may differ from the clean run's). A fault that landed must
// surface as an Error (Errc::NoSpace or Errc::Io) naming `path`, and an offset for a
// write; one that did not must leave the write successful. `after(landed)` then checks
// what the run left behind.
struct FaultedRun {
  std::exception_ptr error;
  bool landed = true;
};
void sweep_write_faults(const std::string& path, std::uint64_t writes, std::uint64_t syncs,
                        const std::function<FaultedRun(const testing::FaultPlan&)>& run,
                        const std::function<void(bool landed)>& after);

// Expected tensor bytes by name.
using DataMap = std::map<std::string, std::vector<std::byte>>;

// Deterministic bytes, different for each seed.
[[nodiscard]] std::vector<std::byte> pattern(std::size_t n, unsigned seed);
[[nodiscard]] std::vector<std::byte> read_file(const std::string& path);
void write_file(const std::string& path, std::span<const std::byte> bytes);
[[nodiscard]] std::uint32_t zlib_crc(std::span<const std::byte> bytes);

// Parses the file with the official loader's checks (strict), checks that every tensor
// has a crc32 field equal to zlib's CRC-32 of its bytes (expect_crc) or none (!expect_crc)
// and, when `expected` is given, that each tensor's bytes equal expected[name].
// Reports failures through gtest; returns the header.
Header check_file(const std::string& path, bool expect_crc, const DataMap* expected = nullptr);
// The same on the bytes of a file already read (`path` names it in messages).
Header check_bytes(const std::vector<std::byte>& file, const std::string& path, bool expect_crc,
                   const DataMap* expected = nullptr);

// An engine on `backend` with `chunk_size` staging buffers; nullptr when that backend
// cannot run here (io_uring denied).
[[nodiscard]] std::shared_ptr<Engine> make_engine(BackendKind backend,
                                                  std::size_t chunk_size = 64 * 1024,
                                                  unsigned buffer_count = 8);

// The backend/mode matrix of the round-trip suites.
struct IoConfig {
  BackendKind backend;
  IoMode mode;
};
[[nodiscard]] std::vector<IoConfig> io_configs();
[[nodiscard]] std::string config_name(const IoConfig& c);

// Both backends as a test parameter, named "uring" / "threads":
//   INSTANTIATE_TEST_SUITE_P(Io, Suite, ::testing::ValuesIn(both_backends()), BackendName());
[[nodiscard]] std::vector<BackendKind> both_backends();
using test::BackendName;

// Holds an engine thread until open() (or destruction): post task() with Engine::post (the
// worker: copies and CRCs wait) or Engine::post_blocking (the close's file-system steps wait).
class Gate {
 public:
  Gate() : opened_(promise_.get_future().share()) {}
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() { open(); }
  [[nodiscard]] std::function<void()> task() const {
    return [f = opened_] { f.wait(); };
  }
  void open() {
    if (!open_) promise_.set_value();
    open_ = true;
  }

 private:
  std::promise<void> promise_;
  std::shared_future<void> opened_;
  bool open_ = false;
};

// A TensorMeta list with contiguous offsets in the given order.
struct Spec {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
};
[[nodiscard]] std::vector<TensorMeta> contiguous(const std::vector<Spec>& specs);

// Runs this test binary again as a child with only `test_name` (Suite.Name) and the
// environment variable `env_name`=`env_value`; returns the child's pid (not waited for).
// `quiet` sends the child's output to /dev/null.
[[nodiscard]] int spawn_self(const std::string& test_name, const std::string& env_name,
                             const std::string& env_value, bool quiet = false);
// Waits for `pid`; returns its exit status, or 128 + signal number.
int wait_child(int pid);

}  // namespace stsw::writer_test
