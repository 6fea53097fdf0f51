// The _stsw extension module: the C++ library's writer, reader, dump and errors for the
// pure-Python package stsw (python/stsw), which is the documented API.
#include <string>

#include "common.hpp"
#include "stsw/engine.hpp"

PYBIND11_MODULE(_stsw, m) {
  namespace pyb = pybind11;
  m.doc() = "C++ core of the stsw package (use the stsw package, not this module)";
  stsw::py::bind_errors(m);
  stsw::py::bind_read_op(m);
  stsw::py::bind_writer(m);
  stsw::py::bind_reader(m);
  stsw::py::bind_dump(m);
  stsw::py::bind_distributed(m);
  stsw::py::bind_cuda(m);
  m.attr("version") = STSW_VERSION_STRING;
  m.def(
      "backend", [] { return std::string(stsw::to_string(stsw::Engine::shared()->backend())); },
      "The I/O backend of the shared engine: 'io_uring' or 'threads'.");
}
