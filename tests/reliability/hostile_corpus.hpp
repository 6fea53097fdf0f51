// The hostile-input corpus: malformed safetensors files and sharded indexes, generated
// deterministically in memory (nothing downloaded, nothing random), each with what the
// reader must answer. Run by hostile_test.cpp through StreamReader and the stsw CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stsw/error.hpp"

namespace stsw::hostile {

// One file of a case. Its bytes are `head`, then `fill_count` copies of `fill`, then
// `tail` (so that 100 MB headers are never held in memory). A zero fill is written as a
// hole (sparse file).
struct FileSpec {
  enum class Kind { Regular, Directory, Fifo };
  std::string name = {};  // file name inside the case's directory ("sub/x": in a subdir)
  std::string head = {};
  std::uint64_t fill_count = 0;
  char fill = '\0';
  std::string tail = {};
  Kind kind = Kind::Regular;  // a directory or FIFO where a file is expected

  [[nodiscard]] std::uint64_t size() const noexcept {
    return head.size() + fill_count + tail.size();
  }
};

enum class Expect {
  Exact,        // StreamReader::open (strict) throws exactly `code`
  AnyError,     // open throws some stsw::Error
  ErrorOrOpen,  // a format error, or a clean open after which verify reports ok/mismatch
  Opens,        // opens strictly; verify passes unless `mismatches` says otherwise
};

struct Case {
  std::string family;  // "official", "truncate", "bitflip", "dataflip", "huge", ...
  std::string name;    // unique within the corpus, used as the directory name
  std::vector<FileSpec> files;
  std::string open;  // the file to open (files[0].name when empty)
  Expect expect = Expect::Exact;
  std::optional<Errc> code;          // Exact
  std::optional<Errc> lenient_code;  // when set: a lenient open throws exactly this
  std::size_t mismatches = 0;        // Opens: tensors verify must report as mismatched
  // Peak RSS growth allowed while opening and verifying (0: not measured).
  std::uint64_t memory_bound = 0;
  bool big = false;  // ~100 MB on disk: written only while it runs
  bool cli = false;  // also run through `stsw inspect` and `stsw verify`

  [[nodiscard]] const std::string& open_name() const { return open.empty() ? files[0].name : open; }
};

// Building blocks (also used by the tests themselves).
[[nodiscard]] std::string le64(std::uint64_t n);
// 8-byte length prefix + header + data.
[[nodiscard]] std::string file_with(const std::string& header, const std::string& data = {});
// A tensor entry `"name":{"dtype":..,"shape":..,"data_offsets":[b,e]<extra>}`.
[[nodiscard]] std::string entry(const std::string& name, const std::string& dtype,
                                const std::string& shape, std::uint64_t begin, std::uint64_t end,
                                const std::string& extra = {});
// A small strictly valid file with crc32 fields: three tensors (F32 [2,3], BF16 [5],
// U8 [7]) and metadata; header padded to 8.
[[nodiscard]] std::string small_valid_file();

// The families. Every case of every family; cli marks a representative subset.
[[nodiscard]] std::vector<Case> official_cases();  // one or more per official error kind
[[nodiscard]] std::vector<Case> truncation_cases();
[[nodiscard]] std::vector<Case> bitflip_cases();   // every bit of the length and header
[[nodiscard]] std::vector<Case> dataflip_cases();  // one bit in every data byte
[[nodiscard]] std::vector<Case> huge_cases();      // declared sizes, lengths, nesting, 100 MB
[[nodiscard]] std::vector<Case> name_cases();      // duplicates, NUL, invalid UTF-8
[[nodiscard]] std::vector<Case> index_cases();     // model.safetensors.index.json

[[nodiscard]] std::vector<Case> all_cases();

}  // namespace stsw::hostile
