// _stsw.Reader: stsw::StreamReader for stsw.StreamReader / safe_open / load
// (python/stsw/reader.py), and _stsw.View, the owner of a zero-copy mapping view.
//
// Lifetime. The reader is held by a shared_ptr: close() drops the Reader's reference, but
// a View (and so every memoryview / NumPy array made from it) keeps the mapping alive
// until it is garbage-collected. Pending reads keep their files open by themselves (the
// C++ contract), and their ReadOp keeps the destination buffer.
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "common.hpp"
#include "read_op.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw::py {
namespace {

class View {
 public:
  View(std::shared_ptr<const StreamReader> owner, std::span<const std::byte> bytes)
      : owner_(std::move(owner)), bytes_(bytes) {}

  pyb::buffer_info buffer() const {
    static const std::byte kEmpty{};
    const void* ptr = bytes_.empty() ? &kEmpty : bytes_.data();
    return pyb::buffer_info(const_cast<void*>(ptr), 1, "B", 1,
                            {static_cast<pyb::ssize_t>(bytes_.size())}, {1}, /*readonly=*/true);
  }

 private:
  std::shared_ptr<const StreamReader> owner_;
  std::span<const std::byte> bytes_;
};

class PyReader {
 public:
  PyReader(const std::string& path, bool verify_crc, bool strict, bool allow_partial,
           const std::string& io_mode) {
    ReaderOptions options;
    options.verify_crc = verify_crc;
    options.strict = strict;
    options.allow_partial = allow_partial;
    const auto mode = parse_read_mode(io_mode);
    if (!mode) throw Error(Errc::InvalidArgument, "unknown io_mode '" + io_mode + "'");
    options.io_mode = *mode;
    pyb::gil_scoped_release nogil;
    reader_ = std::make_shared<const StreamReader>(StreamReader::open(path, options));
  }

  void close() {
    std::shared_ptr<const StreamReader> last;
    last.swap(reader_);
    pyb::gil_scoped_release nogil;  // a last reference may wait for the reader's files
    last.reset();
  }
  bool closed() const { return !reader_; }

  std::vector<std::string> keys() const { return get().keys(); }
  std::size_t size() const { return get().size(); }
  bool contains(const std::string& name) const { return get().contains(name); }
  pyb::tuple meta(const std::string& name) const { return meta_to_tuple(get().meta(name)); }
  Metadata metadata() const { return get().metadata(); }
  bool has_metadata() const {
    const auto& r = get();
    return r.sharded() || r.header(0).metadata.has_value();
  }
  Metadata index_metadata() const { return get().index_metadata(); }
  bool sharded() const { return get().sharded(); }
  std::string path() const { return get().path(); }
  std::string file_of(const std::string& name) const { return get().file_of(name); }

  pyb::list shards() const {
    pyb::list out;
    for (const auto& s : get().shards()) {
      pyb::dict d;
      d["path"] = s.path;
      d["file_size"] = s.file_size;
      d["data_offset"] = s.data_offset;
      d["mode"] = std::string(to_string(s.mode));
      out.append(d);
    }
    return out;
  }

  View get_slice(const std::string& name) const {
    auto owner = hold();
    // The first access checks the tensor's CRC.
    const auto bytes = without_gil([&] { return owner->get_slice(name); });
    return View(std::move(owner), bytes);
  }

  std::unique_ptr<ReadOp> read_into(const std::string& name, pyb::object out) const {
    const auto owner = hold();  // close() on another thread may drop reader_ meanwhile
    const auto& r = *owner;
    BufferGuard buf(out, /*writable=*/true);
    auto op = std::make_unique<ReadOp>(std::move(buf), out);
    auto dst = op->bytes();
    auto done = op->completion();
    {
      pyb::gil_scoped_release nogil;  // submission may wait for a staging buffer
      r.read_into(name, dst, std::move(done));
    }
    return op;
  }

  // For the other binding files (reader_of).
  std::shared_ptr<const StreamReader> shared() const { return hold(); }

  pyb::dict verify() const {
    const auto owner = hold();
    const VerifyReport rep = without_gil([&] { return owner->verify().get(); });
    pyb::list tensors;
    for (const auto& t : rep.tensors) {
      pyb::dict d;
      d["name"] = t.name;
      d["file"] = t.file;
      d["status"] = std::string(to_string(t.status));
      d["expected"] = t.expected ? pyb::object(pyb::int_(*t.expected)) : pyb::object(pyb::none());
      d["actual"] = t.actual;
      d["nbytes"] = t.nbytes;
      tensors.append(d);
    }
    pyb::dict d;
    d["tensors"] = tensors;
    d["ok"] = rep.ok;
    d["mismatched"] = rep.mismatched;
    d["unchecked"] = rep.unchecked;
    d["missing"] = rep.missing;
    d["bytes"] = rep.bytes;
    d["seconds"] = rep.seconds;
    d["notes"] = rep.notes;
    d["passed"] = rep.passed();
    return d;
  }

 private:
  [[noreturn]] static void closed_error() {
    throw Error(Errc::InvalidState, "the reader is closed");
  }
  // A reference of its own, for calls that release the GIL.
  std::shared_ptr<const StreamReader> hold() const {
    if (!reader_) closed_error();
    return reader_;
  }
  const StreamReader& get() const {
    if (!reader_) closed_error();
    return *reader_;
  }

  std::shared_ptr<const StreamReader> reader_;
};

}  // namespace

std::shared_ptr<const StreamReader> reader_of(pyb::handle reader) {
  return reader.cast<const PyReader&>().shared();
}

void bind_reader(pyb::module_& m) {
  pyb::class_<View>(m, "View", pyb::buffer_protocol()).def_buffer(&View::buffer);
  pyb::class_<PyReader>(m, "Reader")
      .def(pyb::init<const std::string&, bool, bool, bool, const std::string&>(), pyb::arg("path"),
           pyb::arg("verify_crc"), pyb::arg("strict"), pyb::arg("allow_partial"),
           pyb::arg("io_mode"))
      .def("close", &PyReader::close)
      .def_property_readonly("closed", &PyReader::closed)
      .def("keys", &PyReader::keys)
      .def("__len__", &PyReader::size)
      .def("__contains__", &PyReader::contains)
      .def("meta", &PyReader::meta, pyb::arg("name"))
      .def("metadata", &PyReader::metadata)
      .def("has_metadata", &PyReader::has_metadata)
      .def("index_metadata", &PyReader::index_metadata)
      .def_property_readonly("sharded", &PyReader::sharded)
      .def_property_readonly("path", &PyReader::path)
      .def("file_of", &PyReader::file_of, pyb::arg("name"))
      .def("shards", &PyReader::shards)
      .def("get_slice", &PyReader::get_slice, pyb::arg("name"))
      .def("read_into", &PyReader::read_into, pyb::arg("name"), pyb::arg("out"))
      .def("verify", &PyReader::verify);
}

}  // namespace stsw::py
