#include "stsw/version.hpp"

namespace stsw {

std::string_view version() noexcept { return STSW_VERSION_STRING; }

}  // namespace stsw
