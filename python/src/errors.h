// The package's exceptions and the mapping from an engine failure (an
// absl::Status) to the Python exception docs/PYTHON.md's table names.
//
// Thread safety: call with the GIL held.

#ifndef ZCIPC_PYTHON_SRC_ERRORS_H_
#define ZCIPC_PYTHON_SRC_ERRORS_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include "absl/status/status.h"

namespace zcipc_py {

// Creates zero_copy_ipc.CorruptDictError and TableFullError and adds them to
// `module`. False with a Python error set.
bool InitErrors(PyObject* module);

// Where a failure happened (what a FailedPrecondition means depends on it).
enum class Context { kOpen, kKey, kOther };

// KeyError(key), with a tuple key wrapped as dict does (KeyError((1, 2),)).
// Always returns nullptr.
PyObject* SetKeyError(PyObject* key);

// Raises the Python exception that fits `status` for the dict called `name`
// (a str; may be null). `key` (may be null) is the Python key the failure
// refers to. Always returns nullptr.
PyObject* RaiseStatus(const absl::Status& status, PyObject* name, PyObject* key,
                      Context context);

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_ERRORS_H_
