// The fixture of the conversion tests that build their inputs: byte helpers, a torch-like
// archive builder and a refusal check that also asserts nothing was left behind.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "convert/test_support.hpp"
#include "stsw/convert.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw {

using cvt::test::make_npy;
using cvt::test::make_zip;
using cvt::test::Pickle;
using cvt::test::read_file;
using cvt::test::TempDir;
using cvt::test::write_file;
using cvt::test::ZipMember;

inline ReaderOptions strict_options() {
  ReaderOptions o;
  o.strict = true;
  return o;
}

inline std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

inline std::string tensor_bytes(const StreamReader& r, const std::string& name) {
  std::string bytes(r.meta(name).nbytes(), '\0');
  r.read_into(name, std::as_writable_bytes(std::span(bytes))).get();
  return bytes;
}

// A torch-like archive: data.pkl plus storages "archive/data/<i>".
inline std::string torch_zip(const std::string& pickle, const std::vector<std::string>& storages,
                             const cvt::test::ZipOptions& zo = {}, bool deflate_storages = false) {
  std::vector<ZipMember> m = {{"archive/data.pkl", pickle, false}};
  for (std::size_t i = 0; i < storages.size(); ++i) {
    m.push_back({"archive/data/" + std::to_string(i), storages[i], deflate_storages});
  }
  m.push_back({"archive/version", "3\n", false});
  return make_zip(m, zo);
}

class Convert : public ::testing::Test {
 protected:
  // Expects conversion of `bytes` to fail with `code` and `needle`, leaving a previous
  // output file untouched.
  void expect_refused(const std::string& bytes, Errc code, const std::string& needle,
                      const ConvertOptions& o = {}) {
    write_file(dir_.file("in.pt"), bytes);
    write_file(dir_.file("out.safetensors"), "previous");
    try {
      (void)convert(dir_.file("in.pt"), dir_.file("out.safetensors"), o);
      ADD_FAILURE() << "accepted; expected " << to_string(code) << " '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_THAT(e.what(), ::testing::HasSubstr(needle));
    }
    EXPECT_EQ(read_file(dir_.file("out.safetensors")), "previous");
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string n = entry.path().filename().string();
      EXPECT_TRUE(n == "in.pt" || n == "out.safetensors" || n == "marker") << "left behind: " << n;
    }
  }
  TempDir dir_;
};

}  // namespace stsw
