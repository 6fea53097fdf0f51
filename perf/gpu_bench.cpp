// stsw-gpu-bench: a multi-GB model load into CUDA device memory, stsw's device pipeline
// against its limits, in one run on one machine (issue 15; run by perf/gpu_check.sh, which
// adds fio's disk limit and prints the table):
//   stsw-cold     stsw::cuda::read_batch_to_device, page cache dropped (disk -> device)
//   stsw-warm     the same with the file in the page cache (copy-bound)
//   pageable      today's path: StreamReader::read_batch into pageable host memory, then
//                 cudaMemcpy of every tensor (disk time + copy time), page cache dropped
//   pinned-copy   cudaMemcpyAsync from one pinned 256 MiB buffer, repeated to the model's
//                 size: the host-to-device copy limit
// Each is run --runs times; the best is reported. Lines "RESULT <name> <seconds> <GB/s>"
// (GB = 10^9 bytes) are for the script; the loaded bytes are checked with CRCs.
#include <cuda_runtime_api.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "page_cache.hpp"
#include "stsw/crc32.hpp"
#include "stsw/cuda.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void cuda_ok(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(rc) + ": " +
                             cudaGetErrorString(rc));
  }
}

// A model-like mix: per 4 tensors one large, one quarter, one sixteenth and one 64 KiB
// (norms, biases), until `total` bytes.
std::vector<stsw::TensorMeta> model_metas(std::uint64_t total, std::uint64_t large) {
  std::vector<stsw::TensorMeta> metas;
  const std::uint64_t sizes[] = {large, large / 4, large / 16, 64 * 1024};
  std::uint64_t off = 0;
  for (std::size_t i = 0; off < total; ++i) {
    const std::uint64_t n = std::min(sizes[i % 4], total - off);
    metas.push_back({"layers." + std::to_string(i / 4) + ".w" + std::to_string(i % 4),
                     stsw::DType::BF16,
                     {n / 2},
                     off,
                     off + n / 2 * 2,
                     {}});
    off += n / 2 * 2;
    if (n < 2) break;
  }
  return metas;
}

