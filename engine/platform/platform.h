// The platform layer: every system call the engine makes (shm_open, mmap,
// flock, ftruncate, fstat, futex, ...) lives here, and errno becomes an
// absl::Status here and nowhere else. Linux only for now; another platform
// would be another platform_<os>.cc behind this same header.
//
// Thread safety: every function is thread-safe (they are thin syscalls).

#ifndef ZCIPC_ENGINE_PLATFORM_PLATFORM_H_
#define ZCIPC_ENGINE_PLATFORM_PLATFORM_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Feature macros, decided once here (no #ifdef inside engine functions).
#if defined(__SANITIZE_THREAD__)
#define ZCIPC_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZCIPC_THREAD_SANITIZER 1
#endif
#endif

namespace zcipc {
namespace platform {

#ifdef ZCIPC_THREAD_SANITIZER
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// errno -> Status, with `context` (which names the dict and the operation)
// first in the message. ENOENT is NotFound, EEXIST AlreadyExists, ENOSPC and
// ENOMEM ResourceExhausted, EACCES/EPERM PermissionDenied, ...
absl::Status ErrnoStatus(int err, absl::string_view context);

// The directory POSIX shared-memory names live in (for listing tools).
inline constexpr char kShmDir[] = "/dev/shm";

// Creation is atomic (docs/DESIGN.md, "Creating and attaching"): a new dict
// is formatted in a file under a temporary name that no dict can have, and
// then linked to its real name, so a file found under a dict's name is
// always complete. ShmCreateTemp creates that file (0600, O_EXCL) and
// returns its descriptor and name (without the directory).
struct TempShm {
  int fd = -1;
  std::string name;
};
absl::StatusOr<TempShm> ShmCreateTemp(absl::string_view context);
// Gives the temporary file its real name `shm_name` ("/zcipc.<name>") with
// link(2), which fails with AlreadyExists if that name exists, then removes
// the temporary name (also on failure).
absl::Status ShmPublish(const TempShm& temp, const std::string& shm_name,
                        absl::string_view context);
// Removes a temporary file that was never published.
void ShmDiscardTemp(const TempShm& temp);
// The prefix of temporary names (after kShmDir): '~' is not allowed in dict
// names, so no dict's file and no temporary one can be confused.
inline constexpr char kTempPrefix[] = "zcipc.~creating.";

// Opens an existing dict's file read-write. NotFound if absent. A name that
// is not a regular file (directory, symbolic link, FIFO, socket, device) is
// FailedPrecondition with ErrorKind::kNotAFile, and the message says what it
// is; a file this user may not open is PermissionDenied (kPermission) naming
// its owner. Never follows a symbolic link, never blocks on a FIFO.
absl::StatusOr<int> ShmOpen(const std::string& shm_name,
                            absl::string_view context);
// Whether a file of that name exists (of any type).
bool ShmExists(const std::string& shm_name);
absl::Status ShmUnlink(const std::string& shm_name, absl::string_view context);
// Names in kShmDir that start with `prefix` (without the directory).
std::vector<std::string> ListShm(absl::string_view prefix);

// Sets the file size and reserves its pages (posix_fallocate), so touching
// the mapping later cannot SIGBUS for lack of space in /dev/shm.
absl::Status ResizeAndReserve(int fd, uint64_t size, absl::string_view context);
absl::StatusOr<uint64_t> FileSize(int fd, absl::string_view context);
// Makes the file at least `size` bytes long (ftruncate; never shrinks it).
// The new bytes read as zeros; their pages are not reserved.
absl::Status GrowFile(int fd, uint64_t size, absl::string_view context);
// Reserves the pages of [offset, offset + length) (posix_fallocate), so
// that touching them cannot fault for lack of space: ResourceExhausted
// (ENOSPC) when the file system is full.
absl::Status ReserveRange(int fd, uint64_t offset, uint64_t length,
                          absl::string_view context);
// The size in bytes of the file system that holds `dir` (0 if unknown).
uint64_t FileSystemSize(const char* dir);
// Whether two descriptors refer to the same file (device and inode).
bool SameFile(int fd1, int fd2);
// Opens the same file again, through /proc/self/fd: a new open file
// description, hence a separate flock owner.
absl::StatusOr<int> Reopen(int fd, absl::string_view context);
void Close(int fd);

absl::StatusOr<char*> MapShared(int fd, uint64_t size,
                                absl::string_view context);
void Unmap(char* addr, uint64_t size);

// Open-file-description byte locks (fcntl F_OFD_SETLK / F_OFD_GETLK) on one
// byte of a file: owned by the open file description (not the process), so
// two descriptions conflict even within one process, and the kernel drops
// the lock when the last descriptor of its description closes (a process
// that dies closes them all). Never blocks.
// True if this description now holds a write lock on the byte; false if
// another description holds one.
absl::StatusOr<bool> TryLockByte(int fd, uint64_t offset,
                                 absl::string_view context);
void UnlockByte(int fd, uint64_t offset);
// True if a description other than fd's holds a lock on the byte (the
// kernel's word on whether its owner is alive).
absl::StatusOr<bool> ByteLockedByOther(int fd, uint64_t offset,
                                       absl::string_view context);

// Futex on a 32-bit word in shared memory (not FUTEX_PRIVATE: the waiters
// are other processes). Wait returns when *word != expected, when woken, or
// after `timeout`, whichever is first; spurious returns are allowed. True
// when it returned because the timeout expired.
bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
               absl::Duration timeout);
void FutexWakeAll(std::atomic<uint32_t>* word);
void FutexWakeOne(std::atomic<uint32_t>* word);

int64_t ProcessId();
// pthread_atfork: prepare runs before fork() in the parent, parent and child
// after it in each process.
void RegisterForkHandlers(void (*prepare)(), void (*parent)(), void (*child)());

// Monotonic clock in nanoseconds (vDSO, no syscall).
uint64_t MonotonicNanos();
// A CPU hint for spin-wait loops.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}
void YieldThread();
void SleepNanos(uint64_t nanos);

}  // namespace platform
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_PLATFORM_PLATFORM_H_
