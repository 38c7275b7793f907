// The writer lock: one writer at a time across every process and thread.
// The protocol (an in-process mutex, then flock on a never-mapped open file
// description of the segment's file; fork handling; futex wake-up on the
// header's lock_word) is in docs/DESIGN.md, "The writer lock".
//
// Thread safety: thread-safe.

#ifndef ZCIPC_ENGINE_LOCK_WRITER_LOCK_H_
#define ZCIPC_ENGINE_LOCK_WRITER_LOCK_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/layout/layout.h"

namespace zcipc {
namespace lock {

// A mutex with a timeout for the threads of one process (Drepper's
// three-state futex mutex: 0 free, 1 held, 2 held with waiters). Built on
// atomics, so ThreadSanitizer sees its happens-before edges, and resettable
// in a forked child.
class ProcessMutex {
 public:
  bool TryLock() {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1,
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // False if not acquired within `timeout`.
  bool LockFor(absl::Duration timeout);
  void Unlock();
  // The child of a fork has one thread: whoever held this is gone.
  void ResetAfterFork() { state_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> state_{0};
};

class WriterLock {
 public:
  // How long a waiter sleeps at most before trying the flock again (bounds
  // the wait after a holder died without waking anyone).
  static constexpr absl::Duration kMaxSleep = absl::Milliseconds(20);

  // Takes ownership of `ref_fd`, a descriptor of the segment's file that is
  // never locked (the one it was mapped through), and of `lock_fd`, another
  // open file description of the same file (platform::Reopen) that carries
  // the flock and is never mapped. A mapping keeps its open file description
  // alive, so locking the mapped one would let any process that inherited
  // the mapping keep a dead writer's lock held.
  WriterLock(int ref_fd, int lock_fd, layout::Header* header);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  // Blocks until the lock is held or `timeout` passes: DeadlineExceeded
  // with ErrorKind::kLockTimeout and the holder's pid (GetLockHolderPid).
  // FailedPrecondition (kReentrant) if this thread already holds it.
  absl::Status Lock(absl::Duration timeout);
  // Takes the lock if it is free right now.
  bool TryLock();
  void Unlock();

  // True if the calling thread holds the lock (for re-entry from inside a
  // Write or Update callback).
  bool HeldByThisThread() const {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

  // Whether any process holds the lock (probed from a fresh open file
  // description; waiters woken afterwards, so a probe never delays them).
  bool HeldByAnyone();

  // Takes the lock if it is free right now, for a scope.
  class TryGuard {
   public:
    explicit TryGuard(WriterLock* lock)
        : lock_(lock), locked_(lock->TryLock()) {}
    ~TryGuard() {
      if (locked_) lock_->Unlock();
    }
    bool locked() const { return locked_; }
    TryGuard(const TryGuard&) = delete;
    TryGuard& operator=(const TryGuard&) = delete;

   private:
    WriterLock* lock_;
    bool locked_;
  };

 private:
  static void PrepareFork();
  static void ParentAfterFork();
  static void ChildAfterFork();

  // Reopens the lock descriptor if this handle was inherited across a fork
  // (called with mu_ held).
  absl::Status ReopenIfInherited();
  // The release half of Unlock: bump lock_word, wake waiters.
  void WakeWaiters();
  absl::Status LockUntil(absl::Time deadline, absl::Duration timeout);

  ProcessMutex mu_;
  std::atomic<std::thread::id> owner_{};  // the thread holding the lock
  const int ref_fd_;
  int lock_fd_;             // -1 in a forked child until its first lock
  bool inherited_ = false;  // guarded by mu_ (set in the child after fork)
  int64_t pid_;             // this process (getpid is a syscall: cached)
  layout::Header* header_;
};

}  // namespace lock
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_LOCK_WRITER_LOCK_H_
