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

// For the scope of a lock-free engine read (Get, Contains) made with the
// GIL held: if the read has to wait past its spin phase (an entry a writer
// is changing, or one a stopped writer left half-written, until
// lock_timeout), the GIL is released for that wait and taken back before
// the read returns, so other Python threads run meanwhile. Reads that never
// wait keep the GIL throughout. Use only where the GIL is held and the
// engine calls no Python code inside the read.
//
// `handle` is the Dict's handle the read uses: before releasing the GIL the
// wait takes a reference to it, kept until this scope ends, so a close()
// from another thread meanwhile cannot unmap the segment under the read
// (only the slow path pays for the reference).
class ReleaseGilWhileReadWaits {
 public:
  explicit ReleaseGilWhileReadWaits(
      const std::shared_ptr<zcipc::ZeroCopyDict>* handle)
      : handle_(handle), scope_(&hooks_) {}
  ReleaseGilWhileReadWaits(const ReleaseGilWhileReadWaits&) = delete;
  ReleaseGilWhileReadWaits& operator=(const ReleaseGilWhileReadWaits&) = delete;

 private:
  static void Begin(void* arg) {
    auto* self = static_cast<ReleaseGilWhileReadWaits*>(arg);
    self->keep_alive_ = *self->handle_;  // the GIL is still held here
    self->state_ = PyEval_SaveThread();
  }
  static void End(void* arg) {
    auto* self = static_cast<ReleaseGilWhileReadWaits*>(arg);
    PyEval_RestoreThread(self->state_);
    self->state_ = nullptr;
  }

  const std::shared_ptr<zcipc::ZeroCopyDict>* handle_;
  std::shared_ptr<zcipc::ZeroCopyDict> keep_alive_;  // from Begin on
  PyThreadState* state_ = nullptr;  // while the GIL is released
  zcipc::WaitHooks hooks_{&Begin, &End, this};
  zcipc::ScopedWaitHooks scope_;  // installs hooks_ for this thread
};

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_GIL_H_
