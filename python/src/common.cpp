// BufferGuard, call_source and the TensorMeta tuple conversions.
#include "common.hpp"

#include <pybind11/stl.h>

#include <memory>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::py {

BufferGuard::BufferGuard(pyb::handle obj, bool writable) {
  // PyBUF_SIMPLE demands a C-contiguous buffer; the pure-Python layer makes
  // non-contiguous arrays contiguous first, so this refuses only odd objects.
  const int flags = writable ? PyBUF_WRITABLE : PyBUF_SIMPLE;
  if (PyObject_GetBuffer(obj.ptr(), &view_, flags) != 0) throw pyb::error_already_set();
  held_ = true;
}

BufferGuard::BufferGuard(BufferGuard&& other) noexcept
    : view_(other.view_), held_(std::exchange(other.held_, false)) {}

BufferGuard& BufferGuard::operator=(BufferGuard&& other) noexcept {
  if (this != &other) {
    release();
    view_ = other.view_;
    held_ = std::exchange(other.held_, false);
  }
  return *this;
}

BufferGuard::~BufferGuard() { release(); }

void BufferGuard::release() noexcept {
  if (held_) {
    PyBuffer_Release(&view_);
    held_ = false;
  }
}

SourcedBytes call_source(pyb::handle make) {
  pyb::gil_scoped_acquire gil;
  auto guard = std::make_unique<BufferGuard>(make(), /*writable=*/false);
  const auto bytes = guard->bytes();
  std::shared_ptr<const void> owner(guard.release(), [](const BufferGuard* g) {
    pyb::gil_scoped_acquire gil;
    delete g;
  });
  return {{bytes.data(), bytes.size()}, std::move(owner)};
}

pyb::tuple meta_to_tuple(const TensorMeta& meta) {
  pyb::object crc = pyb::none();
  if (meta.crc32) crc = pyb::int_(*meta.crc32);
  return pyb::make_tuple(meta.name, std::string(to_string(meta.dtype)),
                         pyb::tuple(pyb::cast(meta.shape)), meta.offset_begin, meta.offset_end,
                         crc);
}

TensorMeta meta_from_tuple(pyb::handle obj) {
  auto t = pyb::reinterpret_borrow<pyb::tuple>(obj);
  if (t.size() != 6) throw Error(Errc::InvalidArgument, "tensor meta: expected a 6-tuple");
  TensorMeta meta;
  meta.name = t[0].cast<std::string>();
  const auto dtype_name = t[1].cast<std::string>();
  const auto dtype = parse_dtype(dtype_name);
  if (!dtype) {
    throw Error(Errc::TensorInvalidInfo,
                "tensor '" + meta.name + "': unknown dtype '" + dtype_name + "'");
  }
  meta.dtype = *dtype;
  meta.shape = t[2].cast<std::vector<std::uint64_t>>();
  meta.offset_begin = t[3].cast<std::uint64_t>();
  meta.offset_end = t[4].cast<std::uint64_t>();
  if (!t[5].is_none()) meta.crc32 = t[5].cast<std::uint32_t>();
  return meta;
}

}  // namespace stsw::py
