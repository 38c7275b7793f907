// Linux implementation of engine/platform/platform.h.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/platform/platform.h"
#include "engine/status/status.h"

namespace zcipc {
namespace platform {

absl::Status ErrnoStatus(int err, absl::string_view context) {
  std::string message = context.empty()
                            ? std::string(strerror(err))
                            : absl::StrCat(context, ": ", strerror(err));
  switch (err) {
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(message);
    case EACCES:
    case EPERM:
      return internal::Error(absl::StatusCode::kPermissionDenied,
                             ErrorKind::kPermission, message);
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

namespace {

std::string ShmPath(absl::string_view shm_name) {
  // shm_name is "/zcipc.<name>"; glibc's shm_open maps it to kShmDir.
  return absl::StrCat(kShmDir, shm_name);
}

// What a non-regular file is, for messages.
const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

std::string Join(absl::string_view context, absl::string_view message) {
  return context.empty() ? std::string(message)
                         : absl::StrCat(context, ": ", message);
}

absl::Status NotAFile(const std::string& path, mode_t mode,
                      absl::string_view context) {
  return internal::Error(
      absl::StatusCode::kFailedPrecondition, ErrorKind::kNotAFile,
      Join(context, absl::StrCat(path, " is ", FileTypeName(mode),
                                 ", not a zcipc dict")));
}

}  // namespace

absl::StatusOr<TempShm> ShmCreateTemp(absl::string_view context) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    TempShm t;
    t.name = absl::StrCat(kTempPrefix, getpid(), ".",
                          counter.fetch_add(1, std::memory_order_relaxed), ".",
                          MonotonicNanos());
    std::string path = absl::StrCat(kShmDir, "/", t.name);
    t.fd = RetryEintr([&] {
      return open(path.c_str(),
                  O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    });
    if (t.fd >= 0) return t;
    if (errno != EEXIST) return ErrnoStatus(errno, context);
  }
  return absl::InternalError(
      absl::StrCat(context, ": no free temporary name in ", kShmDir));
}

absl::Status ShmPublish(const TempShm& temp, const std::string& shm_name,
                        absl::string_view context) {
  std::string from = absl::StrCat(kShmDir, "/", temp.name);
  std::string to = ShmPath(shm_name);
  int rc = link(from.c_str(), to.c_str());
  int err = errno;
  unlink(from.c_str());
  if (rc != 0) return ErrnoStatus(err, context);
  return absl::OkStatus();
}

void ShmDiscardTemp(const TempShm& temp) {
  unlink(absl::StrCat(kShmDir, "/", temp.name).c_str());
}

absl::StatusOr<int> ShmOpen(const std::string& shm_name,
                            absl::string_view context) {
  std::string path = ShmPath(shm_name);
  // lstat first: a FIFO or a device must not even be opened.
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, context);
  if (!S_ISREG(st.st_mode)) return NotAFile(path, st.st_mode, context);
  int fd = RetryEintr([&] {
    return open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  });
  if (fd < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM) {
      return internal::Error(
          absl::StatusCode::kPermissionDenied, ErrorKind::kPermission,
          Join(context,
               absl::StrCat(path, " belongs to uid ", st.st_uid, " with mode ",
                            absl::StrFormat("%04o", st.st_mode & 07777),
                            "; this process runs as uid ", geteuid(),
                            " and may not open it")));
    }
    if (err == ELOOP) return NotAFile(path, S_IFLNK, context);
    return ErrnoStatus(err, context);
  }
  // The name may have been replaced between lstat and open.
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return NotAFile(path, st.st_mode, context);
  }
  // O_NONBLOCK only mattered for opening; clear it for clarity.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

bool ShmExists(const std::string& shm_name) {
  struct stat st;
  return lstat(ShmPath(shm_name).c_str(), &st) == 0;
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

absl::Status GrowFile(int fd, uint64_t size, absl::string_view context) {
  if (size > static_cast<uint64_t>(LLONG_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": segment size ", size, " too large"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, context);
  if (static_cast<uint64_t>(st.st_size) >= size) return absl::OkStatus();
  if (RetryEintr([&] { return ftruncate(fd, static_cast<off_t>(size)); }) !=
      0) {
    return ErrnoStatus(errno, context);
  }
  return absl::OkStatus();
}

absl::Status ReserveRange(int fd, uint64_t offset, uint64_t length,
                          absl::string_view context) {
  if (length == 0) return absl::OkStatus();
  int err;
  do {
    err = posix_fallocate(fd, static_cast<off_t>(offset),
                          static_cast<off_t>(length));
  } while (err == EINTR);
  if (err != 0 && err != EOPNOTSUPP) return ErrnoStatus(err, context);
  return absl::OkStatus();
}

uint64_t FileSystemSize(const char* dir) {
  struct statvfs vfs;
  if (statvfs(dir, &vfs) != 0) return 0;
  return static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
}

absl::StatusOr<uint64_t> FileSize(int fd, absl::string_view context) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, context);
  return static_cast<uint64_t>(st.st_size);
}

bool SameFile(int fd1, int fd2) {
  struct stat a, b;
  return fstat(fd1, &a) == 0 && fstat(fd2, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
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
  // The mapping may be longer than the file (a dict reserves room to
  // grow): pages past the file's end are never touched (the engine checks
  // every offset against the heap's end, which the file always reaches).
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, context);
  return static_cast<char*>(p);
}

void Unmap(char* addr, uint64_t size) {
  if (addr != nullptr) munmap(addr, size);
}

namespace {

struct flock ByteLock(short type, uint64_t offset) {
  struct flock fl;
  memset(&fl, 0, sizeof(fl));
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(offset);
  fl.l_len = 1;
  fl.l_pid = 0;  // required for F_OFD_*
  return fl;
}

}  // namespace

absl::StatusOr<bool> TryLockByte(int fd, uint64_t offset,
                                 absl::string_view context) {
  struct flock fl = ByteLock(F_WRLCK, offset);
  if (RetryEintr([&] { return fcntl(fd, F_OFD_SETLK, &fl); }) == 0) {
    return true;
  }
  if (errno == EAGAIN || errno == EACCES) return false;
  return ErrnoStatus(errno, context);
}

void UnlockByte(int fd, uint64_t offset) {
  struct flock fl = ByteLock(F_UNLCK, offset);
  fcntl(fd, F_OFD_SETLK, &fl);
}

absl::StatusOr<bool> ByteLockedByOther(int fd, uint64_t offset,
                                       absl::string_view context) {
  struct flock fl = ByteLock(F_WRLCK, offset);
  if (RetryEintr([&] { return fcntl(fd, F_OFD_GETLK, &fl); }) != 0) {
    return ErrnoStatus(errno, context);
  }
  return fl.l_type != F_UNLCK;
}

bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
               absl::Duration timeout) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
                "futex word must be a plain 32-bit integer");
  struct timespec ts = absl::ToTimespec(timeout);
  long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT,
                   expected, &ts, nullptr, 0);
  return r == -1 && errno == ETIMEDOUT;
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX,
          nullptr, nullptr, 0);
}

void FutexWakeOne(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, 1, nullptr,
          nullptr, 0);
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

void SleepNanos(uint64_t nanos) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(nanos / 1000000000ull);
  ts.tv_nsec = static_cast<long>(nanos % 1000000000ull);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace platform
}  // namespace zcipc
