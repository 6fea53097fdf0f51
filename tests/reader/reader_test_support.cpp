#include "reader/reader_test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "io/fault_injection.hpp"
#include "stsw/crc32.hpp"
#include "stsw/tensor_meta.hpp"
#include "support/engine_settle.hpp"

namespace stsw::test {

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<std::byte> build_file(const std::vector<TensorData>& tensors, const LayoutOptions& o) {
  std::string json = "{";
  bool first = true;
  auto sep = [&] {
    if (!first) json += ",";
    first = false;
  };
  if (!o.extra_top_level.empty()) {
    sep();
    json += o.extra_top_level;
  }
  if (o.metadata) {
    sep();
    json += "\"__metadata__\":{";
    bool mf = true;
    for (const auto& [k, v] : *o.metadata) {
      if (!mf) json += ",";
      mf = false;
      json += json_string(k) + ":" + json_string(v);
    }
    json += "}";
  }
  std::vector<std::byte> data;
  for (const auto& t : tensors) {
    const std::uint64_t begin = data.size();
    data.insert(data.end(), t.data.begin(), t.data.end());
    const std::uint64_t end = data.size();
    if (o.tensor_pad > 0) {
      while (data.size() % o.tensor_pad != 0) data.push_back(std::byte{0});
    }
    sep();
    json +=
        json_string(t.name) + ":{\"dtype\":\"" + std::string(to_string(t.dtype)) + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      json += (i ? "," : "") + std::to_string(t.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]";
    if (t.with_crc) json += ",\"crc32\":" + std::to_string(crc32(t.data));
    json += "}";
  }
  json += "}";
  while ((8 + json.size()) % o.align != 0) json += ' ';
  std::vector<std::byte> file(8);
  std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  for (char c : json) file.push_back(static_cast<std::byte>(c));
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::byte>((i * 131 + seed * 7 + i / 251) % 251);
  return v;
}

void write_file(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
  return out;
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) throw std::runtime_error("open " + path);
  unsigned char b = 0;
  if (::pread(fd, &b, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pread");
  b = static_cast<unsigned char>(~b);
  if (::pwrite(fd, &b, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pwrite");
  ::close(fd);
}

std::shared_ptr<Engine> make_engine(BackendKind backend, std::size_t chunk_size) {
  EngineOptions o;
  o.backend = backend;
  o.chunk_size = chunk_size;
  o.queue_depth = 4;
  o.buffer_count = 8;
  o.worker_threads = 2;
  auto e = Engine::create(o);
  if (backend != BackendKind::Auto && e->backend() != backend) return nullptr;
  return e;
}

std::string vectors_dir() { return STSW_VECTORS_DIR; }

}  // namespace stsw::test

namespace stsw::test {

std::vector<TensorData> mixed_tensors() {
  return {
      {"big", DType::F32, {266 * 1024}, pattern(266 * 4096, 1)},
      {"tail", DType::U8, {100000}, pattern(100000, 2)},
      {"odd", DType::U8, {70001}, pattern(70001, 3)},
      {"tiny", DType::I16, {5}, pattern(10, 4)},
      {"empty", DType::F32, {0, 3}, {}},
      {"scalar", DType::F32, {}, pattern(4, 5)},
      {"nocrc", DType::U8, {5000}, pattern(5000, 6), false},
      {"last", DType::U8, {4097}, pattern(4097, 7)},
  };
}

LayoutOptions mixed_layout() {
  LayoutOptions o;
  o.align = 4096;
  o.metadata = Metadata{{"format", "pt"}};
  return o;
}

ReadFaultSweep sweep_read_faults(
    const EngineOptions& options,
    const std::function<StreamReader(const std::shared_ptr<Engine>&)>& open,
    const std::function<void(const StreamReader&)>& op, std::uint64_t min_requests,
    const std::function<void(const Error&)>& check_error) {
  using testing::Fault;
  ReadFaultSweep out;
  std::shared_ptr<testing::FaultCounters> counters;
  {
    auto engine = testing::make_faulty_engine(options, {}, &counters);
    const auto r = open(engine);
    EXPECT_NO_THROW(op(r));
  }
  out.requests = counters->count(Fault::Op::Read);
  EXPECT_GE(out.requests, min_requests);
  for (std::uint64_t i = 0; i < out.requests; ++i) {
    for (Fault::Kind kind : {Fault::Kind::Eio, Fault::Kind::Short, Fault::Kind::Eagain}) {
      SCOPED_TRACE(::testing::Message() << "request " << i << " kind " << static_cast<int>(kind));
      std::shared_ptr<testing::FaultCounters> c;
      auto engine = testing::make_faulty_engine(
          options, testing::FaultPlan{{Fault{Fault::Op::Read, i, kind}}, false}, &c);
      bool threw = false;
      {
        // The reader goes before the leak check: a live reader may hold one buffer of
        // read-ahead (ReaderOptions::read_ahead).
        const auto r = open(engine);
        try {
          op(r);
        } catch (const Error& e) {
          threw = true;
          EXPECT_EQ(e.code(), Errc::Io) << e.what();
          EXPECT_EQ(e.sys_errno(), EIO);
          if (check_error) check_error(e);
        }
      }
      const bool injected = c->injected.load() == 1;
      if (kind == Fault::Kind::Eio && injected) ++out.eio_landed;
      EXPECT_EQ(threw, kind == Fault::Kind::Eio && injected) << "injected: " << injected;
      const EngineStats st = settled_stats(*engine);
      EXPECT_EQ(st.buffers_free, st.buffers_total) << "a staging buffer leaked";
    }
  }
  return out;
}

}  // namespace stsw::test
