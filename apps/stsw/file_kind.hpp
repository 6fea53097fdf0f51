// Recognising the files people hand to stsw by mistake, so that an error about a file that is
// not safetensors says what the file is and what to do, instead of only "HeaderTooLarge:
// header length 7235...".
//
// Recognised from the first bytes (at most 512 are read): empty files, Git LFS pointers
// (the most common broken download), PyTorch zip checkpoints, NumPy .npz and .npy files,
// other zip archives, Python pickles (legacy PyTorch checkpoints), HTML pages (an error or
// login page saved instead of the file) and other text.
#pragma once

#include <exception>
#include <optional>
#include <string>

namespace stsw::cli {

enum class FileKind {
  Unknown,  // possibly safetensors (or unreadable): no hint
  Empty,
  GitLfsPointer,
  TorchZip,
  Npz,
  Zip,
  Pickle,
  Npy,
  Html,
  Text,
};

// What `path` looks like; Unknown when it cannot be opened or matches nothing above.
[[nodiscard]] FileKind sniff_file_kind(const std::string& path) noexcept;

// "a Git LFS pointer file, not the weights: run `git lfs pull` ..."; nullopt for Unknown.
// `for_convert`: kinds `stsw convert` reads (torch zip, npz, npy) get no hint.
[[nodiscard]] std::optional<std::string> file_kind_hint(FileKind kind, const std::string& path,
                                                        bool for_convert = false);

// error_text(e, path), followed by "; the file is <hint>" when the file is recognised.
[[nodiscard]] std::string error_text_with_hint(const std::exception& e, const std::string& path,
                                               bool for_convert = false);

}  // namespace stsw::cli
