#include "cli/cli_files.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "stsw/crc32.hpp"
#include "stsw/error.hpp"

namespace stsw::test {

TensorData make_tensor(std::string name, DType dtype, std::vector<std::uint64_t> shape,
                       unsigned seed) {
  TensorData t{std::move(name), dtype, std::move(shape), {}};
  const auto size = byte_size(dtype, t.shape);
  if (!size) throw std::invalid_argument("bad shape");
  t.data.resize(*size);
  for (std::size_t i = 0; i < t.data.size(); ++i) {
    t.data[i] = static_cast<std::byte>((i * 7 + seed) & 0xFF);
  }
  return t;
}

std::uint64_t write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                                const std::optional<Metadata>& metadata, bool with_crc,
                                std::uint64_t align) {
  std::vector<TensorMeta> metas;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    TensorMeta m{t.name, t.dtype, t.shape, offset, offset + t.data.size(), std::nullopt};
    if (with_crc) m.crc32 = crc32(t.data);
    offset += t.data.size();
    metas.push_back(std::move(m));
  }
  EncodeOptions eo;
  eo.align = align;
  std::string file = encode_header(metas, metadata, eo);
  const std::uint64_t data_offset = file.size();
  for (const auto& t : tensors) {
    file.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  }
  write_file(path, file);
  return data_offset;
}

std::string write_sharded(const std::string& dir,
                          const std::vector<std::vector<TensorData>>& shards) {
  std::string weight_map;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    write_safetensors(dir + "/" + name, shards[i], Metadata{{"format", "pt"}}, true);
    for (const auto& t : shards[i]) {
      if (!weight_map.empty()) weight_map += ",";
      weight_map += "\"" + t.name + "\":\"" + name + "\"";
      total += t.data.size();
    }
  }
  const std::string index = dir + "/model.safetensors.index.json";
  write_file(index, "{\"metadata\":{\"total_size\":" + std::to_string(total) +
                        "},\"weight_map\":{" + weight_map + "}}");
  return index;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) throw std::runtime_error("open " + path);
  unsigned char b = 0;
  if (::pread(fd, &b, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pread");
  b ^= 0xFF;
  if (::pwrite(fd, &b, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pwrite");
  ::close(fd);
}

std::string with_length_prefix(std::uint64_t n, std::string_view rest) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  s.append(rest);
  return s;
}

std::vector<boost::json::value> parse_json_lines(const std::string& out) {
  std::vector<boost::json::value> docs;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    docs.push_back(boost::json::parse(line, ec));
    EXPECT_FALSE(ec) << "not JSON: " << line;
  }
  return docs;
}

bool is_error_kind(std::string_view name) {
  for (int c = 0; c <= static_cast<int>(Errc::Unsupported); ++c) {
    if (to_string(static_cast<Errc>(c)) == name) return true;
  }
  return false;
}

}  // namespace stsw::test
