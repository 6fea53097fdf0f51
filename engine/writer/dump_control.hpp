// The progress and cancellation hooks of one dump (DumpControl), shared by its shard
// writers: counters, the serialized progress callback, and the stop checks.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "stsw/dump.hpp"
#include "stsw/error.hpp"

namespace stsw::writer {

class DumpTracker {
 public:
  DumpTracker(const DumpControl& control, std::uint64_t bytes_total, std::size_t tensors_total,
              std::size_t files_total)
      : control_(control) {
    p_.bytes_total = bytes_total;
    p_.tensors_total = tensors_total;
    p_.files_total = files_total;
  }

  // Throws Error(Cancelled) naming `path` once a stop was requested.
  void check(const std::string& path) const {
    if (control_.stop.stop_requested()) {
      throw Error(Errc::Cancelled, path + ": dump cancelled (stop requested)");
    }
  }
  // Records progress and reports it (serialized).
  void add(std::uint64_t bytes, std::size_t tensors, std::size_t files) {
    std::lock_guard<std::mutex> lock(mu_);
    p_.bytes_done += bytes;
    p_.tensors_done += tensors;
    p_.files_done += files;
    if (!control_.on_progress) return;
    try {
      control_.on_progress(p_);
    } catch (...) {
      // After the last file the checkpoint is complete: nothing left to fail.
      if (p_.files_done != p_.files_total) throw;
    }
  }

 private:
  const DumpControl& control_;
  std::mutex mu_;
  DumpProgress p_;
};

}  // namespace stsw::writer
