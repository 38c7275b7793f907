// The GIL around engine calls.
//
// The rule every file of the module keeps: no thread ever waits for the
// writer lock while it holds the GIL. Calls that may wait for the writer
// lock, and whole-dict walks, run with the GIL released (WithoutGil).
// Lock-free reads keep the GIL for their fast path and release it only for
// a long wait on a half-written entry (ReleaseGilWhileReadWaits).
// Whole-dict walks (ForEach) run entirely with the GIL released.
//
// Thread safety: each helper acts on the calling thread only.

#ifndef ZCIPC_PYTHON_SRC_GIL_H_
#define ZCIPC_PYTHON_SRC_GIL_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <memory>

#include "zcipc/wait_hooks.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {

// Runs fn() with the GIL released and returns its result.
template <typename Fn>
auto WithoutGil(Fn&& fn) {
  PyThreadState* state = PyEval_SaveThread();
  auto result = fn();
  PyEval_RestoreThread(state);
  return result;
}

class ReleaseGilWhileReadWaits;

// A thread's state for ReleaseGilWhileReadWaits: the engine's wait hooks,
// installed on the thread when this is constructed and left installed until
// it is destroyed, and the read in progress, if any. Construct exactly one
// per thread, as a thread_local (ThreadReadWait(), dict_object.h: the
// module keeps it where its hot reads already reach thread-local storage),
// and use it for every read of the thread.
//
// Thread safety: used only by its own thread.
class ReadWaitState {
 public:
  ReadWaitState() { zcipc::SetThreadWaitHooks(&hooks_); }
  ~ReadWaitState() { zcipc::SetThreadWaitHooks(nullptr); }  // thread exit
  ReadWaitState(const ReadWaitState&) = delete;
  ReadWaitState& operator=(const ReadWaitState&) = delete;

 private:
  friend class ReleaseGilWhileReadWaits;

  // Called by the engine on this thread when a wait starts. Inert unless a
  // read is marked: only then is the GIL known to be held (the other engine
  // calls that can wait run with the GIL released, see WithoutGil).
  static void Begin(void* arg);
  // Called when that wait ends: takes the GIL back if Begin released it.
  static void End(void* arg);

  const zcipc::WaitHooks hooks_{&Begin, &End, this};
  ReleaseGilWhileReadWaits* read_ = nullptr;  // the marked read, if any
  PyThreadState* saved_ = nullptr;  // while a marked read waits without GIL
};

// For the scope of a lock-free engine read (Get, Contains) made with the
// GIL held: if the read has to wait past its spin phase (an entry a writer
// is changing, or one a stopped writer left half-written, until
// lock_timeout), the GIL is released for that wait and taken back before
// the read returns, so other Python threads run meanwhile. Reads that never
// wait keep the GIL throughout. Use only where the GIL is held and the
// engine calls no Python code inside the read (so such scopes never nest).
//
// `handle` is the Dict's handle the read uses: before releasing the GIL the
// wait takes a reference to it, kept until this scope ends, so a close()
// from another thread meanwhile cannot unmap the segment under the read
// (only the slow path pays for the reference).
//
// Cost: the hooks stay installed (ReadWaitState); a scope only marks itself
// as the thread's read in progress and unmarks itself at its end: two
// stores to `state`, the thread's ReadWaitState, which the caller has at
// hand.
//
// The hooks release and take back the GIL of the calling thread's current
// thread state; like the rest of the module (single-phase init, its types
// and exceptions held in globals), this supports the main interpreter only,
// not sub-interpreters.
class ReleaseGilWhileReadWaits {
 public:
  ReleaseGilWhileReadWaits(ReadWaitState* state,
                           const std::shared_ptr<zcipc::ZeroCopyDict>* handle)
      : state_(state), handle_(handle) {
    state->read_ = this;
  }
  // keep_alive_ (set only if the read waited) is dropped after the
  // unmarking, with the GIL held.
  ~ReleaseGilWhileReadWaits() { state_->read_ = nullptr; }
  ReleaseGilWhileReadWaits(const ReleaseGilWhileReadWaits&) = delete;
  ReleaseGilWhileReadWaits& operator=(const ReleaseGilWhileReadWaits&) = delete;

 private:
  friend class ReadWaitState;

  ReadWaitState* state_;
  const std::shared_ptr<zcipc::ZeroCopyDict>* handle_;
  std::shared_ptr<zcipc::ZeroCopyDict> keep_alive_;  // from Begin on
};

inline void ReadWaitState::Begin(void* arg) {
  auto* self = static_cast<ReadWaitState*>(arg);
  ReleaseGilWhileReadWaits* read = self->read_;
  if (read == nullptr || self->saved_ != nullptr) return;
  read->keep_alive_ = *read->handle_;  // the GIL is still held here
  self->saved_ = PyEval_SaveThread();
}

inline void ReadWaitState::End(void* arg) {
  auto* self = static_cast<ReadWaitState*>(arg);
  PyThreadState* saved = self->saved_;
  if (saved == nullptr) return;
  self->saved_ = nullptr;
  PyEval_RestoreThread(saved);
}

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_GIL_H_
