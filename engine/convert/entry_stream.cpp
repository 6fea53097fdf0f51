#include "convert/entry_stream.hpp"

#include <isa-l/igzip_lib.h>

#include <algorithm>
#include <cstring>

#include "stsw/crc32.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {
constexpr std::size_t kInputChunk = std::size_t{1} << 18;
}

struct EntryStream::Inflate {
  inflate_state state{};
};

EntryStream::EntryStream(const ZipArchive& archive, const ZipEntry& entry)
    : archive_(archive), entry_(entry) {
  if (entry.method == 8) {
    inflate_ = std::make_unique<Inflate>();
    isal_inflate_init(&inflate_->state);
    inflate_->state.crc_flag = ISAL_DEFLATE;
    in_.resize(kInputChunk);
  } else if (entry.method != 0) {
    throw Error(Errc::Unsupported, describe() + ": zip compression method " +
                                       std::to_string(entry.method) +
                                       " is not supported (only stored and deflate)");
  } else if (entry.compressed_size != entry.uncompressed_size) {
    throw Error(Errc::InvalidArgument,
                describe() + ": corrupt zip: stored entry has compressed size " +
                    std::to_string(entry.compressed_size) + " but uncompressed size " +
                    std::to_string(entry.uncompressed_size));
  }
}

EntryStream::~EntryStream() = default;

std::size_t EntryStream::inflate_some(std::span<std::byte> dst) {
  inflate_state& st = inflate_->state;
  std::size_t out = 0;
  while (out < dst.size() && !ended_) {
    if (st.avail_in == 0 && consumed_ < entry_.compressed_size) {
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(in_.size(), entry_.compressed_size - consumed_));
      archive_.file().read_exact(entry_.data_offset + consumed_, std::span(in_.data(), n),
                                 describe());
      consumed_ += n;
      st.next_in = reinterpret_cast<std::uint8_t*>(in_.data());
      st.avail_in = static_cast<std::uint32_t>(n);
    }
    const std::size_t want = std::min<std::size_t>(dst.size() - out, std::uint32_t{1} << 30);
    st.next_out = reinterpret_cast<std::uint8_t*>(dst.data() + out);
    st.avail_out = static_cast<std::uint32_t>(want);
    const std::uint32_t in_before = st.avail_in;
    const int rc = isal_inflate(&st);
    const std::size_t got = want - st.avail_out;
    out += got;
    if (rc < 0) {
      throw Error(Errc::InvalidArgument, describe() + ": corrupt deflate data (igzip error " +
                                             std::to_string(rc) + ") after " +
                                             std::to_string(produced_ + out) + " bytes");
    }
    if (st.block_state == ISAL_BLOCK_FINISH) {
      ended_ = true;
    } else if (got == 0 && st.avail_in == in_before && consumed_ >= entry_.compressed_size) {
      throw Error(Errc::InvalidArgument, describe() +
                                             ": truncated deflate stream: input ended after " +
                                             std::to_string(produced_ + out) + " of " +
                                             std::to_string(entry_.uncompressed_size) + " bytes");
    }
  }
  return out;
}

std::size_t EntryStream::read(std::span<std::byte> dst) {
  std::size_t n = 0;
  if (inflate_) {
    n = inflate_some(dst);
  } else {
    n = static_cast<std::size_t>(
        std::min<std::uint64_t>(dst.size(), entry_.uncompressed_size - produced_));
    archive_.file().read_exact(entry_.data_offset + produced_, dst.first(n), describe());
    if (produced_ + n == entry_.uncompressed_size) ended_ = true;
  }
  if (produced_ + n > entry_.uncompressed_size) {
    throw Error(Errc::InvalidArgument, describe() +
                                           ": inflates to more than its recorded size of " +
                                           std::to_string(entry_.uncompressed_size) + " bytes");
  }
  crc_ = crc32(dst.first(n), crc_);
  produced_ += n;
  return n;
}

void EntryStream::read_exact(std::span<std::byte> dst) {
  std::size_t done = 0;
  while (done < dst.size()) {
    const std::size_t n = read(dst.subspan(done));
    if (n == 0) {
      throw Error(Errc::InvalidArgument, describe() + ": truncated: needed " +
                                             std::to_string(produced_ - done + dst.size()) +
                                             " bytes but the entry holds " +
                                             std::to_string(produced_));
    }
    done += n;
  }
}

void EntryStream::finish() {
  std::byte scratch[4096];
  while (read(scratch) != 0) {
  }
  if (produced_ != entry_.uncompressed_size) {
    throw Error(Errc::InvalidArgument, describe() + ": holds " + std::to_string(produced_) +
                                           " bytes, the zip directory says " +
                                           std::to_string(entry_.uncompressed_size));
  }
  if (crc_ != entry_.crc32) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (expected 0x%08x, got 0x%08x)", entry_.crc32, crc_);
    throw Error(Errc::InvalidArgument, describe() + ": zip CRC-32 mismatch" + buf);
  }
}

}  // namespace stsw::cvt
