// Registered files: the number -> slot map of one ring and the File <-> table links
// (contract in file_table.hpp).
#include "io/file_table.hpp"

#include <cstring>

#include "core/logging.hpp"

namespace stsw::detail {

FileHooks& FileHooks::of(const File& f) {
  FileHooks* h = f.hooks_.load(std::memory_order_acquire);
  if (h != nullptr) return *h;
  auto fresh = std::make_unique<FileHooks>();
  if (f.hooks_.compare_exchange_strong(h, fresh.get(), std::memory_order_acq_rel)) {
    return *fresh.release();
  }
  return *h;  // another transfer on the same File created them first
}

void FileHooks::link(const std::shared_ptr<FileLink>& link) {
  std::lock_guard lock(mu_);
  for (const auto& l : links_) {
    if (l.lock() == link) return;
  }
  std::erase_if(links_, [](const std::weak_ptr<FileLink>& l) { return l.expired(); });
  links_.push_back(link);
}

void FileHooks::closing(FileHooks* hooks, int fd, int bfd) noexcept {
  if (hooks == nullptr) return;
  {
    std::lock_guard lock(hooks->mu_);
    for (const auto& weak : hooks->links_) {
      const auto link = weak.lock();
      if (!link) continue;
      std::lock_guard link_lock(link->mu);
      if (link->table != nullptr) link->table->forget(hooks, fd, bfd);
    }
  }
  delete hooks;
}

FileTable::FileTable(unsigned slots, Updater update, Waker wake, void* ctx)
    : update_(update), wake_(wake), ctx_(ctx), link_(std::make_shared<FileLink>()) {
  link_->table = this;
  free_.reserve(slots);
  for (unsigned s = slots; s-- > 0;) free_.push_back(s);  // slot 0 is taken first
  pending_.reserve(slots);
}

FileTable::~FileTable() { detach(); }

void FileTable::detach() noexcept {
  std::lock_guard lock(link_->mu);
  link_->table = nullptr;
}

void FileTable::note(const File& f) noexcept {
  if (!f.is_open()) return;
  try {
    FileHooks& hooks = FileHooks::of(f);
    hooks.link(link_);
    std::lock_guard lock(mu_);
    for (const int fd : {f.fd(), f.buffered_fd()}) {
      auto [it, inserted] = by_fd_.try_emplace(fd);
      if (!inserted && it->second.id == &hooks) continue;
      // New, or a number whose previous File vanished without closing through File:
      // the slot (if any) still holds that file, so it is cleared and not reused.
      if (!inserted) drop_locked(it->second);
      it->second = Entry{&hooks};
    }
  } catch (...) {
    // Out of memory: the File's requests use its plain descriptors.
  }
}

void FileTable::forget(const FileHooks* id, int fd, int bfd) noexcept {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    for (const int d : {fd, bfd}) {
      const auto it = by_fd_.find(d);
      if (d < 0 || it == by_fd_.end() || it->second.id != id) continue;
      drop_locked(it->second);
      by_fd_.erase(it);
    }
    wake = !pending_.empty();
  }
  if (wake) wake_(ctx_);
}

void FileTable::drop_locked(Entry& e) {
  if (e.slot < 0) return;
  pending_.push_back(static_cast<unsigned>(e.slot));  // reserved: a slot is pending once
  e.slot = -1;
  has_pending_.store(true, std::memory_order_release);
}

int FileTable::slot_for(int fd) noexcept {
  std::lock_guard lock(mu_);
  if (!pending_.empty()) apply_locked();
  const auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return -1;
  Entry& e = it->second;
  if (e.slot >= 0) return e.slot;
  if (e.failed || free_.empty()) return -1;
  const unsigned slot = free_.back();
  const int ret = update_(ctx_, slot, fd);
  if (ret != 1) {
    e.failed = true;
    if (!warned_) {
      warned_ = true;
      logger().info("io_uring: registering descriptor {} failed ({}); using plain descriptors", fd,
                    ret < 0 ? std::strerror(-ret) : "no slot updated");
    }
    return -1;
  }
  free_.pop_back();
  e.slot = static_cast<int>(slot);
  registered_.fetch_add(1, std::memory_order_relaxed);
  return e.slot;
}

void FileTable::apply() noexcept {
  if (!has_pending_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mu_);
  apply_locked();
}

void FileTable::apply_locked() noexcept {
  for (const unsigned slot : pending_) {
    const int ret = update_(ctx_, slot, -1);
    // A slot the kernel kept is overwritten by its next installation anyway.
    if (ret != 1) logger().debug("io_uring: clearing file slot {} failed ({})", slot, ret);
    free_.push_back(slot);
    registered_.fetch_sub(1, std::memory_order_relaxed);
  }
  pending_.clear();
  has_pending_.store(false, std::memory_order_release);
}

}  // namespace stsw::detail
