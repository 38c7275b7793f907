// The writer lock: one writer at a time across every process and thread,
// with no system call on the uncontended path. The protocol (a lock word in
// the header naming the owner's registration; per-handle OFD byte locks as
// the kernel's proof that an owner lives; take-over of a dead owner; fork
// handling; futex wake-ups) is in docs/DESIGN.md, "The writer lock".
//
// Thread safety: thread-safe.

#ifndef ZCIPC_ENGINE_LOCK_WRITER_LOCK_H_
#define ZCIPC_ENGINE_LOCK_WRITER_LOCK_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/layout/layout.h"
#include "engine/status/status.h"

namespace zcipc {
namespace lock {

// A mutex with a timeout for the threads of one process (it guards a
// handle's registration) (Drepper's
// three-state futex mutex: 0 free, 1 held, 2 held with waiters). Built on
// atomics, so ThreadSanitizer sees its happens-before edges, and resettable
// in a forked child.
class ProcessMutex {
 public:
  bool TryLock() {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(
        expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
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
  // How long a waiter sleeps at most before it looks at the owner again:
  // bounds how long a waiter waits past a holder's death.
  static constexpr absl::Duration kCheckPeriod = absl::Milliseconds(5);
  // Spins on a held word before sleeping (critical sections are short).
  static constexpr int kSpins = 64;

  // Takes ownership of `ref_fd`, a descriptor of the segment's file (the one
  // it was mapped through), used to open further descriptions of the file.
  // `registry` is the segment's writer registry (layout::kRegistryOffset).
  WriterLock(int ref_fd, layout::Header* header,
             layout::Registration* registry);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  // Blocks until the lock is held or `timeout` passes: DeadlineExceeded
  // with ErrorKind::kLockTimeout and the holder's pid (GetLockHolderPid).
  // FailedPrecondition (kReentrant) if this thread already holds it.
  // When the previous owner died holding the lock, the lock is taken over;
  // the caller repairs what the intent record says it left.
  absl::Status Lock(absl::Duration timeout) {
    // Fast path, uncontended: one compare-and-swap on the lock word (which
    // excludes this handle's other threads too: they share the token), no
    // system call, no clock read, no Status until something has to wait.
    const uint32_t token = token_.load(std::memory_order_relaxed);
    uint32_t expected = 0;
    if (ABSL_PREDICT_TRUE(token != 0) &&
        ABSL_PREDICT_TRUE(header_->lock_word.compare_exchange_strong(
            expected, token, std::memory_order_acquire,
            std::memory_order_relaxed))) {
      Acquired();
      return absl::OkStatus();
    }
    return LockSlow(timeout);
  }
  // Takes the lock if it is free, or if its owner is dead, right now.
  bool TryLock();
  void Unlock() {
    owner_.store(std::thread::id(), std::memory_order_relaxed);
    header_->lock_owner_pid.store(0, std::memory_order_relaxed);
    internal::CrashPoint("lock.releasing");
    uint32_t old = header_->lock_word.exchange(0, std::memory_order_release);
    if (ABSL_PREDICT_FALSE((old & layout::kLockContended) != 0)) {
      WakeWaiters();
    }
  }

  // Takes the lock if it is free (or its owner dead) right now, for a scope.
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

  // True if the calling thread holds the lock (for re-entry from inside a
  // Write or Update callback).
  bool HeldByThisThread() const {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

  // Whether a live process holds the lock now, and its pid (0 if unknown).
  bool HeldByAnyone(int64_t* pid) const;
  // Whether the lock word names an owner that is dead (left by a process
  // that died holding it), and the pid that owner recorded.
  bool Abandoned(int64_t* pid) const;

  // The token of the current owner in lock_word, or 0.
  uint32_t OwnerToken() const {
    return header_->lock_word.load(std::memory_order_relaxed) &
           ~layout::kLockContended;
  }

 private:
  static void PrepareFork();
  static void ParentAfterFork();
  static void ChildAfterFork();

  absl::Status LockSlow(absl::Duration timeout);
  // Claims a registration (an OFD byte lock) for this handle, once; sets
  // token_. Thread-safe.
  absl::Status Register();
  // Whether the owner named by `token` is certainly dead: its registration
  // was claimed again since (another generation) or no description holds
  // its byte lock. A live owner is never reported dead.
  bool OwnerDead(uint32_t token) const;
  // The pid the registration named by `token` recorded (0 if none).
  int64_t RegisteredPid(uint32_t token) const;
  void Acquired() {
    internal::CrashPoint("lock.acquired");
    header_->lock_owner_pid.store(pid_, std::memory_order_relaxed);
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  void WakeWaiters();

  std::atomic<std::thread::id> owner_{};  // the thread holding the lock
  const int ref_fd_;
  // This handle's registration: a description of the file (never mapped)
  // holding the OFD lock on its registration's byte. Guarded by reg_mu_
  // (a ProcessMutex: resettable in a forked child).
  ProcessMutex reg_mu_;
  int reg_fd_ = -1;
  // (generation << kTokenSlotBits) | (slot + 1); 0 until registered. Set
  // under reg_mu_, read by the fast path.
  std::atomic<uint32_t> token_{0};
  int64_t pid_;  // this process (getpid is a syscall: cached)
  layout::Header* header_;
  layout::Registration* registry_;
};

}  // namespace lock
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_LOCK_WRITER_LOCK_H_
