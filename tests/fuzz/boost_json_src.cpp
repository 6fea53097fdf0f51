// Boost.JSON compiled into the fuzzer itself, so that libFuzzer's coverage
// instrumentation reaches the JSON parser too.
#include <boost/json/src.hpp>
