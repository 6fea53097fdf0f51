// The harness's JSON as people read it: Boost.JSON writes every double in exponent form
// ("1.8596834348030453E0"); plain_json_numbers rewrites those numbers as plain decimals
// ("1.8596834348030453"), outside strings only, keeping every digit (the value is
// unchanged). Numbers whose plain form would be long (below 1e-9 or from 1e15) keep the
// exponent, in lower case. A rewritten number always keeps a '.' or an exponent, so JSON
// readers still see a floating-point value (2E0 becomes 2.0, not the integer 2).
#pragma once

#include <string>
#include <string_view>

namespace stsw::bench {

[[nodiscard]] std::string plain_json_numbers(std::string_view json);

}  // namespace stsw::bench
