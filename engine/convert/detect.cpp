// Recognizing the converter's input formats from their first bytes.
#include <array>
#include <cstring>

#include "convert/source.hpp"
#include "convert/torch_checkpoint.hpp"
#include "convert/zip_reader.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace stsw::cvt {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool looks_like_safetensors(std::span<const std::byte> prefix, std::uint64_t file_size) {
  if (prefix.size() < 9) return false;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(prefix[i]);
  if (n == 0 || n > kMaxHeaderSize || n > file_size - 8) return false;
  // The JSON object may be preceded by whitespace.
  for (std::size_t i = 8; i < prefix.size() && i < 8 + n; ++i) {
    const char c = static_cast<char>(prefix[i]);
    if (c == '{') return true;
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return false;
}

}  // namespace

ConvertFormat detect_format(const std::string& path) {
  if (ends_with(path, ".json")) return ConvertFormat::Safetensors;
  const InputFile f = InputFile::open(path);
  std::array<std::byte, 512> buf{};
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), f.size()));
  f.read_exact(0, std::span(buf).first(n), "the first bytes");
  const std::span<const std::byte> prefix(buf.data(), n);
  if (looks_like_zip(prefix)) {
    const ZipArchive zip = ZipArchive::open(f);
    if (is_torch_zip(zip)) return ConvertFormat::Torch;
    // np.savez(f) with no arrays writes an archive without members: an empty .npz.
    if (zip.entries().empty()) return ConvertFormat::Npz;
    for (const auto& e : zip.entries()) {
      if (e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, ".npy") == 0) {
        return ConvertFormat::Npz;
      }
    }
    throw Error(Errc::InvalidArgument,
                path +
                    ": a zip archive that is neither a torch.save checkpoint (no "
                    "'<folder>/data.pkl') nor a NumPy .npz (no .npy members)");
  }
  if (n >= 6 && std::memcmp(prefix.data(), "\x93NUMPY", 6) == 0) return ConvertFormat::Npy;
  if (looks_like_safetensors(prefix, f.size())) return ConvertFormat::Safetensors;
  if (looks_like_legacy_torch(prefix)) {
    throw Error(Errc::Unsupported,
                path +
                    ": a legacy (pre-1.6, non-zip) PyTorch checkpoint; it is refused because "
                    "reading it needs the full unpickler. Re-save it with a current torch.save "
                    "(the zip format) and convert that");
  }
  throw Error(Errc::InvalidArgument,
              path +
                  ": unrecognized input format (expected a torch.save zip checkpoint, .npy, "
                  ".npz, .safetensors or a sharded .index.json)");
}

}  // namespace stsw::cvt
