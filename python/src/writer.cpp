// _stsw.Writer: stsw::StreamWriter for stsw.StreamWriter (python/stsw/writer.py), which
// turns Python stsw 1.0 metas into the contiguous layout this class takes.
//
// Every call that may wait (open, write_block, finalize_tensor, close, abort) releases
// the GIL. write_block waits until the engine has copied the caller's bytes into its
// staging buffers, so the buffer is held (Py_buffer) exactly as long as it is read and
// never copied on the Python side.
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "stsw/writer.hpp"

namespace stsw::py {
namespace {

class PyWriter {
 public:
  static std::unique_ptr<PyWriter> open(const std::string& path, const pyb::list& metas, bool crc32,
                                        std::uint64_t align, std::optional<Metadata> metadata,
                                        bool durable) {
    std::vector<TensorMeta> plan;
    plan.reserve(metas.size());
    for (auto m : metas) plan.push_back(meta_from_tuple(m));
    WriterOptions options;
    options.crc32 = crc32;
    options.align = align;
    options.metadata = std::move(metadata);
    options.durable = durable;
    pyb::gil_scoped_release nogil;
    return std::make_unique<PyWriter>(StreamWriter::open(path, plan, options));
  }

  explicit PyWriter(StreamWriter w) : w_(std::move(w)) {}

  void write_block(const std::string& name, pyb::handle data) {
    BufferGuard buf(data, /*writable=*/false);
    auto bytes = buf.bytes();
    pyb::gil_scoped_release nogil;
    w_.write_block(name, bytes).get();
  }

  void finalize_tensor(const std::string& name) {
    pyb::gil_scoped_release nogil;
    w_.finalize_tensor(name);
  }

  void close() {
    pyb::gil_scoped_release nogil;
    w_.close().get();
  }

  void abort() {
    pyb::gil_scoped_release nogil;
    w_.abort();
  }

  // stats() and tensors() take the writer's lock, which a write_block waiting for a
  // staging buffer holds: wait for it without the GIL.
  pyb::dict stats() const {
    const WriterStats s = without_gil([&] { return w_.stats(); });
    pyb::dict d;
    d["bytes_staged"] = s.bytes_staged;
    d["bytes_written"] = s.bytes_written;
    d["bytes_total"] = s.bytes_total;
    d["elapsed_seconds"] = s.elapsed_seconds;
    d["mb_per_s"] = s.mb_per_s;
    d["eta_seconds"] = s.eta_seconds;
    d["peak_rss_bytes"] = s.peak_rss_bytes;
    return d;
  }

  pyb::list tensors() const {
    const std::vector<TensorMeta> metas = without_gil([&] { return w_.tensors(); });
    pyb::list out;
    for (const auto& m : metas) out.append(meta_to_tuple(m));
    return out;
  }

  std::uint64_t header_size() const { return w_.header_size(); }
  std::string path() const { return w_.path(); }

 private:
  StreamWriter w_;
};

}  // namespace

void bind_writer(pyb::module_& m) {
  pyb::class_<PyWriter>(m, "Writer")
      .def_static("open", &PyWriter::open, pyb::arg("path"), pyb::arg("metas"), pyb::arg("crc32"),
                  pyb::arg("align"), pyb::arg("metadata"), pyb::arg("durable"))
      .def("write_block", &PyWriter::write_block, pyb::arg("name"), pyb::arg("data"))
      .def("finalize_tensor", &PyWriter::finalize_tensor, pyb::arg("name"))
      .def("close", &PyWriter::close)
      .def("abort", &PyWriter::abort)
      .def("stats", &PyWriter::stats)
      .def("tensors", &PyWriter::tensors)
      .def_property_readonly("header_size", &PyWriter::header_size)
      .def_property_readonly("path", &PyWriter::path);
}

}  // namespace stsw::py
