// Process helpers shared by the multi-process tools (the torture runs and
// the benchmark harness): objects in anonymous shared memory that forked
// children see, fork-and-run, wait, sleep. Header-only; Linux.
//
// Thread safety: the functions are thread-safe; NewShared objects are as
// safe as the type T placed there (use atomics).

#ifndef ZCIPC_TOOLS_PROC_PROC_H_
#define ZCIPC_TOOLS_PROC_PROC_H_

#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>

namespace zcipc_proc {

// A T constructed in `bytes` (at least sizeof(T)) of anonymous shared
// memory, visible to children forked afterwards. Aborts if mmap fails.
template <typename T>
T* NewShared(size_t bytes = sizeof(T)) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    abort();
  }
  return new (p) T();
}

template <typename T>
void DeleteShared(T* p, size_t bytes = sizeof(T)) {
  p->~T();
  munmap(p, bytes);
}

// Forks; the child runs body() and _exits with its result (no atexit
// handlers, no destructors of the parent's objects). Flushes stdio first so
// buffered output is not written twice.
inline pid_t Fork(const std::function<int()>& body) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  return pid;
}

// Waits for `pid`: its exit code, or 128 + the signal that killed it.
inline int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

inline void SleepSeconds(double s) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace zcipc_proc

#endif  // ZCIPC_TOOLS_PROC_PROC_H_
