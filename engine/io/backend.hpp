// The backend interface: what the transfer layer needs from io_uring or a thread pool.
//
// A backend executes single requests (one pread/pwrite/fsync each) and reports each
// result once, through IoRequest::on_result(res), on one of its own threads: res is the
// byte count (>= 0) or -errno, exactly like an io_uring completion. It never retries,
// splits or interprets results; short transfers, EAGAIN and errors are the transfer
// layer's business (transfer.hpp). Requests are owned by the caller, preallocated, and
// must stay alive until their result was delivered; the backend links them through
// IoRequest::next, so submitting allocates nothing.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "stsw/engine.hpp"

namespace stsw::detail {

enum class IoOp : std::uint8_t { Read, Write, Sync };

// One request and its completion object (what io_uring's user_data points at).
class IoRequest {
 public:
  IoOp op = IoOp::Read;
  int fd = -1;
  std::byte* buf = nullptr;
  std::uint32_t len = 0;
  std::uint64_t offset = 0;
  int buf_index = -1;     // registered staging buffer holding buf, or -1
  int rw_flags = 0;       // RWF_* flags for reads and writes
  bool datasync = false;  // Sync: fdatasync rather than fsync

  // Backends call this exactly once per submission, on a backend thread.
  void on_result(int res) noexcept { complete(res); }

  IoRequest* next = nullptr;  // backend queue link

 protected:
  IoRequest() = default;
  ~IoRequest() = default;
  // Copies the request's fields (not its completion): fault injection submits a copy.
  IoRequest(const IoRequest&) = default;
  IoRequest& operator=(const IoRequest&) = default;
  // The one entry point of a completion: res as documented above.
  virtual void complete(int res) noexcept = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  [[nodiscard]] virtual BackendKind kind() const noexcept = 0;
  // Whether the staging buffers given at creation are registered (fixed opcodes).
  [[nodiscard]] virtual bool buffers_registered() const noexcept = 0;
  // Thread-safe; never blocks on I/O. After shutdown() the request completes at once
  // with -ECANCELED (on the caller's thread).
  virtual void submit(IoRequest* req) noexcept = 0;
  // Registered files (io_uring; io/file_table.hpp): called on the caller's thread before
  // a transfer on `file` submits its first request, so that the backend may give the
  // File's descriptors slots and learn when the File is closed. Thread-safe, never
  // fails. Backends without registered files ignore it.
  virtual void note_file(const File& /*file*/) noexcept {}
  // Descriptors in the ring's file table now (0 without registered files).
  [[nodiscard]] virtual unsigned files_registered() const noexcept { return 0; }
  // Waits until every submitted request has completed, then stops and joins the
  // backend's threads. Idempotent. Must not be called from a backend thread.
  virtual void shutdown() noexcept = 0;
};

// Backends mark their threads with the engine they belong to (see worker_pool.hpp).
using OwnerTag = const void*;

// The threads backend: `threads` pread/pwrite threads.
[[nodiscard]] std::unique_ptr<Backend> make_thread_backend(unsigned threads, OwnerTag owner);

// The io_uring backend, or null (with `why` set) when the ring cannot be set up.
// `buffers` are registered with the ring when register_buffers is set and allowed.
[[nodiscard]] std::unique_ptr<Backend> try_make_uring_backend(const EngineOptions& options,
                                                              std::span<const iovec> buffers,
                                                              OwnerTag owner, std::string& why);

// The backend the options ask for: BackendKind::Auto consults STSW_IO_BACKEND, then
// prefers io_uring; io_uring falls back to threads (logged at info) when unusable.
[[nodiscard]] std::unique_ptr<Backend> make_backend(const EngineOptions& options,
                                                    std::span<const iovec> buffers, OwnerTag owner);

// Builds the backend of a new engine. The hook for fault injection (fault_injection.hpp,
// built into the tests only): its backend wraps the real one and submits a proxy request
// in place of each faulted one, so a production IoRequest carries no fault state.
using BackendFactory =
    std::function<std::unique_ptr<Backend>(const EngineOptions&, std::span<const iovec>, OwnerTag)>;

}  // namespace stsw::detail

namespace stsw::detail {

// The engine a thread works for (set on backend, worker and driver threads), so that an
// engine destroyed from one of its own threads can avoid joining itself.
inline thread_local OwnerTag current_owner = nullptr;

}  // namespace stsw::detail
