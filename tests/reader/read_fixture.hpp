// The fixture shared by the read_into/get_slice and for_each suites: the mixed test file
// on an engine of each backend, opened in each ReadMode.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw::test {

struct Param {
  BackendKind backend;
  ReadMode mode;
};

inline std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(info.param.backend == BackendKind::Uring ? "uring" : "threads") + "_" +
         std::string(to_string(info.param.mode));
}

class ReadTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    engine_ = test::make_engine(GetParam().backend);
    if (!engine_) GTEST_SKIP() << "io_uring is not available here (denied or unsupported)";
    tensors_ = test::mixed_tensors();
    path_ = dir_.file("mixed.safetensors");
    test::write_file(path_, test::build_file(tensors_, test::mixed_layout()));
  }

  StreamReader open(ReaderOptions o = {}) const {
    o.engine = engine_;
    o.io_mode = GetParam().mode;
    o.chunk_size = 64 * 1024;
    o.buffer_count = 3;
    return StreamReader::open(path_, o);
  }

  const test::TensorData& tensor(const std::string& name) const {
    for (const auto& t : tensors_) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no " + name);
  }

  test::TempDir dir_;
  std::string path_;
  std::shared_ptr<Engine> engine_;
  std::vector<test::TensorData> tensors_;
};

// Page-aligned memory with a chosen misalignment, so O_DIRECT sees congruent and
// non-congruent destinations.
struct AlignedBytes {
  explicit AlignedBytes(std::size_t n, std::size_t shift = 0)
      : raw(static_cast<std::byte*>(
            std::aligned_alloc(4096, (n + shift + 4095) / 4096 * 4096 + 4096))),
        span(raw + shift, n) {}
  ~AlignedBytes() { std::free(raw); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  std::byte* raw;
  std::span<std::byte> span;
};

// Every backend x mode combination.
inline auto all_modes() {
  return ::testing::Values(
      Param{BackendKind::Threads, ReadMode::Buffered},
      Param{BackendKind::Threads, ReadMode::Direct}, Param{BackendKind::Threads, ReadMode::Mmap},
      Param{BackendKind::Threads, ReadMode::Auto}, Param{BackendKind::Uring, ReadMode::Buffered},
      Param{BackendKind::Uring, ReadMode::Direct}, Param{BackendKind::Uring, ReadMode::Mmap},
      Param{BackendKind::Uring, ReadMode::Auto});
}

}  // namespace stsw::test
