// Leftover temporary files of interrupted writers, and how to remove them safely.
//
// Overview. Every file stsw creates (StreamWriter, dump's shards and index, convert) is
// filled unnamed (O_TMPFILE) or under a hidden name `.<name>.stsw-<12 hex digits>` next to
// its destination, then renamed over the destination. A process killed between the link to
// the hidden name and the rename leaves a complete hidden copy; one killed while filling a
// hidden name (file systems without O_TMPFILE) leaves partial data. Names of destinations
// too long for that pattern use a shortened stem: `.<first bytes>~<8 hex digits>.stsw-...`.
//
// How a leftover is told from a live writer's file. A writer holds an exclusive flock(2) on
// its temporary file from before the file has a name until the writer is closed, aborted or
// destroyed; the kernel drops the lock when the process dies (SIGKILL included). A hidden
// file whose lock can be taken is therefore provably abandoned: no live process (on this
// machine, or on an NFS client, where flock is forwarded as a lock) is writing it. A writer
// that created its hidden name before locking it re-checks, once locked, that the name still
// refers to its file, and picks a new name when a cleaner removed it in between. The lock
// goes with the last reference to the file: I/O the kernel still had in flight for a killed
// process (io_uring requests, cancelled asynchronously) keeps it a few milliseconds longer,
// and until then the file counts as held. On a file system without flock nothing is
// removed.
//
// Who cleans. Before it creates its temporary file, every writer removes the abandoned
// hidden files of its own destination name (best effort: failures are ignored).
// clean_temp_files() does the same for every destination in a directory (`stsw clean DIR`).
//
// Thread safety. clean_temp_files() may run concurrently with writers and other cleaners,
// in this and other processes.
#pragma once

#include "stsw/export.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace STSW_API stsw {

struct TempFileEntry {
  std::string path;        // the hidden file, `dir` + "/" + name
  std::uint64_t size = 0;  // bytes, when it was examined
  bool in_use = false;     // a live writer holds it: never removed
  bool removed = false;    // removed by this call
};

// Lists the hidden temporary files of stsw writers in `dir` (not recursive) and, when
// `remove` is true, removes each one that no live writer holds. Entries that are not
// regular files (a symlink planted at such a name) are neither listed nor touched. Throws
// Error (Io, naming `dir`) when the directory cannot be read; a file that cannot be removed
// is listed with removed == false.
[[nodiscard]] std::vector<TempFileEntry> clean_temp_files(const std::string& dir, bool remove);

}  // namespace stsw
