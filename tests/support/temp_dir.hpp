// The one scratch-directory class of the tests (every area's TempDir is this class or a
// thin subclass naming its own parent directory), in the stsw_test_support library that
// stsw_add_test links into every test binary.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace stsw::test {

// A fresh directory "<parent>/stsw-<tag>-XXXXXX" (mkdtemp), removed with its contents at
// destruction. Throws std::runtime_error when it cannot be created. Not thread-safe to
// share while it is being destroyed; otherwise only its name is read.
class TempDir {
 public:
  explicit TempDir(std::string_view tag = "test", std::string parent = default_parent());
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::string file(std::string_view name) const {
    return path_ + "/" + std::string(name);
  }
  // Names in the directory (hidden ones included), sorted.
  [[nodiscard]] std::vector<std::string> entries() const;

  // $TMPDIR, or /tmp when unset or empty.
  [[nodiscard]] static std::string default_parent();

 private:
  std::string path_;
};

}  // namespace stsw::test
