#include "stsw/error.hpp"

#include <cerrno>
#include <cstring>

namespace stsw {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::HeaderTooSmall: return "HeaderTooSmall";
    case Errc::HeaderTooLarge: return "HeaderTooLarge";
    case Errc::InvalidHeaderLength: return "InvalidHeaderLength";
    case Errc::InvalidHeader: return "InvalidHeader";
    case Errc::InvalidHeaderDeserialization: return "InvalidHeaderDeserialization";
    case Errc::InvalidOffset: return "InvalidOffset";
    case Errc::ValidationOverflow: return "ValidationOverflow";
    case Errc::MisalignedSlice: return "MisalignedSlice";
    case Errc::TensorInvalidInfo: return "TensorInvalidInfo";
    case Errc::MetadataIncompleteBuffer: return "MetadataIncompleteBuffer";
    case Errc::DuplicateName: return "DuplicateName";
    case Errc::InvalidName: return "InvalidName";
    case Errc::IncompleteFile: return "IncompleteFile";
    case Errc::CrcMismatch: return "CrcMismatch";
    case Errc::TensorOrder: return "TensorOrder";
    case Errc::LengthMismatch: return "LengthMismatch";
    case Errc::UnknownTensor: return "UnknownTensor";
    case Errc::InvalidArgument: return "InvalidArgument";
    case Errc::InvalidState: return "InvalidState";
    case Errc::InvalidIndex: return "InvalidIndex";
    case Errc::Io: return "Io";
    case Errc::NoSpace: return "NoSpace";
    case Errc::Cancelled: return "Cancelled";
    case Errc::Unsupported: return "Unsupported";
  }
  return "Unknown";
}

namespace {
std::string compose(Errc code, const std::string& message) {
  std::string s(to_string(code));
  s += ": ";
  s += message;
  return s;
}
}  // namespace

Error::Error(Errc code, std::string message)
    : std::runtime_error(compose(code, message)), code_(code), message_(std::move(message)) {}

Error::Error(Errc code, std::string message, int sys_errno)
    : std::runtime_error(compose(code, message)),
      code_(code),
      errno_(sys_errno),
      message_(std::move(message)) {}

Error errno_error(int sys_errno, std::string_view context) {
  Errc code = Errc::Io;
  if (sys_errno == ENOSPC || sys_errno == EDQUOT) code = Errc::NoSpace;
  if (sys_errno == ECANCELED) code = Errc::Cancelled;
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(sys_errno);
  msg += " (errno ";
  msg += std::to_string(sys_errno);
  msg += ")";
  return Error(code, std::move(msg), sys_errno);
}

}  // namespace stsw
