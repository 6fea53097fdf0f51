// _stsw.dump: stsw::dump for stsw.dump (python/stsw/dump.py), which turns a state dict of
// NumPy arrays / torch tensors into (name, dtype, shape, data) rows. `data` is a buffer
// (contiguous data: held for the whole call and read in place, no copy) or a callable
// returning one (data that needs a copy first): called with the GIL taken when the tensor
// is written (TensorView::source), and its buffer released, GIL taken, once stsw::dump
// has staged the bytes, so one such copy is alive at a time. The GIL is released while
// the files are written.
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "stsw/dump.hpp"
#include "stsw/error.hpp"

namespace stsw::py {
namespace {

pyb::tuple py_dump(const pyb::list& rows, const std::string& path, bool crc32, std::uint64_t align,
                   std::optional<Metadata> metadata, std::optional<std::uint64_t> max_shard_size,
                   const std::string& order, bool durable) {
  std::vector<BufferGuard> buffers;
  std::vector<TensorView> views;
  buffers.reserve(rows.size());
  views.reserve(rows.size());
  for (auto row : rows) {
    auto t = pyb::reinterpret_borrow<pyb::tuple>(row);
    if (t.size() != 4)
      throw Error(Errc::InvalidArgument, "dump: expected (name, dtype, shape, data)");
    TensorView v;
    v.name = t[0].cast<std::string>();
    const auto dtype_name = t[1].cast<std::string>();
    const auto dtype = parse_dtype(dtype_name);
    if (!dtype) {
      throw Error(Errc::TensorInvalidInfo,
                  "tensor '" + v.name + "': unknown dtype '" + dtype_name + "'");
    }
    v.dtype = *dtype;
    v.shape = t[2].cast<std::vector<std::uint64_t>>();
    if (PyCallable_Check(t[3].ptr())) {
      // `rows` holds the callable for the whole call: a borrowed handle, so that copies of
      // the std::function never touch reference counts without the GIL.
      v.source = [make = pyb::handle(t[3])]() { return call_source(make); };
    } else {
      buffers.emplace_back(pyb::object(t[3]), /*writable=*/false);
      const auto bytes = buffers.back().bytes();
      v.data = {bytes.data(), bytes.size()};
    }
    views.push_back(std::move(v));
  }
  DumpOptions options;
  options.crc32 = crc32;
  options.align = align;
  options.metadata = std::move(metadata);
  options.durable = durable;
  options.max_shard_size = max_shard_size;
  if (order == "canonical") {
    options.order = LayoutOrder::Canonical;
  } else if (order == "keep") {
    options.order = LayoutOrder::Keep;
  } else {
    throw Error(Errc::InvalidArgument,
                "dump: order must be 'canonical' or 'keep', not '" + order + "'");
  }
  DumpResult result;
  {
    pyb::gil_scoped_release nogil;
    result = dump(views, path, options);
  }
  pyb::object index = pyb::none();
  if (result.index) index = pyb::str(*result.index);
  return pyb::make_tuple(pyb::cast(result.files), index);
}

}  // namespace

void bind_dump(pyb::module_& m) {
  m.def("dump", &py_dump, pyb::arg("rows"), pyb::arg("path"), pyb::arg("crc32"), pyb::arg("align"),
        pyb::arg("metadata"), pyb::arg("max_shard_size"), pyb::arg("order"), pyb::arg("durable"));
}

}  // namespace stsw::py
