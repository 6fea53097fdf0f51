// Loads every tensor of a safetensors file with C++20 coroutines on a Boost.Asio
// io_context: up to `--parallel` verified reads in flight at once, as an Asio-based
// inference server would at start-up.
//
//   stsw-example-asio-load model.safetensors [parallel]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "stsw/asio.hpp"

namespace asio = boost::asio;

namespace {

// One worker coroutine: takes the next tensor index and reads it, until none is left.
asio::awaitable<void> worker(const stsw::StreamReader& reader,
                             const std::vector<std::string>& names, std::size_t& next,
                             std::uint64_t& bytes) {
  while (next < names.size()) {
    const std::string& name = names[next++];
    std::vector<std::byte> dst(reader.meta(name).nbytes());
    co_await stsw::async_read_into(reader, name, dst, asio::use_awaitable);
    bytes += dst.size();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [parallel]\n", argv[0]);
    return 2;
  }
  const int parallel = argc > 2 ? std::max(1, std::atoi(argv[2])) : 4;
  try {
    auto reader = stsw::StreamReader::open(argv[1], {});
    const std::vector<std::string> names = reader.keys();
    asio::io_context io;
    std::size_t next = 0;  // only touched on the io_context's thread
    std::uint64_t bytes = 0;
    std::exception_ptr failure;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < parallel; ++i) {
      asio::co_spawn(io, worker(reader, names, next, bytes), [&](std::exception_ptr e) {
        if (e && !failure) failure = e;
      });
    }
    io.run();
    if (failure) std::rethrow_exception(failure);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("loaded %zu tensors, %llu bytes in %.3f s (%.1f MB/s), all CRCs verified\n",
                names.size(), static_cast<unsigned long long>(bytes), s, bytes / s / 1e6);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
