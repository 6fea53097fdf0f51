#include "reliability/safety_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "reliability/crash_support.hpp"
#include "writer/temp_names.hpp"

namespace stsw::reliability {

std::shared_ptr<Engine> small_engine(BackendKind backend) {
  EngineOptions eo;
  eo.backend = backend;
  eo.chunk_size = 64 * 1024;
  eo.buffer_count = 2;
  return Engine::create(eo);
}

void write_small(const std::string& path, std::uint8_t fill, std::size_t n) {
  WriterOptions o;
  o.engine = small_engine();
  const Layout layout = plan_layout({{"t", DType::U8, {n}}}, LayoutOrder::Keep);
  auto w = StreamWriter::open(path, layout.tensors, o);
  const std::vector<std::byte> data(n, std::byte{fill});
  w.write_block("t", data).get();
  w.close().get();
}

std::string read_text(const std::string& path) {
  const std::vector<std::byte> b = slurp(path);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void put_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("create " + path);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("write " + path);
}

std::string npy_f32(std::size_t n) {
  std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ",), }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  out += dict;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(i) * 0.5F;
    char b[4];
    std::memcpy(b, &v, 4);
    out.append(b, 4);
  }
  return out;
}

mode_t file_type(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & S_IFMT;
}

std::vector<std::string> hidden_files(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    if (writer::is_hidden_temp_name(e->d_name)) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

}  // namespace stsw::reliability
