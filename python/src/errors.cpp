// stsw::Error -> the Python exception hierarchy of stsw/_errors.py (stsw.Error with .kind,
// .message and .errno; OSError subclasses for the I/O kinds, ValueError otherwise).
#include <exception>
#include <string>

#include "common.hpp"
#include "stsw/error.hpp"

namespace stsw::py {
namespace {

constexpr Errc kAllErrc[] = {
    Errc::HeaderTooSmall,
    Errc::HeaderTooLarge,
    Errc::InvalidHeaderLength,
    Errc::InvalidHeader,
    Errc::InvalidHeaderDeserialization,
    Errc::InvalidOffset,
    Errc::ValidationOverflow,
    Errc::MisalignedSlice,
    Errc::TensorInvalidInfo,
    Errc::MetadataIncompleteBuffer,
    Errc::DuplicateName,
    Errc::InvalidName,
    Errc::IncompleteFile,
    Errc::CrcMismatch,
    Errc::TensorOrder,
    Errc::LengthMismatch,
    Errc::UnknownTensor,
    Errc::InvalidArgument,
    Errc::InvalidState,
    Errc::InvalidIndex,
    Errc::Io,
    Errc::NoSpace,
    Errc::Cancelled,
    Errc::Unsupported,
};

void raise_stsw_error(const Error& e) {
  // The factory lives in pure Python so the hierarchy is documented and picklable there.
  auto factory = pyb::module_::import("stsw._errors").attr("from_kind");
  pyb::object exc = factory(std::string(to_string(e.code())), e.message(), e.sys_errno());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
}

}  // namespace

void bind_errors(pyb::module_& m) {
  pyb::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      raise_stsw_error(e);
    }
  });
  pyb::list kinds;
  for (Errc c : kAllErrc) kinds.append(std::string(to_string(c)));
  m.attr("ERROR_KINDS") = kinds;
}

}  // namespace stsw::py
