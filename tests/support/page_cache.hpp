// Page-cache control for tests that depend on whether a file is cached (the reader's
// ReadMode::Auto, the convert copy's split), in stsw_test_support.
#pragma once

#include <string>

namespace stsw::test {

// Writes back and drops the file's pages from the page cache (posix_fadvise DONTNEED),
// so that the next read is cold. Throws std::runtime_error when the file cannot be opened.
void drop_from_cache(const std::string& path);

}  // namespace stsw::test
