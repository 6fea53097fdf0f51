#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "report.hpp"

namespace stsw::cli {
namespace {

std::atomic<bool> g_progress_allowed{true};

unsigned terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled, Source source)
    : enabled_(enabled && g_progress_allowed.load() && stderr_is_terminal()),
      total_(total_bytes),
      start_(std::chrono::steady_clock::now()),
      label_(std::move(label)),
      source_(std::move(source)) {
  if (!enabled_) return;
  thread_ = std::thread([this] { ticker(); });
}

ProgressBar::~ProgressBar() { finish(); }

bool ProgressBar::stderr_is_terminal() noexcept { return ::isatty(STDERR_FILENO) == 1; }

void ProgressBar::set_progress_allowed(bool allowed) noexcept { g_progress_allowed = allowed; }

std::chrono::milliseconds ProgressBar::delay() noexcept {
  if (const char* env = std::getenv("STSW_PROGRESS_DELAY_MS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long ms = std::strtol(env, &end, 10);
    if (*end == '\0' && ms >= 0) return std::chrono::milliseconds(ms);
  }
  return std::chrono::milliseconds(500);
}

void ProgressBar::set_label(std::string label) {
  std::lock_guard lock(mutex_);
  label_ = std::move(label);
}

void ProgressBar::println(std::string_view line) {
  std::lock_guard lock(mutex_);
  const bool visible = enabled_ && !stopped_ && shown_;
  if (visible) clear_locked();
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (visible) draw_locked();
}

void ProgressBar::finish() {
  if (!enabled_) return;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    // A bar that was not due yet is not flashed at the end; one that was due but lost the
    // race with a fast operation shows its final state.
    if (shown_ || std::chrono::steady_clock::now() >= start_ + delay()) {
      draw_locked();
      clear_locked();
    }
    stopped_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProgressBar::ticker() {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, start_ + delay(), [this] { return stopped_; });
  while (!stopped_) {
    draw_locked();
    wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopped_; });
  }
}

void ProgressBar::draw_locked() {
  std::uint64_t done = done_.load(std::memory_order_relaxed);
  if (source_) done += source_();
  done = std::min(done, total_);
  const double fraction =
      total_ == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total_);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(fraction * 100.0));
  std::string right = std::string(" ") + pct + "  " + format_bytes(done) + " / " +
                      format_bytes(total_) + "  " + format_rate(done, seconds);
  const unsigned columns = terminal_columns();
  const unsigned bar_width = 24;
  std::string bar = "[";
  const auto filled = static_cast<unsigned>(fraction * bar_width);
  bar.append(filled, '#');
  bar.append(bar_width - filled, '.');
  bar += "]";
  std::string line = bar + right + "  " + printable(label_);
  if (line.size() > columns - 1) line.resize(columns - 1);
  std::fputs(("\r" + line + "\x1b[K").c_str(), stderr);
  std::fflush(stderr);
  shown_ = true;
}

void ProgressBar::clear_locked() {
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
}

}  // namespace stsw::cli
