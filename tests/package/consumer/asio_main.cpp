// The stsw::asio consumer: an Asio completion-token read through the installed package.
#include <fcntl.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <stsw/asio.hpp>
#include <stsw/crc32.hpp>

#include <cstdio>
#include <vector>

int main() {
  auto engine = stsw::Engine::create({});
  stsw::File file = stsw::File::open("/proc/self/exe", O_RDONLY, 0, stsw::IoMode::Buffered);
  std::vector<std::byte> head(4);
  auto crc = stsw::async_read(*engine, file, 0, head, true, boost::asio::use_future).get();
  if (crc != stsw::crc32(head) || head[1] != std::byte{'E'}) {
    std::puts("read wrong");
    return 1;
  }
  std::puts("ok");
  return 0;
}
