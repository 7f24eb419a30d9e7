// Keeps prometheus-cpp's HTTP server working in processes that load LibTorch.
//
// Debian's civetweb (the server behind prometheus-cpp's Exposer) starts every thread with a
// fixed 100 KiB stack (pthread_attr_setstacksize(attr, 102400), a compile-time setting). glibc
// carves each thread's static TLS out of its stack, and a LibTorch process loads OpenBLAS
// (60 KiB of TLS), glog (30 KiB) and LibTorch (10 KiB): the threads no longer fit, pthread_create
// fails with EINVAL, and the Exposer throws "null context when constructing CivetServer". This
// definition lives in the executable, so it comes before glibc's for every library: requests
// below 1 MiB are raised to 1 MiB, then glibc does the rest. (The controller, without
// LibTorch, does not need it.)
#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static const Fn glibc = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  if (glibc == nullptr) return ENOSYS;
  constexpr size_t kMinimum = size_t{1} << 20;
  return glibc(attr, std::max(size, kMinimum));
}
