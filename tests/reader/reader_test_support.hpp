// Helpers for the reader tests: temporary directories, safetensors files laid out by
// hand (so the tests do not depend on the writer), engines of both backends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stsw/dtype.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"
#include "stsw/reader.hpp"
#include "support/page_cache.hpp"
#include "support/temp_dir.hpp"
#include "support/tensor_data.hpp"

namespace stsw::test {

// TempDir ($TMPDIR, default /tmp: a real file system so O_DIRECT works):
// tests/support/temp_dir.hpp. TensorData: tests/support/tensor_data.hpp.

struct LayoutOptions {
  std::uint64_t align = 8;       // data region alignment (header padded with spaces)
  std::uint64_t tensor_pad = 0;  // Python stsw style: zero bytes after each tensor up to
                                 // a multiple of this (0: contiguous)
  std::string extra_top_level;   // raw JSON members inserted first, e.g. "\"__version__\":\"1.0\""
  std::optional<Metadata> metadata;  // written as "__metadata__" when set
};

// The bytes of a safetensors file holding `tensors` in the order given (offsets
// contiguous unless tensor_pad), each with a "crc32" field when with_crc.
[[nodiscard]] std::vector<std::byte> build_file(const std::vector<TensorData>& tensors,
                                                const LayoutOptions& options = {});

// Deterministic bytes: (i * 131 + seed) mod 251 patterns, no two tensors alike.
[[nodiscard]] std::vector<std::byte> pattern(std::size_t n, unsigned seed);

void write_file(const std::string& path, const std::vector<std::byte>& bytes);
[[nodiscard]] std::vector<std::byte> read_file(const std::string& path);
// Overwrites one byte at `offset` with its bitwise complement.
void flip_byte(const std::string& path, std::uint64_t offset);

// An engine with small chunks (so small files take several requests) on `backend`;
// nullptr when that backend cannot run here (io_uring denied).
[[nodiscard]] std::shared_ptr<Engine> make_engine(BackendKind backend,
                                                  std::size_t chunk_size = 64 * 1024);

[[nodiscard]] std::string vectors_dir();

}  // namespace stsw::test

namespace stsw::test {

// A file exercising every read shape: with align 4096 the first tensors start on a block
// boundary (O_DIRECT straight into congruent memory), later ones do not (staged reads);
// one spans many 64 KiB chunks; zero-size, scalar and checksum-less tensors.
[[nodiscard]] std::vector<TensorData> mixed_tensors();
[[nodiscard]] LayoutOptions mixed_layout();

// A fault sweep of a read operation (fault injection, io/fault_injection.hpp): runs `op`
// on `open(engine)` once on a clean engine of `options` to count its read requests
// (at least `min_requests`), then once per request index with an EIO, a short and an
// EAGAIN fault injected there. An EIO that landed must fail `op` with Errc::Io (EIO),
// `check_error` adding the caller's checks of the Error; the retried faults must not
// fail it; no staging buffer may leak. The request count of a run can differ from the
// counting run (retried short or EAGAIN transfers are requests too), so an index may
// not be reached. Returns how many EIO faults landed, of how many requests.
struct ReadFaultSweep {
  std::uint64_t requests = 0;
  std::uint64_t eio_landed = 0;
};
ReadFaultSweep sweep_read_faults(
    const EngineOptions& options,
    const std::function<StreamReader(const std::shared_ptr<Engine>&)>& open,
    const std::function<void(const StreamReader&)>& op, std::uint64_t min_requests = 1,
    const std::function<void(const Error&)>& check_error = {});

}  // namespace stsw::test
