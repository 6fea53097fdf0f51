// The common transfer layer above the backends: every write, read, scan and sync of the
// engine is a Transfer, and this is the one place that knows what a result means.
//
// Overview. A transfer is cut into pieces (plan.hpp). It owns its request slots,
// allocated once when it starts: each slot carries one piece at a time through I/O (one
// request, or two at once for a shifted piece: plan.hpp), then (for reads with CRC,
// staged and shifted reads and scans) a second stage on a worker thread (copy out of
// the staging buffer or the shifted move, CRC-32, the scan callback), and then goes
// back to the idle slots. At most queue_depth slots are in I/O (or waiting for a
// staging buffer); a slot that moves on to the worker stage frees its place at once, so
// with 2 x queue_depth slots the device keeps queue_depth requests while workers
// checksum the chunks that already landed. The chunk CRCs are joined in file order with
// crc32_combine.
//
// Partial I/O. A short read or write resubmits the remainder (on the buffered twin when
// the remainder of an O_DIRECT piece is no longer aligned); -EAGAIN and -EINTR resubmit
// the same request; a read that returns 0 before its piece is complete fails with Io
// "unexpected end of file". A file system that refuses RWF_DONTCACHE switches the file
// to plain buffered I/O. Results that make no progress are retried at most kMaxStalls
// times in a row.
//
// Errors. Any other negative result fails the transfer with io_error() (a shifted piece
// whose two requests both fail reports the lower offset); pieces already in flight
// finish, no new piece starts, and the callback receives the first error once every
// slot is idle and every staging buffer is back in the pool.
//
// Shutdown. Once the engine stops, slots take no new pieces and the transfer completes
// with Errc::Cancelled unless it had already finished all its pieces.
#pragma once

#include <cstdint>
#include <string>

#include "io/backend.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"

namespace stsw::detail {

class Core;

struct TransferSpec {
  IoOp op = IoOp::Read;
  const File* file = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::byte* mem = nullptr;  // read destination / write source; null for scan and sync
  bool want_crc = false;     // read: CRC-32 of the destination
  bool datasync = false;     // sync: fdatasync rather than fsync
  StagingBuffer owned;       // write(StagingBuffer): back to the pool before the callback
  DoneCallback done;         // write, scan, sync
  CrcCallback crc_done;      // read
  ChunkCallback on_chunk;    // scan (makes the transfer a scan)
};

// Starts the transfer; the callback runs exactly once (inline for invalid arguments,
// empty ranges and an engine that is shutting down). Never throws.
void run_transfer(Core& core, TransferSpec spec) noexcept;

// The one place a negative completion result becomes an Error:
// errno_error(-res, "<op> <path> at offset <offset>").
[[nodiscard]] Error io_error(int res, IoOp op, bool datasync, const std::string& path,
                             std::uint64_t offset);

}  // namespace stsw::detail
