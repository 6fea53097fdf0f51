// stsw::dump_async: dump() on a thread of its own (a thin layer: the hooks live in
// DumpControl and the dump loop checks them).
#include <future>

#include "stsw/dump.hpp"

namespace stsw {

std::future<DumpResult> dump_async(std::vector<TensorView> tensors, std::string path,
                                   DumpOptions options, DumpControl control) {
  return std::async(
      std::launch::async,
      [tensors = std::move(tensors), path = std::move(path), options = std::move(options),
       control = std::move(control)] { return dump(tensors, path, options, control); });
}

}  // namespace stsw
