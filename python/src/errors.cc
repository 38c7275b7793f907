// Status -> Python exception mapping (see errors.h).

#include "python/src/errors.h"

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace zcipc_py {
namespace {

PyObject* g_corrupt_error = nullptr;     // zero_copy_ipc.CorruptDictError
PyObject* g_table_full_error = nullptr;  // zero_copy_ipc.TableFullError

// An OSError subclass with errno and message, like open() raises.
PyObject* SetOSError(PyObject* type, int err, const std::string& message) {
  PyObject* args = Py_BuildValue("(is)", err, message.c_str());
  if (args != nullptr) {
    PyErr_SetObject(type, args);
    Py_DECREF(args);
  }
  return nullptr;
}

}  // namespace

// KeyError(key), with a tuple key wrapped as dict does (KeyError((1, 2),)).
PyObject* SetKeyError(PyObject* key) {
  PyObject* args = PyTuple_Pack(1, key);
  if (args != nullptr) {
    PyErr_SetObject(PyExc_KeyError, args);
    Py_DECREF(args);
  }
  return nullptr;
}

// Raises the Python exception that fits `status`. `key` (may be null) is
// the Python key a NotFound refers to.
PyObject* RaiseStatus(const absl::Status& status, PyObject* name, PyObject* key,
                      Context context) {
  std::string quoted;  // 'name'
  if (name != nullptr) {
    const char* n = PyUnicode_AsUTF8(name);
    if (n == nullptr) PyErr_Clear();
    quoted = absl::StrCat("'", n ? n : "?", "'");
  }
  // Engine messages usually name the dict already; otherwise say which.
  std::string message(status.message());
  if (message.empty() || quoted.empty() ||
      message.find(quoted) == std::string::npos) {
    message = absl::StrCat("ZeroCopyDict ", quoted, ": ", message);
  }
  if (key != nullptr && status.code() != absl::StatusCode::kNotFound) {
    PyObject* r = PyObject_Repr(key);
    const char* text = r != nullptr ? PyUnicode_AsUTF8(r) : nullptr;
    if (text != nullptr) {
      absl::StrAppend(&message, " (key ", text, ")");
    } else {
      PyErr_Clear();
    }
    Py_XDECREF(r);
  }
  PyObject* type = PyExc_RuntimeError;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      if (key != nullptr) return SetKeyError(key);
      return SetOSError(PyExc_FileNotFoundError, ENOENT, message);
    case absl::StatusCode::kAlreadyExists:
      return SetOSError(PyExc_FileExistsError, EEXIST, message);
    case absl::StatusCode::kPermissionDenied:
      return SetOSError(PyExc_PermissionError, EACCES, message);
    case absl::StatusCode::kInvalidArgument:
      type = PyExc_ValueError;
      break;
    case absl::StatusCode::kResourceExhausted:
      // A full table is also a RuntimeError: what the original raised.
      type = message.find("table full") != std::string::npos
                 ? g_table_full_error
                 : PyExc_MemoryError;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      type = PyExc_TimeoutError;
      break;
    case absl::StatusCode::kOutOfRange:
      type = PyExc_OverflowError;
      break;
    case absl::StatusCode::kDataLoss:
      type = g_corrupt_error;
      break;
    case absl::StatusCode::kFailedPrecondition:
      // On open: another format version or layout, "not a dict" to us.
      type = context == Context::kOpen ? g_corrupt_error : PyExc_RuntimeError;
      break;
    default:
      type = PyExc_RuntimeError;
      break;
  }
  PyErr_SetString(type, message.c_str());
  return nullptr;
}

bool InitErrors(PyObject* module) {
  g_corrupt_error = PyErr_NewExceptionWithDoc(
      "zero_copy_ipc.CorruptDictError",
      "The shared memory is not a valid dict (bad magic, truncated, another "
      "format version) or failed an integrity check.",
      PyExc_ValueError, nullptr);
  if (g_corrupt_error == nullptr) return false;
  PyObject* bases =
      Py_BuildValue("(OO)", PyExc_MemoryError, PyExc_RuntimeError);
  if (bases == nullptr) return false;
  g_table_full_error = PyErr_NewExceptionWithDoc(
      "zero_copy_ipc.TableFullError",
      "max_items entries are stored already (a MemoryError, and a "
      "RuntimeError as the original package raised).",
      bases, nullptr);
  Py_DECREF(bases);
  return g_table_full_error != nullptr &&
         PyModule_AddObjectRef(module, "TableFullError", g_table_full_error) >=
             0 &&
         PyModule_AddObjectRef(module, "CorruptDictError", g_corrupt_error) >=
             0;
}

}  // namespace zcipc_py
