#include "stsw/aligned_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "stsw/error.hpp"

namespace stsw {

AlignedBuffer::AlignedBuffer(std::size_t size, std::size_t alignment, bool huge_pages) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error(Errc::InvalidArgument,
                "buffer alignment " + std::to_string(alignment) + " is not a power of two");
  }
  if (size == 0) return;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  // mmap returns page-aligned memory; a larger alignment maps the slack to round up to.
  const std::size_t slack = alignment > page ? alignment : 0;
  if (size > SIZE_MAX - slack) throw errno_error(ENOMEM, "allocate a buffer");
  map_size_ = size + slack;
  void* p = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    map_size_ = 0;
    throw errno_error(errno, "allocate a " + std::to_string(size) + "-byte buffer");
  }
  map_ = p;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  data_ = static_cast<std::byte*>(p) + (alignment - addr % alignment) % alignment;
  size_ = size;
  if (huge_pages) (void)::madvise(data_, size_, MADV_HUGEPAGE);
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { release(); }

void AlignedBuffer::release() noexcept {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace stsw
