// The steps of `stsw selftest`. Each step returns a StepResult instead of throwing: a
// failed step is reported and the remaining steps still run where they can.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "selftest_data.hpp"
#include "stsw/aligned_buffer.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"

namespace stsw::cli {

struct StepResult {
  std::string name;       // "write", "read", "verify", "corrupt"
  std::string mode;       // the I/O mode asked for: "auto", "direct", "buffered", "mmap"
  std::string effective;  // the one in use after probing and fallbacks
  bool ok = false;
  std::uint64_t bytes = 0;
  double seconds = 0;  // the timed part (I/O and CRC; comparisons excluded)
  std::string detail;  // what was checked, or why it failed
};

// Read-back destinations, allocated and touched once before any timing so that page
// faults on fresh memory are not measured as I/O (huge pages where the kernel allows).
class DestinationPool {
 public:
  DestinationPool(std::size_t count, std::size_t bytes_each);
  DestinationPool(const DestinationPool&) = delete;
  DestinationPool& operator=(const DestinationPool&) = delete;
  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  [[nodiscard]] std::span<std::byte> get(std::size_t i, std::size_t bytes) const noexcept;

 private:
  AlignedBuffer memory_;  // count_ * each_ bytes on a 2 MiB boundary
  std::size_t count_ = 0;
  std::size_t each_ = 0;
};

struct SelftestContext {
  std::shared_ptr<Engine> engine;
  std::string file;  // the file the write step creates
  const PatternSource* pattern = nullptr;
  DestinationPool* destinations = nullptr;
  bool progress = false;  // progress bars (only drawn on a terminal)
  // Filled by the write step: the tensors in file order (crc32 set) and the data offset.
  std::vector<TensorMeta> tensors;
  std::uint64_t data_offset = 0;
};

StepResult write_step(SelftestContext& ctx, const std::vector<TensorSpec>& specs);
// read_into every tensor with the given mode, or (slice) get_slice views of the mapping.
StepResult read_step(const SelftestContext& ctx, ReadMode mode, bool slice);
StepResult verify_step(const SelftestContext& ctx);
// Flips one byte of one tensor in a copy at `copy_path` and checks that verify() reports
// exactly that tensor and read_into refuses it.
StepResult corrupt_step(const SelftestContext& ctx, const std::string& copy_path);

}  // namespace stsw::cli
