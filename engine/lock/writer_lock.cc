#include "engine/lock/writer_lock.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

constexpr uint32_t kSlotMask = (1u << layout::kTokenSlotBits) - 1;
constexpr uint64_t kGenerationMask =
    (uint64_t{1} << layout::kTokenGenerationBits) - 1;

uint64_t ByteOf(uint32_t registration) {
  return layout::kRegistryOffset +
         uint64_t{registration} * sizeof(layout::Registration);
}

}  // namespace

void WriterLock::PrepareFork() { GetRegistry().mu.lock(); }

void WriterLock::ParentAfterFork() { GetRegistry().mu.unlock(); }

void WriterLock::ChildAfterFork() {
  // The child has one thread. Another thread of the parent may have held a
  // handle's registration mutex at the fork; that thread does not exist
  // here, so the mutex is re-created unlocked. The registration's
  // description is the
  // parent's: drop our reference at once, so that the parent's death
  // releases its byte lock even while the child lives; the child registers
  // anew before its first write.
  Registry& r = GetRegistry();
  for (WriterLock* l : r.locks) {
    l->reg_mu_.ResetAfterFork();
    l->owner_.store(std::thread::id(), std::memory_order_relaxed);
    l->pid_ = platform::ProcessId();
    platform::Close(l->reg_fd_);
    l->reg_fd_ = -1;
    l->token_.store(0, std::memory_order_relaxed);
  }
  r.mu.unlock();
}

