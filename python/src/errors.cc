// Status -> Python exception mapping (see errors.h).

#include "python/src/errors.h"

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "python/src/codec.h"
#include "zcipc/status.h"

namespace zcipc_py {
namespace {

PyObject* g_corrupt_error = nullptr;       // zero_copy_ipc.CorruptDictError
PyObject* g_table_full_error = nullptr;    // zero_copy_ipc.TableFullError
PyObject* g_changes_lost_error = nullptr;  // zero_copy_ipc.ChangesLost

// An OSError subclass with errno and message, like open() raises.
PyObject* SetOSError(PyObject* type, int err, const std::string& message) {
  PyObject* args = Py_BuildValue("(is)", err, message.c_str());
  if (args != nullptr) {
    PyErr_SetObject(type, args);
    Py_DECREF(args);
  }
  return nullptr;
}

// The exception class for a failure: by error kind first (it tells
// failures of one code apart), then by code. Borrowed reference.
PyObject* ExceptionFor(const absl::Status& status) {
  switch (zcipc::GetErrorKind(status)) {
    case zcipc::ErrorKind::kTableFull:
      // Also a RuntimeError: what the original package raised.
      return g_table_full_error;
    case zcipc::ErrorKind::kHeapFull:
      return PyExc_MemoryError;
    case zcipc::ErrorKind::kLockTimeout:
    case zcipc::ErrorKind::kReadTimeout:
      return PyExc_TimeoutError;
    case zcipc::ErrorKind::kNotAFile:      // a directory, symlink, FIFO, ...
    case zcipc::ErrorKind::kNoHeader:      // an empty or short file
    case zcipc::ErrorKind::kCorrupt:       // failed validation
    case zcipc::ErrorKind::kIncompatible:  // another format version
      return g_corrupt_error;
    case zcipc::ErrorKind::kPermission:
      return PyExc_PermissionError;
    case zcipc::ErrorKind::kNotACounter:
      return PyExc_TypeError;
    case zcipc::ErrorKind::kOverflow:
      return PyExc_OverflowError;
    case zcipc::ErrorKind::kBadName:
    case zcipc::ErrorKind::kBadOptions:
    case zcipc::ErrorKind::kKeyTooLong:
      return PyExc_ValueError;
    case zcipc::ErrorKind::kMovedFrom:
      return PyExc_ValueError;  // as a closed handle
    case zcipc::ErrorKind::kReentrant:
      return PyExc_RuntimeError;
    case zcipc::ErrorKind::kChangesLost:  // (changes() adds the numbers)
      return g_changes_lost_error;
    case zcipc::ErrorKind::kUnspecified:
      break;
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return PyExc_FileNotFoundError;
    case absl::StatusCode::kAlreadyExists:
      return PyExc_FileExistsError;
    case absl::StatusCode::kPermissionDenied:
      return PyExc_PermissionError;
    case absl::StatusCode::kInvalidArgument:
      return PyExc_ValueError;
    case absl::StatusCode::kResourceExhausted:
      return PyExc_MemoryError;
    case absl::StatusCode::kDeadlineExceeded:
      return PyExc_TimeoutError;
    case absl::StatusCode::kOutOfRange:
      return PyExc_OverflowError;
    case absl::StatusCode::kDataLoss:
      return g_corrupt_error;
    default:
      return PyExc_RuntimeError;
  }
}

// The errno an OSError subclass carries (0 for other classes).
int ErrnoFor(PyObject* type) {
  if (type == PyExc_FileNotFoundError) return ENOENT;
  if (type == PyExc_FileExistsError) return EEXIST;
  if (type == PyExc_PermissionError) return EACCES;
  return 0;
}

}  // namespace

int AddObjectRef(PyObject* module, const char* name, PyObject* value) {
  Py_INCREF(value);
  if (PyModule_AddObject(module, name, value) < 0) {
    Py_DECREF(value);
    return -1;
  }
  return 0;
}

PyObject* SetKeyError(PyObject* key) {
  PyObject* args = PyTuple_Pack(1, key);
  if (args != nullptr) {
    PyErr_SetObject(PyExc_KeyError, args);
    Py_DECREF(args);
  }
  return nullptr;
}

std::string KeyForMessage(PyObject* key) {
  constexpr Py_ssize_t kMaxRepr = 80;
  constexpr Py_ssize_t kKept = 64;
  std::string out;
  PyObject* r = PyObject_Repr(key);
  if (r == nullptr) {
    PyErr_Clear();
    return "<unprintable>";
  }
  Py_ssize_t length = PyUnicode_GetLength(r);
  PyObject* text = r;
  if (length > kMaxRepr) {
    // Cut on a character boundary (never inside a UTF-8 sequence).
    text = PyUnicode_Substring(r, 0, kKept);
  }
  if (text == nullptr || !AppendStrictUtf8(text, &out)) {
    PyErr_Clear();
    out = "<unprintable>";
  }
  if (length > kMaxRepr) {
    if (PyBytes_Check(key)) {
      absl::StrAppend(&out, "... (", PyBytes_Size(key), " bytes)");
    } else if (PyUnicode_Check(key)) {
      absl::StrAppend(&out, "... (", PyUnicode_GetLength(key), " characters)");
    } else {
      absl::StrAppend(&out, "... (repr of ", length, " characters)");
    }
    Py_XDECREF(text);
  }
  Py_DECREF(r);
  return out;
}

PyObject* RaiseStatus(const absl::Status& status, PyObject* name,
                      PyObject* key) {
  if (key != nullptr && status.code() == absl::StatusCode::kNotFound &&
      zcipc::GetErrorKind(status) == zcipc::ErrorKind::kUnspecified) {
    return SetKeyError(key);
  }
  std::string quoted;  // 'name'
  if (name != nullptr) {
    std::string n;
    if (!AppendStrictUtf8(name, &n)) {
      PyErr_Clear();
      n = "?";
    }
    quoted = absl::StrCat("'", n, "'");
  }
  // Engine messages name the dict ("dict 'NAME': Op: ..."); statuses made
  // by this module's own engine callbacks may not. The text is looked at
  // only so as not to name the dict twice, never to choose the exception.
  std::string message(status.message());
  if (message.empty() || quoted.empty() ||
      message.find(quoted) == std::string::npos) {
    message = absl::StrCat("ZeroCopyDict ", quoted, ": ", message);
  }
  if (key != nullptr)
    absl::StrAppend(&message, " (key ", KeyForMessage(key), ")");
  PyObject* type = ExceptionFor(status);
  int err = ErrnoFor(type);
  if (err != 0) return SetOSError(type, err, message);
  PyErr_SetString(type, message.c_str());
  return nullptr;
}

PyObject* RaiseChangesLost(PyObject* name, unsigned long long since,
                           unsigned long long oldest) {
  PyObject* message;
  if (oldest == 0) {
    message = PyUnicode_FromFormat(
        "ZeroCopyDict '%U': changes(%llu): change %llu is no longer "
        "retained (no change is: each was larger than the change log); "
        "rescan: seq = d.change_seq(), then read d.items(), then continue "
        "with d.changes(seq)",
        name, since, since + 1);
  } else {
    message = PyUnicode_FromFormat(
        "ZeroCopyDict '%U': changes(%llu): change %llu is no longer "
        "retained (the oldest retained change is %llu); rescan: seq = "
        "d.change_seq(), then read d.items(), then continue with "
        "d.changes(seq)",
        name, since, since + 1, oldest);
  }
  if (message == nullptr) return nullptr;
  PyObject* error =
      PyObject_CallFunctionObjArgs(g_changes_lost_error, message, nullptr);
  Py_DECREF(message);
  if (error == nullptr) return nullptr;
  PyObject* since_obj = PyLong_FromUnsignedLongLong(since);
  PyObject* oldest_obj = PyLong_FromUnsignedLongLong(oldest);
  if (since_obj != nullptr && oldest_obj != nullptr &&
      PyObject_SetAttrString(error, "since", since_obj) == 0 &&
      PyObject_SetAttrString(error, "oldest_retained", oldest_obj) == 0) {
    PyErr_SetObject(g_changes_lost_error, error);
  }
  Py_XDECREF(since_obj);
  Py_XDECREF(oldest_obj);
  Py_DECREF(error);
  return nullptr;
}

PyObject* AddDictContext(PyObject* name, const char* op) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (type != PyExc_TypeError && type != PyExc_ValueError &&
      type != PyExc_OverflowError) {
    PyErr_Restore(type, value, tb);
    return nullptr;
  }
  PyErr_NormalizeException(&type, &value, &tb);
  PyObject* message =
      value != nullptr ? PyObject_Str(value) : PyUnicode_FromString("");
  if (message == nullptr) {
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    return nullptr;
  }
  PyErr_Format(type, "ZeroCopyDict '%U': %s: %U", name, op, message);
  Py_DECREF(message);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
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
  if (g_table_full_error == nullptr) return false;
  g_changes_lost_error = PyErr_NewExceptionWithDoc(
      "zero_copy_ipc.ChangesLost",
      "changes(since): change since+1 is no longer in the dict's change log "
      "(the ring wrapped, or the change's key was larger than the log). "
      "Rescan: seq = d.change_seq(), then read d.items(), then continue "
      "with d.changes(seq). Attributes: since, oldest_retained (0: none).",
      PyExc_LookupError, nullptr);
  return g_changes_lost_error != nullptr &&
         AddObjectRef(module, "ChangesLost", g_changes_lost_error) >= 0 &&
         AddObjectRef(module, "TableFullError", g_table_full_error) >= 0 &&
         AddObjectRef(module, "CorruptDictError", g_corrupt_error) >= 0;
}

}  // namespace zcipc_py
