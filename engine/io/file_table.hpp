// Registered (fixed) files of one io_uring ring: which descriptor sits in which slot of the
// ring's sparse file table, and the link through which a closing File takes its
// descriptors out before their numbers can be reused.
//
// Why a link. A registered slot holds the open file, not the descriptor number: once a
// File is closed and open(2) hands its number to another file, a slot found by number
// would read and write the old file. So every File an engine is about to use is noted
// (note(), on the caller's thread, before the transfer submits anything): the File keeps
// a FileHooks (created on first use) linking it to the tables that noted it, and
// File::close() tells each of them to forget its descriptors (FileHooks::closing())
// BEFORE it closes them. Notes precede every request of a transfer and a forget precedes
// the close that frees a number, so the number -> slot map only ever names the file that
// holds the number now. Each entry also keeps the identity of the File it came from (its
// FileHooks): a note for a number held by another identity (a descriptor closed behind
// its File's back) replaces the entry, and a forget only removes its own identity's.
//
// Slots. Only the ring's driver thread calls slot_for() and apply(), and through them
// the updater (io_uring_register_files_update): a descriptor is installed on its first
// request; the slots of forgotten descriptors are cleared at the driver's next pass (the
// waker wakes it), so the ring drops its reference to a closed file promptly. A File's
// requests have all completed when it is closed (Engine contract), so a cleared slot has
// none in flight (and the kernel keeps a file alive for any request that still has it).
// When every slot is taken, or the kernel refuses an update (logged once per table),
// requests go out with the plain descriptor: registration never fails an I/O. There is no
// eviction: a slot frees when its File is closed.
//
// Thread safety and lifetimes. note() and FileHooks::closing() run on any thread; one
// mutex guards the map. Tables and Files die in either order: detach() (the backend calls
// it before the driver's wake-up descriptor goes away; the destructor calls it too) cuts
// the link under the link's mutex, and a closing File skips cut links.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw::detail {

// Slots of a ring's sparse file table (files held open at once that get a slot).
inline constexpr unsigned kRegisteredFileSlots = 64;

class FileTable;

// A table's end of its links to Files: shared with the FileHooks of every File it noted.
struct FileLink {
  std::mutex mu;
  FileTable* table = nullptr;  // null once the table is detached
};

// The tables a File was noted by (File's hooks_), told when the File is closed.
class FileHooks {
 public:
  // The hooks of `f`, created on first use; thread-safe (one File may be used by several
  // transfers at once). Throws std::bad_alloc.
  static FileHooks& of(const File& f);
  // Links `link` unless it is linked already (and drops links to detached tables).
  void link(const std::shared_ptr<FileLink>& link);
  // File::close(), before it closes `fd` and `bfd`: every linked table forgets them; then
  // deletes `hooks`. Null `hooks` (a File no engine noted) does nothing.
  static void closing(FileHooks* hooks, int fd, int bfd) noexcept;

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<FileLink>> links_;
};

class FileTable {
 public:
  // Installs `fd` in `slot` (-1 clears it); returns 1 or -errno.
  using Updater = int (*)(void* ctx, unsigned slot, int fd);
  // Wakes the driver so that it calls apply() soon. Called from any thread.
  using Waker = void (*)(void* ctx);

  FileTable(unsigned slots, Updater update, Waker wake, void* ctx);
  FileTable(const FileTable&) = delete;
  FileTable& operator=(const FileTable&) = delete;
  ~FileTable();

  // Any thread, before the first request of a transfer on `f`: its descriptors may get
  // slots. Never throws (a File that cannot be noted just keeps plain descriptors).
  void note(const File& f) noexcept;
  // Driver thread: the slot holding `fd` (installed now if `fd` was noted and a slot is
  // free), or -1 for the plain descriptor.
  [[nodiscard]] int slot_for(int fd) noexcept;
  // Driver thread: clears the slots of forgotten descriptors.
  void apply() noexcept;
  // Slots in use now (any thread).
  [[nodiscard]] unsigned registered() const noexcept {
    return registered_.load(std::memory_order_relaxed);
  }
  // Cuts the links: closing Files no longer reach this table (any thread, idempotent).
  void detach() noexcept;

 private:
  friend class FileHooks;
  struct Entry {
    const FileHooks* id = nullptr;
    int slot = -1;
    bool failed = false;  // the kernel refused it: plain descriptor from now on
  };

  void forget(const FileHooks* id, int fd, int bfd) noexcept;
  void drop_locked(Entry& e);  // queues e's slot for clearing
  void apply_locked() noexcept;

  Updater update_;
  Waker wake_;
  void* ctx_;
  std::shared_ptr<FileLink> link_;

  std::mutex mu_;
  std::unordered_map<int, Entry> by_fd_;
  std::vector<unsigned> free_;     // free slots (a stack)
  std::vector<unsigned> pending_;  // slots to clear; reserved to the table size
  std::atomic<bool> has_pending_{false};
  std::atomic<unsigned> registered_{0};
  bool warned_ = false;
};

}  // namespace stsw::detail
