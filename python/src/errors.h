// The package's exceptions and the mapping from an engine failure (an
// absl::Status) to the Python exception docs/PYTHON.md's table names. The
// exception is chosen from the status's error kind (zcipc::GetErrorKind,
// include/zcipc/status.h) and code, never from its message.
//
// Thread safety: call with the GIL held.

#ifndef ZCIPC_PYTHON_SRC_ERRORS_H_
#define ZCIPC_PYTHON_SRC_ERRORS_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include "absl/status/status.h"

namespace zcipc_py {

// Creates zero_copy_ipc.CorruptDictError, TableFullError and ChangesLost and
// adds them to `module`. False with a Python error set.
bool InitErrors(PyObject* module);

// PyModule_AddObjectRef (3.10+) for the limited API of 3.9: adds `value`
// to `module` as `name` without stealing the caller's reference. 0, or -1
// with an error set.
int AddObjectRef(PyObject* module, const char* name, PyObject* value);

// KeyError(key), with a tuple key wrapped as dict does (KeyError((1, 2),)).
// Always returns nullptr.
PyObject* SetKeyError(PyObject* key);

// Raises the Python exception that fits `status` for the dict called `name`
// (a str; may be null). `key` (may be null) is the Python key the failure
// refers to: a NotFound about it is KeyError(key); other messages name it
// (cut, see KeyForMessage). Always returns nullptr.
PyObject* RaiseStatus(const absl::Status& status, PyObject* name,
                      PyObject* key);

// repr(key) (or of any object) for a message, cut as the CLI cuts long
// keys: a repr over 80 characters becomes its first 64 and
// "... (N characters)" ("N bytes" for bytes), so a 70,000-character key never
// fills a message. Never fails (an object whose repr raises is
// "<unprintable>", the error cleared).
std::string KeyForMessage(PyObject* key);

// Raises zero_copy_ipc.ChangesLost for changes(since) on the dict called
// `name` (a str) when change since+1 is no longer retained and `oldest` is
// the oldest change that is (0: none). The exception's `since` and
// `oldest_retained` attributes hold the two numbers. Always returns
// nullptr.
PyObject* RaiseChangesLost(PyObject* name, unsigned long long since,
                           unsigned long long oldest);

// Puts "ZeroCopyDict 'NAME': OP: " before the message of the pending
// exception when it is exactly a TypeError, ValueError or OverflowError
// (the errors of encoding a key or parsing an argument, which do not know
// the dict); other exceptions pass unchanged. Always returns nullptr.
PyObject* AddDictContext(PyObject* name, const char* op);

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_ERRORS_H_
