// Helpers shared by the device pipelines: option checks and the file/tensor/offset
// context added to a copier's errors.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::device {

// Where a chunk belongs: the file, the tensor and the byte offset in the tensor.
struct ChunkPlace {
  const std::string* file;
  const std::string* tensor;
  std::uint64_t offset;
};

// Runs fn(); an stsw::Error it throws is rethrown with the same kind and the message
// "<file>: tensor '<name>' at offset <n>: <message>".
template <class Fn>
decltype(auto) with_place(const ChunkPlace& place, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const Error& e) {
    throw Error(e.code(), *place.file + ": tensor '" + *place.tensor + "' at offset " +
                              std::to_string(place.offset) + ": " + e.message());
  }
}

}  // namespace stsw::device
