// Helpers of the data-safety tests (issue 20): small files written with a private engine,
// .npy inputs, file-type checks and the real `stsw` binary when it is built.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "stsw/writer.hpp"

namespace stsw::reliability {

// A private engine of 2 x 64 KiB buffers on `backend`.
[[nodiscard]] std::shared_ptr<Engine> small_engine(BackendKind backend = BackendKind::Auto);
// Writes a valid file with one U8 tensor "t" of `n` bytes of `fill`.
void write_small(const std::string& path, std::uint8_t fill, std::size_t n = 5000);
[[nodiscard]] std::string read_text(const std::string& path);
void put_text(const std::string& path, const std::string& text);
// A little-endian float32 .npy file of `n` values i * 0.5.
[[nodiscard]] std::string npy_f32(std::size_t n);
// lstat's file type bits, 0 when the path does not exist.
[[nodiscard]] mode_t file_type(const std::string& path);
// Hidden temporary names ('.' + ... + ".stsw-" + 12 hex digits) in `dir`.
[[nodiscard]] std::vector<std::string> hidden_files(const std::string& dir);

}  // namespace stsw::reliability