void create_model(const std::string& path, std::uint64_t total, std::uint64_t large) {
  const auto metas = model_metas(total, large);
  std::vector<std::byte> block(large + 64);
  std::mt19937_64 rng(42);
  for (auto& b : block) b = static_cast<std::byte>(rng());
  auto w = stsw::StreamWriter::open(path, metas);
  for (const auto& m : metas) {
    for (std::uint64_t done = 0; done < m.nbytes();) {
      const auto n = std::min<std::uint64_t>(large, m.nbytes() - done);
      w.write_block(m.name, {block.data() + (done + m.offset_begin) % 4099 % 64, n}).get();
      done += n;
    }
  }
  w.close().get();
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stsw-gpu-bench: model load into CUDA device memory vs its limits"};
  std::string path;
  double size_gib = 4;
  std::size_t large_mib = 64, chunk_mib = 16;
  unsigned buffers = 4, runs = 3;
  app.add_option("--file", path, "model file (created with --size-gib when absent)")->required();
  app.add_option("--size-gib", size_gib, "model size when the file is created");
  app.add_option("--tensor-mib", large_mib, "largest tensor of the created model");
  app.add_option("--chunk-mib", chunk_mib, "stsw staging buffer size");
  app.add_option("--buffers", buffers, "stsw staging buffers");
  app.add_option("--runs", runs, "runs per measurement (best reported)");
  CLI11_PARSE(app, argc, argv);

  try {
    std::printf("# %s\n", stsw::cuda::describe().c_str());
    if (stsw::cuda::device_count() == 0) {
      std::fprintf(stderr, "no CUDA device: nothing to measure\n");
      return 2;
    }
    if (!std::filesystem::exists(path)) {
      const auto t0 = Clock::now();
      create_model(path, static_cast<std::uint64_t>(size_gib * (1ull << 30)), large_mib << 20);
      std::printf("# created %s in %.1f s\n", path.c_str(), seconds_since(t0));
    }
    const auto reader = stsw::StreamReader::open(path);
    const auto keys = reader.keys();
    std::uint64_t total = 0;
    for (const auto& k : keys) total += reader.meta(k).nbytes();
    std::printf("# %zu tensors, %.2f GB\n", keys.size(), total / 1e9);

    void* dev = nullptr;
    cuda_ok(cudaMalloc(&dev, total), "cudaMalloc");
    cudaStream_t stream = nullptr;
    cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    std::vector<stsw::cuda::DeviceReadRequest> reqs;
    std::vector<std::uint64_t> at;
    std::uint64_t off = 0;
    for (const auto& k : keys) {
      const auto n = reader.meta(k).nbytes();
      reqs.push_back({k, 0, n, static_cast<std::byte*>(dev) + off});
      at.push_back(off);
      off += n;
    }
    stsw::cuda::DeviceOptions opt;
    opt.chunk_size = chunk_mib << 20;
    opt.buffer_count = buffers;

    auto best = [&](const char* name, auto&& prepare, auto&& run) {
      double b = 1e300;
      for (unsigned i = 0; i < runs; ++i) {
        prepare();
        const auto t0 = Clock::now();
        run();
        b = std::min(b, seconds_since(t0));
      }
      std::printf("RESULT %s %.4f %.3f\n", name, b, total / b / 1e9);
      std::fflush(stdout);
    };
    auto cold = [&] {
      const auto d = stsw::bench::drop_cache(path, stsw::bench::CacheDrop::Auto);
      if (!d.cold)
        std::printf("# warning: cache drop left %.0f%% resident (%s)\n", d.resident * 100,
                    d.note.c_str());
    };
    auto warm = [&] { (void)stsw::bench::warm_cache(path); };
    auto stsw_load = [&] { stsw::cuda::read_batch_to_device(reader, reqs, stream, opt); };

    best("stsw-cold", cold, stsw_load);
    // Check what landed: CRC of every tensor copied back against the stored crc32.
    {
      std::vector<std::byte> host(total);
      cuda_ok(cudaMemcpy(host.data(), dev, total, cudaMemcpyDeviceToHost), "cudaMemcpy back");
      std::size_t bad = 0;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto& m = reader.meta(keys[i]);
        if (m.crc32 && stsw::crc32({host.data() + at[i], m.nbytes()}) != *m.crc32) ++bad;
      }
      std::printf("# device bytes checked: %zu of %zu tensors bad\n", bad, keys.size());
      if (bad) return 1;
    }
    best("stsw-warm", warm, stsw_load);

    std::vector<std::byte> pageable(total);
    std::vector<stsw::ReadRequest> host_reqs;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      host_reqs.push_back({keys[i], 0, {pageable.data() + at[i], reader.meta(keys[i]).nbytes()}});
    }
    best("pageable", cold, [&] {
      reader.read_batch(host_reqs).get();
      for (std::size_t i = 0; i < keys.size(); ++i) {
        cuda_ok(cudaMemcpy(static_cast<std::byte*>(dev) + at[i], pageable.data() + at[i],
                           reader.meta(keys[i]).nbytes(), cudaMemcpyHostToDevice),
                "cudaMemcpy");
      }
    });
    pageable = {};

    void* pinned = nullptr;
    const std::size_t pin_bytes = std::size_t{256} << 20;
    cuda_ok(cudaMallocHost(&pinned, pin_bytes), "cudaMallocHost");
    best(
        "pinned-copy", [] {},
        [&] {
          for (std::uint64_t done = 0; done < total;) {
            const auto n = std::min<std::uint64_t>(pin_bytes, total - done);
            cuda_ok(cudaMemcpyAsync(static_cast<std::byte*>(dev) + done, pinned, n,
                                    cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync");
            done += n;
          }
          cuda_ok(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
        });
    (void)cudaFreeHost(pinned);
    (void)cudaStreamDestroy(stream);
    (void)cudaFree(dev);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stsw-gpu-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
