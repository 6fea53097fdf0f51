// The stsw::cuda consumer: links the installed CUDA component (and the CUDA runtime it
// needs) and asks it about the machine; no GPU is needed (describe() says why none is
// usable).
#include <stsw/cuda.hpp>

#include <cstdio>

int main() {
  const int n = stsw::cuda::device_count();
  const std::string what = stsw::cuda::describe();
  if (n < 0 || what.empty()) {
    std::puts("cuda component answered nothing");
    return 1;
  }
  std::printf("ok %d device(s): %s\n", n, what.c_str());
  return 0;
}
