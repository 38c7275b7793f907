#include "engine/lock/writer_lock.h"

#include <mutex>
#include <set>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "engine/platform/platform.h"
#include "engine/status/status.h"

namespace zcipc {
namespace lock {

namespace {

// Every live WriterLock, so the child of a fork can reset them all.
struct Registry {
  std::mutex mu;
  std::set<WriterLock*> locks;
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

std::once_flag g_fork_handlers_once;

}  // namespace

void WriterLock::PrepareFork() { GetRegistry().mu.lock(); }

void WriterLock::ParentAfterFork() { GetRegistry().mu.unlock(); }

void WriterLock::ChildAfterFork() {
  // The child has one thread. Another thread of the parent may have held a
  // handle's mutex at the fork; that thread does not exist here, so the
  // mutex is re-created unlocked. The descriptor is the parent's open file
  // description: mark it for reopening.
  Registry& r = GetRegistry();
  for (WriterLock* l : r.locks) {
    l->mu_.ResetAfterFork();
    l->owner_.store(std::thread::id(), std::memory_order_relaxed);
    l->pid_ = platform::ProcessId();
    // Drop our reference to the parent's lock description now: if the parent
    // dies holding the lock, the kernel must release it.
    platform::Close(l->lock_fd_);
    l->lock_fd_ = -1;
    l->inherited_ = true;
  }
  r.mu.unlock();
}

WriterLock::WriterLock(int ref_fd, int lock_fd, layout::Header* header)
    : ref_fd_(ref_fd),
      lock_fd_(lock_fd),
      pid_(platform::ProcessId()),
      header_(header) {
  std::call_once(g_fork_handlers_once, [] {
    platform::RegisterForkHandlers(&WriterLock::PrepareFork,
                                   &WriterLock::ParentAfterFork,
                                   &WriterLock::ChildAfterFork);
  });
  std::lock_guard<std::mutex> g(GetRegistry().mu);
  GetRegistry().locks.insert(this);
}

WriterLock::~WriterLock() {
  {
    std::lock_guard<std::mutex> g(GetRegistry().mu);
    GetRegistry().locks.erase(this);
  }
  platform::Close(lock_fd_);
  platform::Close(ref_fd_);
}

bool ProcessMutex::LockFor(absl::Duration timeout) {
  if (TryLock()) return true;
  absl::Time deadline = absl::Now() + timeout;
  // Mark "held with waiters" and sleep until the holder's Unlock wakes us.
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    platform::FutexWait(&state_, 2, left);
  }
  return true;
}

void ProcessMutex::Unlock() {
  if (state_.exchange(0, std::memory_order_release) == 2) {
    platform::FutexWakeAll(&state_);
  }
}

absl::Status WriterLock::ReopenIfInherited() {
  if (!inherited_) return absl::OkStatus();
  absl::StatusOr<int> nfd = platform::Reopen(ref_fd_, "reopen after fork");
  if (!nfd.ok()) return nfd.status();
  lock_fd_ = *nfd;
  inherited_ = false;
  return absl::OkStatus();
}

absl::Status WriterLock::Lock(absl::Duration timeout) {
  const std::thread::id self = std::this_thread::get_id();
  if (owner_.load(std::memory_order_relaxed) == self) {
    return internal::Error(
        absl::StatusCode::kFailedPrecondition, ErrorKind::kReentrant,
        "called from inside a Write or Update callback, which already holds "
        "the writer lock (use the Batch)");
  }
  // Fast path, uncontended: the mutex, then one flock(LOCK_NB). No clock
  // read, no Status until something has to wait or fails. (The slow path
  // reads lock_word before trying the flock again, so a failed try here
  // loses no wake-up.)
  absl::Time deadline = absl::InfiniteFuture();
  if (ABSL_PREDICT_TRUE(mu_.TryLock())) {
    if (ABSL_PREDICT_TRUE(!inherited_) &&
        platform::TryLockFileErrno(lock_fd_) == 0) {
      header_->lock_owner_pid.store(pid_, std::memory_order_relaxed);
      owner_.store(self, std::memory_order_relaxed);
      return absl::OkStatus();
    }
  } else {
    deadline = absl::Now() + timeout;
    if (!mu_.LockFor(timeout)) {
      return internal::Error(
          absl::StatusCode::kDeadlineExceeded, ErrorKind::kLockTimeout,
          absl::StrCat("writer lock not acquired within ",
                       absl::FormatDuration(timeout),
                       " (held by another thread of this process, pid ", pid_,
                       ")"),
          pid_);
    }
  }
  absl::Status s = ReopenIfInherited();
  if (s.ok()) s = LockUntil(deadline, timeout);
  if (!s.ok()) mu_.Unlock();
  return s;
}

absl::Status WriterLock::LockUntil(absl::Time deadline,
                                   absl::Duration timeout) {
  for (;;) {
    uint32_t word = header_->lock_word.load(std::memory_order_acquire);
    absl::StatusOr<bool> got = platform::TryLockFile(lock_fd_, "flock");
    if (!got.ok()) return got.status();
    if (*got) break;
    absl::Time now = absl::Now();
    if (deadline == absl::InfiniteFuture()) deadline = now + timeout;
    absl::Duration left = deadline - now;
    if (left <= absl::ZeroDuration()) {
      int64_t owner = header_->lock_owner_pid.load(std::memory_order_relaxed);
      return internal::Error(
          absl::StatusCode::kDeadlineExceeded, ErrorKind::kLockTimeout,
          absl::StrCat("writer lock not acquired within ",
                       absl::FormatDuration(timeout), " (held by pid ", owner,
                       ")"),
          owner);
    }
    // seq_cst pairs with the releaser's seq_cst bump-then-check: either it
    // sees this waiter, or the futex sees its bump (the word differs).
    header_->lock_waiters.fetch_add(1, std::memory_order_seq_cst);
    platform::FutexWait(&header_->lock_word, word, std::min(left, kMaxSleep));
    header_->lock_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
  header_->lock_owner_pid.store(pid_, std::memory_order_relaxed);
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  return absl::OkStatus();
}

bool WriterLock::TryLock() {
  if (!mu_.TryLock()) return false;
  if (!ReopenIfInherited().ok()) {
    mu_.Unlock();
    return false;
  }
  absl::StatusOr<bool> got = platform::TryLockFile(lock_fd_, "flock");
  if (!got.ok() || !*got) {
    mu_.Unlock();
    return false;
  }
  header_->lock_owner_pid.store(pid_, std::memory_order_relaxed);
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  return true;
}

void WriterLock::WakeWaiters() {
  header_->lock_word.fetch_add(1, std::memory_order_seq_cst);
  if (header_->lock_waiters.load(std::memory_order_seq_cst) != 0) {
    platform::FutexWakeAll(&header_->lock_word);
  }
}

void WriterLock::Unlock() {
  owner_.store(std::thread::id(), std::memory_order_relaxed);
  header_->lock_owner_pid.store(0, std::memory_order_relaxed);
  platform::UnlockFile(lock_fd_);
  WakeWaiters();
  mu_.Unlock();
}

bool WriterLock::HeldByAnyone() {
  absl::StatusOr<int> fd = platform::Reopen(ref_fd_, "probe");
  if (!fd.ok()) return false;
  absl::StatusOr<bool> got = platform::TryLockFile(*fd, "probe");
  bool held = got.ok() && !*got;
  if (got.ok() && *got) {
    platform::UnlockFile(*fd);
    WakeWaiters();  // a writer may have tried while we held it
  }
  platform::Close(*fd);
  return held;
}

}  // namespace lock
}  // namespace zcipc
