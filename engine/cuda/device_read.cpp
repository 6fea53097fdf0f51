// read_to_device: the host-to-device pipeline (see pipeline.hpp).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "cuda/pipeline.hpp"
#include "cuda/pipeline_util.hpp"
#include "cuda/staging.hpp"
#include "stsw/crc32.hpp"
#include "stsw/error.hpp"

namespace stsw::device {

namespace {

constexpr std::uint64_t kPage = 4096;

// One request, validated.
struct Job {
  const cuda::DeviceReadRequest* req;
  const TensorMeta* meta;
  const std::string* file;
  std::uint64_t data_offset;
  bool check_crc;  // a whole tensor with a stored crc32, and verify_crc
};

// A chunk whose read is in flight or whose bytes are being handled.
struct Flight {
  std::size_t job;
  std::uint64_t offset;  // in the tensor
  std::size_t length;
  std::size_t slot;
  std::byte* at;
  std::future<void> read;
};

std::vector<Job> validate(const StreamReader& reader,
                          std::span<const cuda::DeviceReadRequest> requests,
                          const cuda::DeviceOptions& options) {
  std::map<std::string, std::uint64_t, std::less<>> data_offsets;
  for (const auto& s : reader.shards()) data_offsets.emplace(s.path, s.data_offset);
  std::vector<Job> jobs;
  jobs.reserve(requests.size());
  for (const auto& r : requests) {
    const TensorMeta& m = reader.meta(r.name);  // UnknownTensor
    const std::string& file = reader.file_of(r.name);
    if (r.offset > m.nbytes() || r.size > m.nbytes() - r.offset) {
      throw Error(Errc::InvalidArgument,
                  file + ": tensor '" + m.name + "': a range of " + std::to_string(r.size) +
                      " bytes at offset " + std::to_string(r.offset) +
                      " lies outside the tensor's " + std::to_string(m.nbytes()) + " bytes");
    }
    if (r.size > 0 && r.dst == nullptr) {
      throw Error(Errc::InvalidArgument, file + ": tensor '" + m.name +
                                             "': null device destination for " +
                                             std::to_string(r.size) + " bytes");
    }
    const auto it = data_offsets.find(file);
    const bool whole = r.offset == 0 && r.size == m.nbytes();
    jobs.push_back({&r, &m, &file, it == data_offsets.end() ? 0 : it->second,
                    whole && options.verify_crc && m.crc32.has_value()});
  }
  return jobs;
}

std::string crc_message(const Job& j, std::uint32_t got) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " (expected 0x%08" PRIx32 ", got 0x%08" PRIx32 ")", *j.meta->crc32,
                got);
  return *j.file + ": tensor '" + j.meta->name + "'" + buf;
}

}  // namespace

void read_to_device(const StreamReader& reader, std::span<const cuda::DeviceReadRequest> requests,
                    Copier& copier, const cuda::DeviceOptions& options) {
  check_options(options, &copier);
  const std::vector<Job> jobs = validate(reader, requests, options);
  // An empty tensor is read by no chunk below: its stored CRC must be that of no bytes.
  for (const Job& j : jobs) {
    if (j.check_crc && j.meta->nbytes() == 0 && *j.meta->crc32 != 0) {
      throw Error(Errc::CrcMismatch, crc_message(j, 0));
    }
  }
  const std::uint64_t chunk = options.chunk_size;
  // Pin no more than the call needs: a small tensor gets small buffers, and never more
  // buffers than chunks (pinning costs about as much as copying the bytes once).
  std::uint64_t chunks = 0;
  std::uint64_t largest = 0;
  for (const auto& j : jobs) {
    chunks += (j.req->size + chunk - 1) / chunk;
    largest = std::max(largest, j.req->size);
  }
  if (chunks == 0) return;
  const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(options.buffer_count, chunks));
  Staging staging(copier, k, static_cast<std::size_t>(std::min(chunk, largest)) + kPage);
  std::vector<bool> busy(k, false);  // a copy was recorded and not yet seen done
  std::vector<std::pair<std::size_t, std::uint64_t>> slot_chunk(k);  // job, offset
  auto where = [&](std::size_t job, std::uint64_t offset) {
    return ChunkPlace{jobs[job].file, &jobs[job].meta->name, jobs[job].req->offset + offset};
  };

  std::size_t next_job = 0;
  std::uint64_t next_offset = 0;  // in the request's range
  auto skip_empty = [&] {
    while (next_job < jobs.size() && next_offset >= jobs[next_job].req->size) {
      ++next_job;
      next_offset = 0;
    }
  };
  skip_empty();

  std::deque<Flight> flights;
  std::uint64_t issued = 0;
  Crc32 crc;
  std::size_t crc_job = SIZE_MAX;
  try {
    for (;;) {
      // Start reads into every buffer whose previous copy finished.
      while (next_job < jobs.size() && flights.size() < k) {
        const std::size_t s = issued % k;
        if (busy[s]) {
          const auto [j, o] = slot_chunk[s];
          const bool free = with_place(where(j, o), [&] { return copier.done(s); });
          if (!free) break;
          busy[s] = false;
        }
        const Job& job = jobs[next_job];
        const std::uint64_t in_tensor = job.req->offset + next_offset;
        const std::uint64_t file_offset = job.data_offset + job.meta->offset_begin + in_tensor;
        // Chunks end on multiples of chunk_size in the file, so that with a block-multiple
        // chunk_size only a tensor's first and last chunk have unaligned edges for O_DIRECT.
        const auto len = static_cast<std::size_t>(
            std::min(chunk - file_offset % chunk, job.req->size - next_offset));
        std::byte* at = staging.data(s) + file_offset % kPage;
        flights.push_back({next_job, next_offset, len, s, at,
                           reader.read_range(job.meta->name, in_tensor, {at, len})});
        ++issued;
        next_offset += len;
        skip_empty();
      }
      if (flights.empty()) {
        if (next_job >= jobs.size()) break;
        // Every buffer waits for its copy: block on the next one.
        const std::size_t s = issued % k;
        const auto [j, o] = slot_chunk[s];
        with_place(where(j, o), [&] { copier.wait(s); });
        busy[s] = false;
        continue;
      }
      // The oldest read: checksum, then copy.
      Flight f = std::move(flights.front());
      flights.pop_front();
      f.read.get();
      const Job& job = jobs[f.job];
      if (job.check_crc) {
        if (crc_job != f.job) {
          crc = Crc32{};
          crc_job = f.job;
        }
        crc.update({f.at, f.length});
        if (f.offset + f.length == job.req->size && crc.value() != *job.meta->crc32) {
          throw Error(Errc::CrcMismatch, crc_message(job, crc.value()));
        }
      }
      with_place(where(f.job, f.offset), [&] {
        copier.to_device(static_cast<std::byte*>(job.req->dst) + f.offset, f.at, f.length);
        copier.record(f.slot);
      });
      busy[f.slot] = true;
      slot_chunk[f.slot] = {f.job, f.offset};
    }
    for (std::size_t s = 0; s < k; ++s) {
      if (!busy[s]) continue;
      const auto [j, o] = slot_chunk[s];
      with_place(where(j, o), [&] { copier.wait(s); });
      busy[s] = false;
    }
  } catch (...) {
    // Reads still in flight write into the staging buffers: let them finish first
    // (Staging's destructor then waits for the copies).
    for (auto& f : flights) f.read.wait();
    throw;
  }
}

}  // namespace stsw::device
