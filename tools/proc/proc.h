// Process helpers shared by the multi-process tests (tests/) and tools (the
// torture runs, the benchmark harness): dict names unique to a process and
// call, fork-and-run with a crash backtrace and an optional alarm, wait,
// objects in anonymous shared memory that forked children see, a pipe
// signal between processes, sleep. Linux.
//
// Thread safety: the functions are thread-safe (UniqueName included); Fork
// is as safe as fork() itself (call it from a single-threaded process, or
// expect only async-signal-safe code to work in the child). SharedArray,
// NewShared objects and PipeSignal are as safe as the type placed there
// (use atomics) and a pipe are.

#ifndef ZCIPC_TOOLS_PROC_PROC_H_
#define ZCIPC_TOOLS_PROC_PROC_H_

#include <sys/mman.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace zcipc_proc {

// A dict name unique to this process and call: "zt-<tag>-<pid>-<n>". Bazel
// runs test binaries in parallel, the torture tool may run beside them, and
// all of them share /dev/shm.
std::string UniqueName(absl::string_view tag);

// How a child ended, as waitpid reports it.
struct ChildResult {
  bool exited = false;  // false: killed by `signal` (or waitpid failed)
  int exit_code = -1;
  int signal = 0;

  bool ok() const { return exited && exit_code == 0; }
  bool killed_by(int sig) const { return !exited && signal == sig; }
  // The exit code, or 128 + the signal that killed the child (the shell's
  // convention).
  int code() const { return exited ? exit_code : 128 + signal; }
  // "exited with code 3", "killed by signal 9 (Killed)".
  std::string Describe() const;
};

// Forks; the child runs body() and leaves with _exit(body()), never running
// the parent's destructors or atexit handlers. Flushes stdio first so
// buffered output is not written twice. In the child, a SIGSEGV, SIGBUS or
// SIGABRT prints a backtrace to stderr before the child dies of that
// signal; if alarm_seconds > 0, a child still running after that long dies
// of SIGALRM, so a hang is reported rather than waited on. Returns the
// child's pid, or -1 if fork() failed.
pid_t Fork(const std::function<int()>& body, unsigned alarm_seconds = 0);

// Waits for `pid` (retrying on EINTR).
ChildResult WaitChild(pid_t pid);

// Waits for `pid`: its exit code, or 128 + the signal that killed it.
inline int WaitExit(pid_t pid) { return WaitChild(pid).code(); }

// In a forked child: writes "child PID: WHAT: STATUS" to stderr (it lands in
// the test log), then returns `code` for the child to exit with.
int ChildFailure(int code, absl::string_view what, const absl::Status& status);

// `count` objects of T, value-initialised, in anonymous MAP_SHARED memory:
// they survive fork() and are shared with the children (lock-free atomics
// work across processes). The memory is unmapped (without running T's
// destructor) when the SharedArray is destroyed; valid() is false if mmap
// failed.
template <typename T>
class SharedArray {
 public:
  explicit SharedArray(size_t count = 1) : count_(count) {
    void* p = mmap(nullptr, sizeof(T) * count, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    data_ = static_cast<T*>(p);
    for (size_t i = 0; i < count; ++i) new (&data_[i]) T();
  }
  ~SharedArray() {
    if (data_ != nullptr) munmap(data_, sizeof(T) * count_);
  }
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;

  bool valid() const { return data_ != nullptr; }
  size_t size() const { return count_; }
  T* get() const { return data_; }
  T* operator->() const { return data_; }
  T& operator[](size_t i) const { return data_[i]; }

 private:
  size_t count_;
  T* data_ = nullptr;
};

// A T constructed in `bytes` (at least sizeof(T)) of anonymous shared
// memory, visible to children forked afterwards; aborts if mmap fails.
// Prefer SharedArray, which unmaps by itself; release with DeleteShared.
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

// A one-shot signal between processes over a pipe: Fire() writes a byte;
// Wait() returns true when one arrives, false at EOF (every writer closed).
class PipeSignal {
 public:
  PipeSignal();
  ~PipeSignal();
  PipeSignal(const PipeSignal&) = delete;
  PipeSignal& operator=(const PipeSignal&) = delete;

  bool valid() const { return fds_[0] >= 0; }
  void Fire();
  bool Wait();
  void CloseRead();
  void CloseWrite();

 private:
  int fds_[2];
};

// Sleeps `s` seconds (retrying on EINTR).
void SleepSeconds(double s);

}  // namespace zcipc_proc

#endif  // ZCIPC_TOOLS_PROC_PROC_H_
