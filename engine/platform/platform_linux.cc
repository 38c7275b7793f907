// Linux implementation of engine/platform/platform.h.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/platform/platform.h"

namespace zcipc {
namespace platform {

absl::Status ErrnoStatus(int err, absl::string_view context) {
  std::string message = absl::StrCat(context, ": ", strerror(err));
  switch (err) {
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    default:
      return absl::ErrnoToStatus(err, message);
  }
}

namespace {

// Retries a syscall interrupted by a signal.
template <typename F>
auto RetryEintr(F f) -> decltype(f()) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace

absl::StatusOr<int> ShmCreateExclusive(const std::string& shm_name,
                                       absl::string_view context) {
  int fd = RetryEintr([&] {
    return shm_open(shm_name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
                    0600);
  });
  if (fd < 0) return ErrnoStatus(errno, context);
  return fd;
}

absl::StatusOr<int> ShmOpen(const std::string& shm_name,
                            absl::string_view context) {
  int fd = RetryEintr(
      [&] { return shm_open(shm_name.c_str(), O_RDWR | O_CLOEXEC, 0); });
  if (fd < 0) return ErrnoStatus(errno, context);
  return fd;
}

absl::Status ShmUnlink(const std::string& shm_name, absl::string_view context) {
  if (shm_unlink(shm_name.c_str()) != 0) return ErrnoStatus(errno, context);
  return absl::OkStatus();
}

std::vector<std::string> ListShm(absl::string_view prefix) {
  std::vector<std::string> names;
  DIR* dir = opendir(kShmDir);
  if (dir == nullptr) return names;
  while (struct dirent* e = readdir(dir)) {
    if (absl::StartsWith(e->d_name, prefix)) names.emplace_back(e->d_name);
  }
  closedir(dir);
  return names;
}

absl::Status ResizeAndReserve(int fd, uint64_t size,
                              absl::string_view context) {
  if (size > static_cast<uint64_t>(LLONG_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": segment size ", size, " too large"));
  }
  if (RetryEintr([&] { return ftruncate(fd, static_cast<off_t>(size)); }) !=
      0) {
    return ErrnoStatus(errno, context);
  }
  int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err == EINTR) err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err != 0 && err != EOPNOTSUPP) return ErrnoStatus(err, context);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, absl::string_view context) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, context);
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<int> Reopen(int fd, absl::string_view context) {
  std::string path = absl::StrCat("/proc/self/fd/", fd);
  int nfd = RetryEintr([&] { return open(path.c_str(), O_RDWR | O_CLOEXEC); });
  if (nfd < 0) return ErrnoStatus(errno, context);
  return nfd;
}

void Close(int fd) {
  if (fd >= 0) close(fd);
}

absl::StatusOr<char*> MapShared(int fd, uint64_t size,
                                absl::string_view context) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, context);
  return static_cast<char*>(p);
}

void Unmap(char* addr, uint64_t size) {
  if (addr != nullptr) munmap(addr, size);
}

absl::StatusOr<bool> TryLockFile(int fd, absl::string_view context) {
  if (RetryEintr([&] { return flock(fd, LOCK_EX | LOCK_NB); }) == 0) {
    return true;
  }
  if (errno == EWOULDBLOCK) return false;
  return ErrnoStatus(errno, context);
}

int TryLockFileErrno(int fd) {
  if (RetryEintr([&] { return flock(fd, LOCK_EX | LOCK_NB); }) == 0) return 0;
  return errno;
}

void UnlockFile(int fd) { flock(fd, LOCK_UN); }

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
               absl::Duration timeout) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
                "futex word must be a plain 32-bit integer");
  struct timespec ts = absl::ToTimespec(timeout);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected,
          &ts, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX,
          nullptr, nullptr, 0);
}

int64_t ProcessId() { return static_cast<int64_t>(getpid()); }

void RegisterForkHandlers(void (*prepare)(), void (*parent)(),
                          void (*child)()) {
  pthread_atfork(prepare, parent, child);
}

uint64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ts.tv_nsec);
}

void YieldThread() { sched_yield(); }

}  // namespace platform
}  // namespace zcipc
