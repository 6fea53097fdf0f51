// A one-line progress bar on stderr, drawn only when stderr is a terminal (never in pipes,
// files or CI logs) and only once the operation has lasted kDefaultDelay (0.5 s): short
// operations never flash a bar. stdout carries results only, so `stsw ... > out.txt` on a
// terminal still shows progress and never writes it into the file. `stsw -q` turns every
// bar off (set_progress_allowed). STSW_PROGRESS_DELAY_MS overrides the delay (tests use 0).
//
// Thread safety: add() may be called from any thread (engine callbacks); every other member
// belongs to the thread that created the bar. A background thread redraws ten times a
// second while the bar is active.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace stsw::cli {

class ProgressBar {
 public:
  // Bytes done so far, polled at each redraw (e.g. from an Engine's stats), for operations
  // that report no progress themselves. Runs on the bar's thread.
  using Source = std::function<std::uint64_t()>;

  // `enabled` false: every call is a no-op except println(), which just prints. Progress
  // is what add() counted plus what `source` (if any) reports.
  ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled, Source source = {});
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  // True when stderr, where the bar is drawn, is a terminal (isatty).
  [[nodiscard]] static bool stderr_is_terminal() noexcept;
  // Process-wide switch (`stsw -q`): false makes every later bar a no-op. Call before
  // the first bar, from main.
  static void set_progress_allowed(bool allowed) noexcept;
  // How long an operation runs before its bar appears (STSW_PROGRESS_DELAY_MS or 500 ms).
  [[nodiscard]] static std::chrono::milliseconds delay() noexcept;

  void add(std::uint64_t bytes) noexcept { done_.fetch_add(bytes, std::memory_order_relaxed); }
  void set_label(std::string label);
  // Prints `line` (plus a newline) on stdout, clearing the bar on stderr around it.
  void println(std::string_view line);
  // Draws the final state and clears the line; later calls are no-ops.
  void finish();

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }

 private:
  void draw_locked();
  void clear_locked();
  void ticker();

  const bool enabled_;
  const std::uint64_t total_;
  std::atomic<std::uint64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string label_;
  Source source_;
  bool stopped_ = false;
  bool shown_ = false;  // drawn at least once (the delay has passed)
  std::thread thread_;
};

}  // namespace stsw::cli