WriterLock::WriterLock(int ref_fd, layout::Header* header,
                       layout::Registration* registry)
    : ref_fd_(ref_fd),
      pid_(platform::ProcessId()),
      header_(header),
      registry_(registry) {
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
  platform::Close(reg_fd_);  // releases the registration's byte lock
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

absl::Status WriterLock::Register() {
  if (!reg_mu_.LockFor(absl::InfiniteDuration())) {
    return absl::InternalError("registration mutex");
  }
  struct Unlocker {
    ProcessMutex* mu;
    ~Unlocker() { mu->Unlock(); }
  } unlocker{&reg_mu_};
  if (token_.load(std::memory_order_relaxed) != 0) return absl::OkStatus();
  absl::StatusOr<int> fd =
      platform::Reopen(ref_fd_, "open the writer registration descriptor");
  if (!fd.ok()) return fd.status();
  // Start where this process's handles are unlikely to collide with others.
  const uint32_t start =
      static_cast<uint32_t>((static_cast<uint64_t>(pid_) * 2654435761u +
                             reinterpret_cast<uintptr_t>(this) / 64) %
                            layout::kMaxWriters);
  for (uint32_t k = 0; k < layout::kMaxWriters; ++k) {
    const uint32_t i = (start + k) % layout::kMaxWriters;
    absl::StatusOr<bool> got =
        platform::TryLockByte(*fd, ByteOf(i), "claim a writer registration");
    if (!got.ok()) {
      platform::Close(*fd);
      return got.status();
    }
    if (!*got) continue;
    // Registration i is ours: nobody else can hold its byte, so nobody else
    // writes its generation. A new generation tells waiters that a token of
    // the previous registrant of i names a dead owner.
    internal::CrashPoint("lock.registering");
    layout::Registration& reg = registry_[i];
    uint64_t gen = reg.generation.load(std::memory_order_relaxed) + 1;
    reg.pid.store(pid_, std::memory_order_relaxed);
    reg.generation.store(gen, std::memory_order_release);
    reg_fd_ = *fd;
    token_.store(static_cast<uint32_t>((gen & kGenerationMask)
                                       << layout::kTokenSlotBits) |
                     (i + 1),
                 std::memory_order_release);
    internal::CrashPoint("lock.registered");
    return absl::OkStatus();
  }
  platform::Close(*fd);
  return internal::Error(
      absl::StatusCode::kResourceExhausted, ErrorKind::kUnspecified,
      absl::StrCat("more than ", layout::kMaxWriters,
                   " open handles write to this dict at once"));
}

bool WriterLock::OwnerDead(uint32_t token) const {
  const uint32_t slot = token & kSlotMask;
  if (slot == 0 || slot > layout::kMaxWriters) return true;  // corrupt word
  const uint32_t i = slot - 1;
  const uint64_t gen = token >> layout::kTokenSlotBits;
  if ((registry_[i].generation.load(std::memory_order_acquire) &
       kGenerationMask) != gen) {
    return true;  // registration i was claimed again: its owner was gone
  }
  // ref_fd_'s description holds no byte lock, so any holder is reported.
  absl::StatusOr<bool> held =
      platform::ByteLockedByOther(ref_fd_, ByteOf(i), "probe");
  return held.ok() && !*held;
}

int64_t WriterLock::RegisteredPid(uint32_t token) const {
  const uint32_t slot = token & kSlotMask;
  if (slot == 0 || slot > layout::kMaxWriters) return 0;
  return registry_[slot - 1].pid.load(std::memory_order_relaxed);
}

bool WriterLock::HeldByAnyone(int64_t* pid) const {
  const uint32_t owner = OwnerToken();
  const bool held = owner != 0 && !OwnerDead(owner);
  *pid = held ? RegisteredPid(owner) : 0;
  return held;
}

bool WriterLock::Abandoned(int64_t* pid) const {
  const uint32_t owner = OwnerToken();
  const bool dead = owner != 0 && OwnerDead(owner);
  *pid = dead ? RegisteredPid(owner) : 0;
  return dead;
}

void WriterLock::WakeWaiters() { platform::FutexWakeOne(&header_->lock_word); }

absl::Status WriterLock::LockSlow(absl::Duration timeout) {
  if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    return internal::Error(
        absl::StatusCode::kFailedPrecondition, ErrorKind::kReentrant,
        "called from inside a Write or Update callback, which already "
        "holds the writer lock (use the Batch)");
  }
  absl::Time deadline = absl::InfiniteFuture();
  if (token_.load(std::memory_order_acquire) == 0) {
    absl::Status s = Register();
    if (!s.ok()) return s;
  }
  const uint32_t token = token_.load(std::memory_order_acquire);
  std::atomic<uint32_t>& word = header_->lock_word;
  for (int i = 0; i < kSpins; ++i) {
    uint32_t w = word.load(std::memory_order_relaxed);
    if (w == 0 &&
        word.compare_exchange_weak(w, token, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      Acquired();
      return absl::OkStatus();
    }
    platform::CpuRelax();
  }
  uint32_t watched = 0;  // the owner token we have been waiting on
  absl::Time watched_since;
  for (;;) {
    uint32_t w = word.load(std::memory_order_relaxed);
    if (w == 0) {
      // Others may be asleep as we were: keep the contended bit, so that
      // our release wakes the next one.
      if (word.compare_exchange_weak(w, token | layout::kLockContended,
                                     std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        Acquired();
        return absl::OkStatus();
      }
      continue;
    }
    const uint32_t owner = w & ~layout::kLockContended;
    const absl::Time now = absl::Now();
    if (deadline == absl::InfiniteFuture()) deadline = now + timeout;
    if (owner != watched) {
      watched = owner;
      watched_since = now;
    } else if (now - watched_since >= kCheckPeriod && OwnerDead(owner)) {
      // The kernel says the owner is gone: take the word over from its
      // token (a CAS, so that of several waiters exactly one does). The
      // caller repairs what the intent record says it left.
      if (word.compare_exchange_strong(w, token | layout::kLockContended,
                                       std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        internal::CrashPoint("lock.took_over");
        Acquired();
        return absl::OkStatus();
      }
      continue;
    }
    if (now >= deadline) {
      const int64_t pid = RegisteredPid(owner);
      return internal::Error(
          absl::StatusCode::kDeadlineExceeded, ErrorKind::kLockTimeout,
          absl::StrCat("writer lock not acquired within ",
                       absl::FormatDuration(timeout), " (held by pid ", pid,
                       owner == token ? ", another thread of this process" : "",
                       ")"),
          pid);
    }
    if ((w & layout::kLockContended) == 0) {
      if (!word.compare_exchange_weak(w, w | layout::kLockContended,
                                      std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        continue;
      }
      w |= layout::kLockContended;
    }
    platform::FutexWait(&word, w, std::min(deadline - now, kCheckPeriod));
  }
}

bool WriterLock::TryLock() {
  if (token_.load(std::memory_order_acquire) == 0 && !Register().ok()) {
    return false;
  }
  const uint32_t token = token_.load(std::memory_order_acquire);
  std::atomic<uint32_t>& word = header_->lock_word;
  uint32_t w = word.load(std::memory_order_relaxed);
  if (w == 0) {
    if (word.compare_exchange_strong(w, token, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      Acquired();
      return true;
    }
  } else if ((w & ~layout::kLockContended) != token &&
             OwnerDead(w & ~layout::kLockContended)) {
    if (word.compare_exchange_strong(w, token | (w & layout::kLockContended),
                                     std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      internal::CrashPoint("lock.took_over");
      Acquired();
      return true;
    }
  }
  return false;
}

}  // namespace lock
}  // namespace zcipc
