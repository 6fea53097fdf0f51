#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "report.hpp"

namespace stsw::cli {
namespace {

unsigned terminal_columns() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled, Source source)
    : enabled_(enabled && stdout_is_terminal()),
      total_(total_bytes),
      start_(std::chrono::steady_clock::now()),
      label_(std::move(label)),
      source_(std::move(source)) {
  if (!enabled_) return;
  {
    std::lock_guard lock(mutex_);
    draw_locked();
  }
  thread_ = std::thread([this] { ticker(); });
}

ProgressBar::~ProgressBar() { finish(); }

bool ProgressBar::stdout_is_terminal() noexcept { return ::isatty(STDOUT_FILENO) == 1; }

void ProgressBar::set_label(std::string label) {
  std::lock_guard lock(mutex_);
  label_ = std::move(label);
}

void ProgressBar::println(std::string_view line) {
  std::lock_guard lock(mutex_);
  if (enabled_ && !stopped_) clear_locked();
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  if (enabled_ && !stopped_) draw_locked();
  std::fflush(stdout);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    draw_locked();
    clear_locked();
    stopped_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProgressBar::ticker() {
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    if (!stopped_) draw_locked();
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
  std::fputs(("\r" + line + "\x1b[K").c_str(), stdout);
  std::fflush(stdout);
}

void ProgressBar::clear_locked() {
  std::fputs("\r\x1b[K", stdout);
  std::fflush(stdout);
}

}  // namespace stsw::cli
