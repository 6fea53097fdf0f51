// The one exception type of the library and its closed set of error kinds.
#pragma once

#include "stsw/export.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

namespace STSW_API stsw {

// Error kinds. The first ten are the official safetensors loader's error kinds, in the
// order it checks them (FORMAT.md section 2); stsw reports the same kind for the same
// input in strict mode.
enum class Errc {
  HeaderTooSmall,
  HeaderTooLarge,
  InvalidHeaderLength,
  InvalidHeader,
  InvalidHeaderDeserialization,
  InvalidOffset,
  ValidationOverflow,
  MisalignedSlice,
  TensorInvalidInfo,
  MetadataIncompleteBuffer,
  // stsw's own kinds.
  DuplicateName,    // two tensors (or two metas) with one name
  InvalidName,      // a tensor named "__metadata__", or a name a writer refuses
  IncompleteFile,   // "__incomplete__": true and partial files not allowed
  CrcMismatch,      // stored crc32 differs from the data
  TensorOrder,      // writer: a block for a tensor other than the current one
  LengthMismatch,   // writer: more or fewer bytes than declared; reader: wrong dst size
  UnknownTensor,    // a name that is not in the file / writer plan
  InvalidArgument,  // bad option or parameter
  InvalidState,     // call after close/abort, or on a moved-from object
  InvalidIndex,     // sharded index: bad JSON, missing shard, path component, ...
  Io,               // an operating-system I/O error (errno() says which)
  NoSpace,          // ENOSPC / EDQUOT
  Cancelled,        // the operation was cancelled by shutdown or abort
  Unsupported,      // a feature the input needs that stsw does not offer
};

// The name of the kind, e.g. "InvalidOffset"; the view refers to static storage.
[[nodiscard]] std::string_view to_string(Errc code) noexcept;

// The only exception type stsw throws (and stores in failed futures).
// what() is "<Kind>: <message>", e.g.
//   "CrcMismatch: model.safetensors: tensor 'w1' (expected 0x1234abcd, got 0x00000000)".
// Messages name the file, the tensor and the offending value where they are known.
class Error : public std::runtime_error {
 public:
  Error(Errc code, std::string message);
  // For operating-system failures: keeps the errno value as well.
  Error(Errc code, std::string message, int sys_errno);

  [[nodiscard]] Errc code() const noexcept { return code_; }
  // The errno behind an Io/NoSpace error; 0 otherwise.
  [[nodiscard]] int sys_errno() const noexcept { return errno_; }
  // The message without the "<Kind>: " prefix.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 private:
  Errc code_;
  int errno_ = 0;
  std::string message_;
};

// Maps a positive errno value to an Error (ENOSPC/EDQUOT -> NoSpace, ECANCELED ->
// Cancelled, everything else -> Io) with `context` (e.g. "write model.safetensors at
// offset 4096") and strerror() in the message. The single place errno becomes an Error.
[[nodiscard]] Error errno_error(int sys_errno, std::string_view context);

}  // namespace stsw
