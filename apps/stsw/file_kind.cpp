#include "file_kind.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

#include "report.hpp"

namespace stsw::cli {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// The name of the first member of a zip archive (its first local file header).
std::string_view first_zip_member(std::string_view head) {
  if (head.size() < 30) return {};
  const auto u16 = [&](std::size_t at) {
    return static_cast<std::size_t>(static_cast<unsigned char>(head[at]) |
                                    (static_cast<unsigned char>(head[at + 1]) << 8));
  };
  const std::size_t len = std::min(u16(26), head.size() - 30);
  return head.substr(30, len);
}

bool mostly_text(std::string_view head) {
  for (const char ch : head) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
  }
  return true;
}

FileKind classify(std::string_view head, std::uint64_t size) {
  if (size == 0) return FileKind::Empty;
  if (head.starts_with("version https://git-lfs.github.com/spec/")) return FileKind::GitLfsPointer;
  if (head.starts_with(std::string_view("PK\x03\x04", 4))) {
    const std::string_view first = first_zip_member(head);
    if (first.ends_with("data.pkl") || first.ends_with(".data/version") ||
        first.ends_with("/version") || first.ends_with("byteorder")) {
      return FileKind::TorchZip;
    }
    if (first.ends_with(".npy")) return FileKind::Npz;
    return FileKind::Zip;
  }
  if (head.starts_with("\x93NUMPY")) return FileKind::Npy;
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 &&
      static_cast<unsigned char>(head[1]) >= 2 && static_cast<unsigned char>(head[1]) <= 5) {
    return FileKind::Pickle;
  }
  std::string_view trimmed = head;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  if (starts_with_ci(trimmed, "<!doctype html") || starts_with_ci(trimmed, "<html") ||
      starts_with_ci(trimmed, "<head") || starts_with_ci(trimmed, "<body")) {
    return FileKind::Html;
  }
  // A safetensors header length is 8 binary bytes; a file whose first bytes are all text
  // cannot be one (its length would be beyond any header size stsw accepts).
  if (head.size() >= 8 && mostly_text(head)) return FileKind::Text;
  return FileKind::Unknown;
}

}  // namespace

FileKind sniff_file_kind(const std::string& path) noexcept {
  // An index is JSON text by design; its errors name the index or the shard at fault.
  if (path.ends_with(".json")) return FileKind::Unknown;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return FileKind::Unknown;
  struct stat st {};
  char buf[512];
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = ::pread(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n < 0) return FileKind::Unknown;
  return classify(std::string_view(buf, static_cast<std::size_t>(n)),
                  static_cast<std::uint64_t>(st.st_size));
}

std::optional<std::string> file_kind_hint(FileKind kind, const std::string& path,
                                          bool for_convert) {
  const std::string convert = "convert it with `stsw convert " + path + " OUT.safetensors`";
  switch (kind) {
    case FileKind::Unknown: return std::nullopt;
    case FileKind::Empty:
      return "an empty file (0 bytes): an interrupted download or copy? Fetch it again";
    case FileKind::GitLfsPointer:
      return "a Git LFS pointer file (a small text file naming the real one), not the weights: "
             "run `git lfs install && git lfs pull` in the repository, or download the file "
             "itself (e.g. `huggingface-cli download`)";
    case FileKind::TorchZip:
      if (for_convert) return std::nullopt;
      return "a PyTorch checkpoint (torch.save zip), not safetensors: " + convert;
    case FileKind::Npz:
      if (for_convert) return std::nullopt;
      return "a NumPy .npz archive, not safetensors: " + convert;
    case FileKind::Npy:
      if (for_convert) return std::nullopt;
      return "a NumPy .npy array, not safetensors: " + convert;
    case FileKind::Zip:
      return "a zip archive that is neither a PyTorch checkpoint nor a NumPy .npz: unpack it "
             "and look for the .safetensors (or .pt, .bin, .npy) files inside";
    case FileKind::Pickle:
      return "a Python pickle (a legacy, pre-1.6 PyTorch checkpoint?): stsw never runs pickles; "
             "in Python, load it and save it with torch.save (the zip format, which `stsw "
             "convert` reads) or safetensors' save_file";
    case FileKind::Html:
      return "an HTML page (an error or login page saved instead of the file?): download it "
             "again (on Hugging Face, use the /resolve/ URL, not /blob/)";
    case FileKind::Text:
      return "a text file, not safetensors (a safetensors file starts with an 8-byte binary "
             "header length)";
  }
  return std::nullopt;
}

std::string error_text_with_hint(const std::exception& e, const std::string& path,
                                 bool for_convert) {
  std::string text = error_text(e, path);
  if (path.empty()) return text;
  if (const auto hint = file_kind_hint(sniff_file_kind(path), path, for_convert)) {
    text += "; " + path + " is " + *hint;
  }
  return text;
}

}  // namespace stsw::cli
