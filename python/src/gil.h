// The GIL around engine calls.
//
// The rule every file of the module keeps: no thread ever waits for the
// writer lock while it holds the GIL. Calls that may wait for the writer
// lock, and whole-dict walks, run with the GIL released (WithoutGil).
// Lock-free reads keep the GIL for their fast path and release it only for
// a long wait on a half-written entry (ReleaseGilWhileReadWaits).
//
// Thread safety: each helper acts on the calling thread only.

#ifndef ZCIPC_PYTHON_SRC_GIL_H_
#define ZCIPC_PYTHON_SRC_GIL_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace zcipc_py {

// Runs fn() with the GIL released and returns its result.
template <typename Fn>
auto WithoutGil(Fn&& fn) {
  PyThreadState* state = PyEval_SaveThread();
  auto result = fn();
  PyEval_RestoreThread(state);
  return result;
}

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_GIL_H_
