// Hooks around the waits of lock-free reads, for language bindings.
//
// A lock-free read (Get, Read, Contains, ForEach) that finds an entry a
// writer is changing spins briefly; if the writer is still not done, the read
// starts a longer wait (yielding the CPU, repairing a dead writer, giving up
// after Options::lock_timeout). A binding whose runtime has a global lock
// (CPython's GIL) installs hooks on the calling thread so that the lock is
// released for that longer wait only: `begin` runs when the spin phase is
// over, `end` once the wait is over (whatever its outcome), before the read
// returns or calls any user callback. Reads that never wait pay one
// thread-local load.
//
// Thread safety: the hooks are per thread; SetThreadWaitHooks affects only
// the calling thread.

#ifndef ZCIPC_WAIT_HOOKS_H_
#define ZCIPC_WAIT_HOOKS_H_

namespace zcipc {

struct WaitHooks {
  void (*begin)(void* arg) = nullptr;
  void (*end)(void* arg) = nullptr;
  void* arg = nullptr;
};

// Installs `hooks` for the calling thread (nullptr removes them) and returns
// the previous ones. The WaitHooks object must outlive its installation.
const WaitHooks* SetThreadWaitHooks(const WaitHooks* hooks);

// Installs hooks for a scope and restores the previous ones at its end.
class ScopedWaitHooks {
 public:
  explicit ScopedWaitHooks(const WaitHooks* hooks)
      : previous_(SetThreadWaitHooks(hooks)) {}
  ~ScopedWaitHooks() { SetThreadWaitHooks(previous_); }
  ScopedWaitHooks(const ScopedWaitHooks&) = delete;
  ScopedWaitHooks& operator=(const ScopedWaitHooks&) = delete;

 private:
  const WaitHooks* previous_;
};

}  // namespace zcipc

#endif  // ZCIPC_WAIT_HOOKS_H_
