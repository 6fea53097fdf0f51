#include "reader/window_plan.hpp"

#include <algorithm>
#include <optional>

namespace stsw::detail {

namespace {

class Planner {
 public:
  Planner(std::uint64_t align, std::uint64_t capacity, std::uint64_t file_size)
      : align_(align), cap_(capacity), file_size_(file_size) {}

  void add(std::size_t index, const Extent& e) {
    if (e.end == e.begin) {
      if (!cur_) open_window(e.begin / align_ * align_);
      cur_->pieces.push_back(Delivery{index, 0, 0, 0, true, true});
      return;
    }
    if (cur_ && e.end <= cur_->offset + cap_) {
      push(index, e, e.begin, e.end);
      return;
    }
    const std::uint64_t start = e.begin / align_ * align_;
    if (e.end - start <= cap_) {
      open_window(start);
      push(index, e, e.begin, e.end);
      return;
    }
    // Larger than a buffer: fill what is left of the current window, then whole windows.
    std::uint64_t p = e.begin;
    if (cur_ && p < cur_->offset + cap_ && p >= cur_->offset) {
      const std::uint64_t stop = cur_->offset + cap_;
      push(index, e, p, stop);
      p = stop;
    }
    while (p < e.end) {
      open_window(p / align_ * align_);
      const std::uint64_t stop = std::min(e.end, cur_->offset + cap_);
      push(index, e, p, stop);
      p = stop;
    }
  }

  std::vector<Window> finish() {
    close_window();
    return std::move(out_);
  }

 private:
  void push(std::size_t index, const Extent& e, std::uint64_t from, std::uint64_t to) {
    cur_->pieces.push_back(Delivery{index, from - e.begin, from - cur_->offset, to - from,
                                    from == e.begin, to == e.end});
    data_end_ = std::max(data_end_, to);
  }

  void open_window(std::uint64_t offset) {
    close_window();
    cur_ = Window{offset, 0, {}};
    data_end_ = offset;
  }

  void close_window() {
    if (!cur_) return;
    if (data_end_ > cur_->offset && file_size_ > cur_->offset) {
      const std::uint64_t rounded = (data_end_ + align_ - 1) / align_ * align_;
      cur_->length = std::min(rounded, file_size_) - cur_->offset;
    }
    out_.push_back(std::move(*cur_));
    cur_.reset();
  }

  std::uint64_t align_;
  std::uint64_t cap_;
  std::uint64_t file_size_;
  std::optional<Window> cur_;
  std::uint64_t data_end_ = 0;
  std::vector<Window> out_;
};

}  // namespace

std::vector<Window> plan_windows(std::span<const Extent> extents, std::uint64_t align,
                                 std::uint64_t capacity, std::uint64_t file_size) {
  Planner planner(align, capacity, file_size);
  for (std::size_t i = 0; i < extents.size(); ++i) planner.add(i, extents[i]);
  return planner.finish();
}

}  // namespace stsw::detail
