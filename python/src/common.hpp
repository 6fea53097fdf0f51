// Shared pieces of the _stsw extension: the buffer guard, TensorMeta <-> Python tuples and
// the per-concept binding entry points (errors, writer, reader, read futures, dump).
//
// GIL rules of the whole module: every call that may block (engine waits, file opens,
// header I/O, closes, dumps) runs under py::gil_scoped_release; engine threads never touch
// Python objects except in ReadOp's completion, which acquires the GIL only when Python
// callbacks are registered (see read_op.cpp).
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <tuple>

#include "stsw/dump.hpp"
#include "stsw/tensor_meta.hpp"

namespace stsw {
class StreamReader;
}

namespace stsw::py {

namespace pyb = pybind11;

// A Py_buffer held for as long as this object lives (move-only). Released with the GIL
// held: owners destroy it on a Python thread only.
class BufferGuard {
 public:
  BufferGuard() = default;
  // Requests a C-contiguous byte view of `obj` (writable when asked). Raises
  // BufferError/TypeError (as Python does) for objects without a suitable buffer.
  BufferGuard(pyb::handle obj, bool writable);
  BufferGuard(BufferGuard&& other) noexcept;
  BufferGuard& operator=(BufferGuard&& other) noexcept;
  BufferGuard(const BufferGuard&) = delete;
  BufferGuard& operator=(const BufferGuard&) = delete;
  ~BufferGuard();

  [[nodiscard]] std::span<std::byte> bytes() const noexcept {
    return {static_cast<std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }
  void release() noexcept;

 private:
  Py_buffer view_{};
  bool held_ = false;
};

// Calls `make` (a Python callable returning a buffer: the bytes of a TensorView::source or
// dist::PieceBytes::source) with the GIL taken, and holds its buffer until the returned
// owner is dropped (on any thread: the deleter takes the GIL). A Python exception
// propagates as pyb::error_already_set, whose state pybind11 frees under the GIL. `make`
// is borrowed: the caller keeps it alive while the source may be called.
SourcedBytes call_source(pyb::handle make);

// Runs `f` (a blocking call that touches no Python object) with the GIL released and
// returns its result once the GIL is held again.
template <class F>
auto without_gil(F&& f) -> decltype(f()) {
  pyb::gil_scoped_release nogil;
  return f();
}

// (name, dtype, shape, offset_begin, offset_end, crc32 or None): the form the pure-Python
// TensorMeta is built from and given back as.
pyb::tuple meta_to_tuple(const TensorMeta& meta);
TensorMeta meta_from_tuple(pyb::handle tuple);

void bind_errors(pyb::module_& m);
void bind_read_op(pyb::module_& m);
void bind_writer(pyb::module_& m);
void bind_reader(pyb::module_& m);
void bind_dump(pyb::module_& m);
void bind_distributed(pyb::module_& m);
void bind_cuda(pyb::module_& m);

// The StreamReader of a _stsw.Reader (a reference of its own; InvalidState when closed).
std::shared_ptr<const StreamReader> reader_of(pyb::handle reader);

}  // namespace stsw::py
