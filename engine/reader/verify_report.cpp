#include "stsw/verify_report.hpp"

namespace stsw {

std::string_view to_string(TensorStatus status) noexcept {
  switch (status) {
    case TensorStatus::Ok: return "ok";
    case TensorStatus::Mismatch: return "mismatch";
    case TensorStatus::NoChecksum: return "no checksum";
    case TensorStatus::Missing: return "missing";
  }
  return "unknown";
}

std::vector<const TensorCheck*> VerifyReport::failures() const {
  std::vector<const TensorCheck*> out;
  for (const auto& t : tensors) {
    if (t.status == TensorStatus::Mismatch || t.status == TensorStatus::Missing) out.push_back(&t);
  }
  return out;
}

}  // namespace stsw
