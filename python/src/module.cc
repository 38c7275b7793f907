// zero_copy_ipc._zcipc: the CPython extension module under the Python
// package. It defines the base class of zero_copy_ipc.ZeroCopyDict with the
// hot paths (d[k], d[k] = v, del d[k], k in d, len, get, pop, ...) in C++ so
// a Python call costs one engine call plus the codec (codec.h).
//
// The GIL
//   Lock-free reads (Get, Contains, Size, GetStats) keep the GIL: they never
//   wait for another thread. Every call that may wait for the writer lock
//   (Put, Erase, Update, Write, GetAllocatorStats, Check, Create, Attach)
//   and every whole-dict walk (ForEach) releases it, so other Python threads
//   run meanwhile. No thread ever waits for the writer lock while it holds
//   the GIL; compare_and_swap, which runs a Python comparison with the writer
//   lock held, takes the GIL back inside the engine callback, which is
//   deadlock-free because of that rule.
//
// Lifetime
//   The engine handle is held by a std::shared_ptr: a call that releases the
//   GIL keeps its own reference, so close() from another thread never unmaps
//   a segment a call is still using (the unmap happens when that call ends).
//
// Thread safety
//   A Dict object may be used from any number of threads: the engine handle
//   is thread-safe, and the per-thread scratch buffers below are used only by
//   their own thread.

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "python/src/codec.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {
namespace {

using Handle = std::shared_ptr<zcipc::ZeroCopyDict>;

PyObject* g_corrupt_error = nullptr;     // zero_copy_ipc.CorruptDictError
PyObject* g_table_full_error = nullptr;  // zero_copy_ipc.TableFullError

struct DictObject {
  PyObject_HEAD Handle handle;  // empty once closed
  PyObject* name;               // str
  long owner_pid;  // the creating process; 0 for an attached handle
  PyObject* weakreflist;
};

// Reused encode/decode buffers (they keep their capacity between calls).
struct Scratch {
  std::string key;
  std::string value;
};
thread_local Scratch t_scratch;

enum class Context { kOpen, kKey, kOther };

// KeyError(key), with a tuple key wrapped as dict does (KeyError((1, 2),)).
PyObject* SetKeyError(PyObject* key) {
  PyObject* args = PyTuple_Pack(1, key);
  if (args != nullptr) {
    PyErr_SetObject(PyExc_KeyError, args);
    Py_DECREF(args);
  }
  return nullptr;
}

// An OSError subclass with errno and message, like open() raises.
PyObject* SetOSError(PyObject* type, int err, const std::string& message) {
  PyObject* args = Py_BuildValue("(is)", err, message.c_str());
  if (args != nullptr) {
    PyErr_SetObject(type, args);
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

PyObject* Raise(DictObject* self, const absl::Status& status,
                PyObject* key = nullptr, Context context = Context::kKey) {
  return RaiseStatus(status, self->name, key, context);
}

// The live handle, or nullptr with ValueError set when closed.
zcipc::ZeroCopyDict* Live(DictObject* self) {
  if (!self->handle) {
    PyErr_Format(PyExc_ValueError, "ZeroCopyDict '%U' is closed", self->name);
    return nullptr;
  }
  return self->handle.get();
}

// A reference to the live handle, for a call that releases the GIL (so a
// close() from another thread meanwhile cannot unmap under it); an empty
// Handle with ValueError set when closed.
Handle LiveHandle(DictObject* self) {
  Handle handle = self->handle;
  if (!handle) Live(self);
  return handle;
}

// Encodes a key for a write into `out` (NaN refused).
bool Key(PyObject* key, std::string* out) {
  out->clear();
  return EncodeKey(key, out);
}

// Encodes a key for a lookup or removal (NaN finds nothing).
bool LookupKey(PyObject* key, std::string* out) {
  out->clear();
  return EncodeLookupKey(key, out);
}

// Runs fn() with the GIL released.
template <typename Fn>
auto WithoutGil(Fn&& fn) {
  PyThreadState* state = PyEval_SaveThread();
  auto result = fn();
  PyEval_RestoreThread(state);
  return result;
}

// --- construction ----------------------------------------------------------

bool ParseTimeout(double seconds, absl::Duration* out) {
  if (!(seconds >= 0) || seconds > 1e9) {
    PyErr_SetString(PyExc_ValueError,
                    "lock_timeout must be a number of seconds >= 0");
    return false;
  }
  *out = absl::Seconds(seconds);
  return true;
}

PyObject* NewDict(PyTypeObject* type, PyObject* name, zcipc::ZeroCopyDict dict,
                  bool owner) {
  auto* self = reinterpret_cast<DictObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  new (&self->handle)
      Handle(std::make_shared<zcipc::ZeroCopyDict>(std::move(dict)));
  Py_INCREF(name);
  self->name = name;
  self->owner_pid = owner ? static_cast<long>(getpid()) : 0;
  self->weakreflist = nullptr;
  return reinterpret_cast<PyObject*>(self);
}

const char* NameArg(PyObject* name) {
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "ZeroCopyDict name must be str, not %.100s",
                 Py_TYPE(name)->tp_name);
    return nullptr;
  }
  Py_ssize_t size = 0;
  const char* n = PyUnicode_AsUTF8AndSize(name, &size);
  if (n != nullptr && n[0] == '\0') {
    PyErr_SetString(PyExc_ValueError, "ZeroCopyDict name must not be empty");
    return nullptr;
  }
  if (n != nullptr && std::strlen(n) != static_cast<size_t>(size)) {
    PyErr_Format(PyExc_ValueError,
                 "ZeroCopyDict name %R contains a NUL character", name);
    return nullptr;
  }
  return n;
}

// _create(name, max_items, heap_size, lock_timeout) -> instance of cls
PyObject* DictCreate(PyObject* cls, PyObject* args) {
  PyObject* name;
  unsigned long long max_items, heap_size;
  double timeout;
  if (!PyArg_ParseTuple(args, "UKKd:_create", &name, &max_items, &heap_size,
                        &timeout)) {
    return nullptr;
  }
  const char* n = NameArg(name);
  if (n == nullptr) return nullptr;
  zcipc::Options options;
  options.max_items = max_items;
  options.heap_size = heap_size;
  if (!ParseTimeout(timeout, &options.lock_timeout)) return nullptr;
  std::string name_str(n);
  absl::StatusOr<zcipc::ZeroCopyDict> dict = WithoutGil(
      [&] { return zcipc::ZeroCopyDict::Create(name_str, options); });
  if (!dict.ok()) {
    return RaiseStatus(dict.status(), name, nullptr, Context::kOpen);
  }
  return NewDict(reinterpret_cast<PyTypeObject*>(cls), name, *std::move(dict),
                 /*owner=*/true);
}

// _attach(name, lock_timeout) -> instance of cls
PyObject* DictAttach(PyObject* cls, PyObject* args) {
  PyObject* name;
  double timeout;
  if (!PyArg_ParseTuple(args, "Ud:_attach", &name, &timeout)) return nullptr;
  const char* n = NameArg(name);
  if (n == nullptr) return nullptr;
  zcipc::Options options;
  if (!ParseTimeout(timeout, &options.lock_timeout)) return nullptr;
  std::string name_str(n);
  absl::StatusOr<zcipc::ZeroCopyDict> dict = WithoutGil(
      [&] { return zcipc::ZeroCopyDict::Attach(name_str, options); });
  if (!dict.ok()) {
    return RaiseStatus(dict.status(), name, nullptr, Context::kOpen);
  }
  return NewDict(reinterpret_cast<PyTypeObject*>(cls), name, *std::move(dict),
                 /*owner=*/false);
}

// _unlink(name): removes a dict by name (module function).
PyObject* ModuleUnlink(PyObject*, PyObject* name) {
  const char* n = NameArg(name);
  if (n == nullptr) return nullptr;
  std::string name_str(n);
  absl::Status status =
      WithoutGil([&] { return zcipc::ZeroCopyDict::Unlink(name_str); });
  if (!status.ok()) return RaiseStatus(status, name, nullptr, Context::kOpen);
  Py_RETURN_NONE;
}

void DictDealloc(PyObject* obj) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(obj);
  self->handle.~Handle();  // unmaps (never unlinks)
  Py_XDECREF(self->name);
  Py_TYPE(obj)->tp_free(obj);
}

// _close(): unmaps (the Python layer removes an owner's name first).
PyObject* DictClose(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = std::move(self->handle);
  self->handle.reset();
  if (handle) {
    // The last reference unmaps; a call still running keeps its own.
    WithoutGil([&] {
      handle.reset();
      return 0;
    });
  }
  Py_RETURN_NONE;
}

PyObject* DictRepr(PyObject* obj) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (!self->handle) {
    return PyUnicode_FromFormat("ZeroCopyDict(name=%R, closed)", self->name);
  }
  return PyUnicode_FromFormat(
      "ZeroCopyDict(name=%R, items=%llu)", self->name,
      static_cast<unsigned long long>(self->handle->Size()));
}

// --- the mapping protocol -------------------------------------------------

Py_ssize_t DictLength(PyObject* obj) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  zcipc::ZeroCopyDict* d = Live(self);
  if (d == nullptr) return -1;
  return static_cast<Py_ssize_t>(d->Size());
}

// Looks `key` up. Returns the decoded value, nullptr with KeyError (when
// `missing` is null) or another error set, or a new reference to `missing`.
PyObject* Lookup(DictObject* self, PyObject* key, PyObject* missing) {
  zcipc::ZeroCopyDict* d = Live(self);
  if (d == nullptr) return nullptr;
  Scratch& s = t_scratch;
  if (!LookupKey(key, &s.key)) return nullptr;
  absl::Status status = d->Get(s.key, &s.value);
  if (!status.ok()) {
    if (absl::IsNotFound(status) && missing != nullptr) {
      Py_INCREF(missing);
      return missing;
    }
    return Raise(self, status, key);
  }
  return DecodeValue(s.value);
}

PyObject* DictSubscript(PyObject* obj, PyObject* key) {
  return Lookup(reinterpret_cast<DictObject*>(obj), key, nullptr);
}

int DictAssSubscript(PyObject* obj, PyObject* key, PyObject* value) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (Live(self) == nullptr) return -1;
  Scratch& s = t_scratch;
  // The value first: pickling may run code that uses this dict (and so this
  // thread's scratch key); encoding a key runs no Python code.
  if (value != nullptr && !EncodeValue(value, &s.value)) return -1;
  if (!(value != nullptr ? Key(key, &s.key) : LookupKey(key, &s.key))) {
    return -1;
  }
  Handle handle = LiveHandle(self);
  if (!handle) return -1;
  absl::Status status = WithoutGil([&] {
    return value != nullptr ? handle->Put(s.key, s.value)
                            : handle->Erase(s.key);
  });
  if (!status.ok()) {
    Raise(self, status, key);
    return -1;
  }
  return 0;
}

int DictContains(PyObject* obj, PyObject* key) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  zcipc::ZeroCopyDict* d = Live(self);
  if (d == nullptr) return -1;
  Scratch& s = t_scratch;
  if (!LookupKey(key, &s.key)) return -1;
  absl::StatusOr<bool> found = d->Contains(s.key);
  if (!found.ok()) {
    Raise(self, found.status(), key);
    return -1;
  }
  return *found ? 1 : 0;
}

// get(key, default=None)
PyObject* DictGet(PyObject* obj, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "get expected 1 or 2 arguments, got %zd",
                 nargs);
    return nullptr;
  }
  return Lookup(reinterpret_cast<DictObject*>(obj), args[0],
                nargs == 2 ? args[1] : Py_None);
}

// --- whole-dict walks -----------------------------------------------------

struct Entries {
  std::vector<std::string> keys;
  std::vector<std::string> values;
};

// Copies every entry (keys and/or values) with the GIL released.
bool Collect(DictObject* self, bool want_keys, bool want_values, Entries* out) {
  Handle handle = LiveHandle(self);
  if (!handle) return false;
  absl::Status status = WithoutGil([&] {
    return handle->ForEach([&](absl::string_view k, absl::string_view v) {
      if (want_keys) out->keys.emplace_back(k);
      if (want_values) out->values.emplace_back(v);
    });
  });
  if (!status.ok()) {
    Raise(self, status, nullptr, Context::kOther);
    return false;
  }
  return true;
}

enum class View { kKeys, kValues, kItems };

PyObject* ListOf(PyObject* obj, View view) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Entries entries;
  bool keys = view != View::kValues;
  bool values = view != View::kKeys;
  if (!Collect(self, keys, values, &entries)) return nullptr;
  size_t n = keys ? entries.keys.size() : entries.values.size();
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(n));
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    PyObject* k = keys ? DecodeKey(entries.keys[i]) : nullptr;
    if (keys && k == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyObject* v = values ? DecodeValue(entries.values[i]) : nullptr;
    if (values && v == nullptr) {
      Py_XDECREF(k);
      Py_DECREF(list);
      return nullptr;
    }
    PyObject* item = k;
    if (view == View::kValues) {
      item = v;
    } else if (view == View::kItems) {
      item = PyTuple_Pack(2, k, v);
      Py_DECREF(k);
      Py_DECREF(v);
      if (item == nullptr) {
        Py_DECREF(list);
        return nullptr;
      }
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return list;
}

PyObject* DictKeys(PyObject* obj, PyObject*) {
  return ListOf(obj, View::kKeys);
}
PyObject* DictValues(PyObject* obj, PyObject*) {
  return ListOf(obj, View::kValues);
}
PyObject* DictItems(PyObject* obj, PyObject*) {
  return ListOf(obj, View::kItems);
}

PyObject* DictIter(PyObject* obj) {
  PyObject* keys = ListOf(obj, View::kKeys);
  if (keys == nullptr) return nullptr;
  PyObject* it = PyObject_GetIter(keys);
  Py_DECREF(keys);
  return it;
}

// --- atomic read-modify-write, each under one hold of the writer lock ------

// Removes `key` if its stored bytes are still `seen`, under the writer lock.
enum class Take { kTaken, kChanged, kGone };
absl::Status TakeIfUnchanged(const Handle& handle, absl::string_view key,
                             absl::string_view seen, Take* result) {
  return WithoutGil([&] {
    return handle->Write([&](zcipc::Batch& b) -> absl::Status {
      std::string now;
      absl::Status s = b.Get(key, &now);
      if (absl::IsNotFound(s)) {
        *result = Take::kGone;
        return absl::OkStatus();
      }
      if (!s.ok()) return s;
      if (now != seen) {
        *result = Take::kChanged;
        return absl::OkStatus();
      }
      *result = Take::kTaken;
      return b.Erase(key);
    });
  });
}

// pop(key[, default]). Atomic: of two processes popping one key, one gets
// the value. The value is decoded before the entry is removed, so a value
// that cannot be decoded (unpickled) here raises and stays in the dict.
PyObject* DictPop(PyObject* obj, PyObject* const* args, Py_ssize_t nargs) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "pop expected 1 or 2 arguments, got %zd",
                 nargs);
    return nullptr;
  }
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  std::string key;
  if (!LookupKey(args[0], &key)) return nullptr;
  for (;;) {
    std::string seen;
    absl::Status status = handle->Get(key, &seen);
    Take take = Take::kGone;
    if (status.ok()) {
      PyObject* value = DecodeValue(seen);
      if (value == nullptr) return nullptr;
      status = TakeIfUnchanged(handle, key, seen, &take);
      if (status.ok() && take == Take::kTaken) return value;
      Py_DECREF(value);
      if (take == Take::kChanged) continue;  // rewritten meanwhile: again
    }
    if (!status.ok() && !absl::IsNotFound(status)) {
      return Raise(self, status, args[0]);
    }
    if (nargs == 2) {
      Py_INCREF(args[1]);
      return args[1];
    }
    return SetKeyError(args[0]);
  }
}

// popitem() -> (key, value) of some entry, removed (decoded first, as pop).
PyObject* DictPopItem(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  for (;;) {
    std::string key, seen;
    bool found = false;
    absl::Status status = WithoutGil([&] {
      return handle->ForEach([&](absl::string_view k, absl::string_view v) {
        if (found) return;
        key.assign(k.data(), k.size());
        seen.assign(v.data(), v.size());
        found = true;
      });
    });
    if (!status.ok()) return Raise(self, status, nullptr, Context::kOther);
    if (!found) {
      PyErr_SetString(PyExc_KeyError, "popitem(): ZeroCopyDict is empty");
      return nullptr;
    }
    PyObject* k = DecodeKey(key);
    if (k == nullptr) return nullptr;
    PyObject* v = DecodeValue(seen);
    if (v == nullptr) {
      Py_DECREF(k);
      return nullptr;
    }
    Take take = Take::kGone;
    status = TakeIfUnchanged(handle, key, seen, &take);
    if (status.ok() && take == Take::kTaken) {
      PyObject* pair = PyTuple_Pack(2, k, v);
      Py_DECREF(k);
      Py_DECREF(v);
      return pair;
    }
    Py_DECREF(k);
    Py_DECREF(v);
    if (!status.ok()) return Raise(self, status, nullptr, Context::kOther);
    // Changed or taken by another process meanwhile: pick again.
  }
}

// setdefault(key, default=None)
PyObject* DictSetDefault(PyObject* obj, PyObject* const* args,
                         Py_ssize_t nargs) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError,
                 "setdefault expected 1 or 2 arguments, got %zd", nargs);
    return nullptr;
  }
  PyObject* dflt = nargs == 2 ? args[1] : Py_None;
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  std::string encoded_default;
  if (!EncodeValue(dflt, &encoded_default)) return nullptr;
  std::string key;
  if (!Key(args[0], &key)) return nullptr;
  std::string value;
  bool found = false;
  absl::Status status = WithoutGil([&] {
    return handle->Write([&](zcipc::Batch& b) -> absl::Status {
      absl::Status s = b.Get(key, &value);
      if (s.ok()) {
        found = true;
        return s;
      }
      if (!absl::IsNotFound(s)) return s;
      return b.Put(key, encoded_default);
    });
  });
  if (!status.ok()) return Raise(self, status, args[0]);
  if (found) return DecodeValue(value);
  Py_INCREF(dflt);
  return dflt;
}

// clear(): removes every entry under one hold of the writer lock.
PyObject* DictClear(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  absl::Status status = WithoutGil([&] {
    return handle->Write([&](zcipc::Batch& b) -> absl::Status {
      std::vector<std::string> keys;
      absl::Status s =
          handle->ForEach([&](absl::string_view k, absl::string_view) {
            keys.emplace_back(k);
          });
      if (!s.ok()) return s;
      for (const std::string& k : keys) {
        s = b.Erase(k);
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
      return absl::OkStatus();
    });
  });
  if (!status.ok()) return Raise(self, status, nullptr, Context::kOther);
  Py_RETURN_NONE;
}

// add(key, delta=1) -> the new value. The value must be an int (an absent
// key counts as 0); the sum must fit in 64 bits.
PyObject* DictAdd(PyObject* obj, PyObject* call_args, PyObject* kwargs) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  static const char* kKeywords[] = {"key", "delta", nullptr};
  PyObject* key_arg = nullptr;
  PyObject* delta_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(call_args, kwargs, "O|O:add",
                                   const_cast<char**>(kKeywords), &key_arg,
                                   &delta_arg)) {
    return nullptr;
  }
  PyObject* args[1] = {key_arg};
  long long delta = 1;
  if (delta_arg != nullptr) {
    if (!PyLong_Check(delta_arg) || PyBool_Check(delta_arg)) {
      PyErr_Format(PyExc_TypeError, "add: delta must be int, not %.100s",
                   Py_TYPE(delta_arg)->tp_name);
      return nullptr;
    }
    delta = PyLong_AsLongLong(delta_arg);
    if (delta == -1 && PyErr_Occurred()) return nullptr;
  }
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  Scratch& s = t_scratch;
  if (!Key(args[0], &s.key)) return nullptr;
  int64_t result = 0;
  bool not_int = false;
  absl::Status status = WithoutGil([&] {
    return handle->Update(
        s.key,
        [&](std::optional<absl::string_view> old,
            std::string* out) -> absl::Status {
          int64_t current = 0;
          if (old.has_value() && !DecodeInt64(*old, &current)) {
            not_int = true;
            return absl::FailedPreconditionError("value is not an int");
          }
          if (__builtin_add_overflow(current, static_cast<int64_t>(delta),
                                     &result)) {
            return absl::OutOfRangeError(
                absl::StrCat("add(", delta, ") to ", current,
                             " overflows a 64-bit int; value unchanged"));
          }
          *out = EncodeInt64(result);
          return absl::OkStatus();
        });
  });
  if (not_int) {
    PyErr_Format(PyExc_TypeError,
                 "ZeroCopyDict '%U': add(%R): the value is not an int",
                 self->name, args[0]);
    return nullptr;
  }
  if (!status.ok()) return Raise(self, status, args[0]);
  return PyLong_FromLongLong(result);
}

// compare_and_swap(key, expected, new) -> bool. Stores `new` if
// d.get(key) == expected (so expected=None also matches an absent key).
PyObject* DictCompareAndSwap(PyObject* obj, PyObject* const* args,
                             Py_ssize_t nargs) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (nargs != 3) {
    PyErr_Format(PyExc_TypeError,
                 "compare_and_swap expected 3 arguments, got %zd", nargs);
    return nullptr;
  }
  PyObject* expected = args[1];
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  std::string desired, expected_bytes, key;
  if (!EncodeValue(args[2], &desired) || !Key(args[0], &key)) return nullptr;
  // Only a shortcut: an `expected` that cannot be encoded (pickled) is
  // compared with == alone.
  bool have_expected_bytes = EncodeValue(expected, &expected_bytes);
  if (!have_expected_bytes) PyErr_Clear();
  bool stored = false;
  bool python_error = false;
  PyThreadState* state = PyEval_SaveThread();
  absl::Status status = handle->Update(
      key,
      [&](std::optional<absl::string_view> old,
          std::string* out) -> absl::Status {
        bool match;
        if (!old.has_value()) {
          match = expected == Py_None;
        } else if (have_expected_bytes && *old == expected_bytes) {
          match = true;  // identical encodings (as `is` before == in lists)
        } else {
          // Equal objects can encode differently (1 and 1.0, pickles):
          // compare as Python does. The writer lock is held; taking the GIL
          // here cannot deadlock (see the file comment).
          PyEval_RestoreThread(state);
          PyObject* current = DecodeValue(*old);
          int eq = current == nullptr
                       ? -1
                       : PyObject_RichCompareBool(current, expected, Py_EQ);
          Py_XDECREF(current);
          python_error = eq < 0;
          state = PyEval_SaveThread();
          match = eq == 1;
        }
        if (python_error) return absl::CancelledError("comparison failed");
        if (!match) return absl::AbortedError("no match");
        *out = desired;
        stored = true;
        return absl::OkStatus();
      });
  PyEval_RestoreThread(state);
  if (python_error) return nullptr;
  if (!status.ok() && !absl::IsAborted(status)) {
    return Raise(self, status, args[0]);
  }
  return PyBool_FromLong(stored && status.ok());
}

// --- batches ----------------------------------------------------------------

// One collected write of a Batch.
struct BatchOp {
  enum Kind { kPut, kDelete, kAdd } kind;
  std::string key;
  std::string value;  // kPut: the encoded value
  int64_t delta = 0;  // kAdd
};

// Applies `ops` in order under one hold of the writer lock (GIL released).
// Deletes of missing keys are ignored; adds work as add(). On a failure the
// operations before it stay applied. None, or nullptr with an error set.
PyObject* ApplyOps(DictObject* self, const std::vector<BatchOp>& ops) {
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  size_t failed_at = ops.size();
  bool not_int = false;
  absl::Status status = WithoutGil([&] {
    return handle->Write([&](zcipc::Batch& b) -> absl::Status {
      std::string old;
      for (size_t i = 0; i < ops.size(); ++i) {
        const BatchOp& op = ops[i];
        absl::Status s;
        if (op.kind == BatchOp::kPut) {
          s = b.Put(op.key, op.value);
        } else if (op.kind == BatchOp::kDelete) {
          s = b.Erase(op.key);
          if (absl::IsNotFound(s)) s = absl::OkStatus();
        } else {
          int64_t current = 0, sum = 0;
          s = b.Get(op.key, &old);
          if (s.ok() && !DecodeInt64(old, &current)) {
            not_int = true;
            s = absl::FailedPreconditionError("value is not an int");
          } else if (s.ok() || absl::IsNotFound(s)) {
            s = __builtin_add_overflow(current, op.delta, &sum)
                    ? absl::OutOfRangeError("add overflows a 64-bit int")
                    : b.Put(op.key, EncodeInt64(sum));
          }
        }
        if (!s.ok()) {
          failed_at = i;
          return s;
        }
      }
      return absl::OkStatus();
    });
  });
  if (status.ok()) Py_RETURN_NONE;
  PyObject* key = nullptr;
  if (failed_at < ops.size()) key = DecodeKey(ops[failed_at].key);
  if (key == nullptr) PyErr_Clear();
  if (not_int) {
    PyErr_Format(PyExc_TypeError,
                 "ZeroCopyDict '%U': batch add(%R): the value is not an int",
                 self->name, key ? key : Py_None);
  } else {
    Raise(self, status, key, Context::kOther);
  }
  Py_XDECREF(key);
  return nullptr;
}

PyTypeObject kDictType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// zero_copy_ipc.Batch: see ZeroCopyDict.batch(). Keys and values are encoded
// when added, so a bad key raises at once, and the lock is held only for the
// engine's work.
//
// Thread safety: use a Batch from one thread.
struct BatchObject {
  PyObject_HEAD DictObject* dict;
  std::vector<BatchOp>* ops;
};

PyObject* BatchNew(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject* dict;
  static const char* kKeywords[] = {"dict", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:Batch",
                                   const_cast<char**>(kKeywords), &kDictType,
                                   &dict)) {
    return nullptr;
  }
  auto* self = reinterpret_cast<BatchObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->ops = new (std::nothrow) std::vector<BatchOp>();
  if (self->ops == nullptr) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  Py_INCREF(dict);
  self->dict = reinterpret_cast<DictObject*>(dict);
  return reinterpret_cast<PyObject*>(self);
}

void BatchDealloc(PyObject* obj) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  delete self->ops;
  Py_XDECREF(self->dict);
  Py_TYPE(obj)->tp_free(obj);
}

Py_ssize_t BatchLength(PyObject* obj) {
  return static_cast<Py_ssize_t>(
      reinterpret_cast<BatchObject*>(obj)->ops->size());
}

bool BatchPut(BatchObject* self, PyObject* key, PyObject* value) {
  BatchOp op{BatchOp::kPut, {}, {}, 0};
  // The value first: pickling may run code; encoding a key runs none.
  if (!EncodeValue(value, &op.value) || !Key(key, &op.key)) return false;
  self->ops->push_back(std::move(op));
  return true;
}

int BatchAssSubscript(PyObject* obj, PyObject* key, PyObject* value) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  if (value != nullptr) return BatchPut(self, key, value) ? 0 : -1;
  BatchOp op{BatchOp::kDelete, {}, {}, 0};
  if (!LookupKey(key, &op.key)) return -1;
  self->ops->push_back(std::move(op));
  return 0;
}

// add(key, delta=1): adds delta to an int value when applied.
PyObject* BatchAdd(PyObject* obj, PyObject* args, PyObject* kwargs) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  static const char* kKeywords[] = {"key", "delta", nullptr};
  PyObject* key = nullptr;
  PyObject* delta_arg = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:add",
                                   const_cast<char**>(kKeywords), &key,
                                   &delta_arg)) {
    return nullptr;
  }
  BatchOp op{BatchOp::kAdd, {}, {}, 1};
  if (delta_arg != nullptr) {
    if (!PyLong_Check(delta_arg) || PyBool_Check(delta_arg)) {
      PyErr_Format(PyExc_TypeError, "add: delta must be int, not %.100s",
                   Py_TYPE(delta_arg)->tp_name);
      return nullptr;
    }
    long long delta = PyLong_AsLongLong(delta_arg);
    if (delta == -1 && PyErr_Occurred()) return nullptr;
    op.delta = delta;
  }
  if (!Key(key, &op.key)) return nullptr;
  self->ops->push_back(std::move(op));
  Py_RETURN_NONE;
}

// update(other=(), **kwargs): as dict.update, each pair collected as b[k] = v.
PyObject* BatchUpdate(PyObject* obj, PyObject* args, PyObject* kwargs) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  PyObject* other = nullptr;
  if (!PyArg_UnpackTuple(args, "update", 0, 1, &other)) return nullptr;
  if (other != nullptr) {
    if (PyDict_CheckExact(other)) {
      // Copy the pairs first: encoding may run code that changes `other`.
      PyObject* items = PyDict_Items(other);
      if (items == nullptr) return nullptr;
      for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); ++i) {
        PyObject* pair = PyList_GET_ITEM(items, i);
        if (!BatchPut(self, PyTuple_GET_ITEM(pair, 0),
                      PyTuple_GET_ITEM(pair, 1))) {
          Py_DECREF(items);
          return nullptr;
        }
      }
      Py_DECREF(items);
    } else {
      int has_keys = PyObject_HasAttrString(other, "keys");
      PyObject* it = nullptr;
      PyObject* keys = nullptr;
      if (has_keys) {
        keys = PyObject_CallMethod(other, "keys", nullptr);
        if (keys == nullptr) return nullptr;
        it = PyObject_GetIter(keys);
      } else {
        it = PyObject_GetIter(other);
      }
      Py_XDECREF(keys);
      if (it == nullptr) return nullptr;
      PyObject* item;
      while ((item = PyIter_Next(it)) != nullptr) {
        PyObject *k = nullptr, *v = nullptr;
        bool ok;
        if (has_keys) {
          k = item;
          Py_INCREF(k);
          v = PyObject_GetItem(other, k);
          ok = v != nullptr;
        } else {
          PyObject* seq = PySequence_Fast(
              item, "update: each element must be a (key, value) pair");
          ok = seq != nullptr && PySequence_Fast_GET_SIZE(seq) == 2;
          if (seq != nullptr && !ok) {
            PyErr_Format(PyExc_ValueError,
                         "update: element has length %zd; 2 is required",
                         PySequence_Fast_GET_SIZE(seq));
          }
          if (ok) {
            k = PySequence_Fast_GET_ITEM(seq, 0);
            v = PySequence_Fast_GET_ITEM(seq, 1);
            Py_INCREF(k);
            Py_INCREF(v);
          }
          Py_XDECREF(seq);
        }
        ok = ok && BatchPut(self, k, v);
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_DECREF(item);
        if (!ok) {
          Py_DECREF(it);
          return nullptr;
        }
      }
      Py_DECREF(it);
      if (PyErr_Occurred()) return nullptr;
    }
  }
  if (kwargs != nullptr) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(kwargs, &pos, &k, &v)) {
      if (!BatchPut(self, k, v)) return nullptr;
    }
  }
  Py_RETURN_NONE;
}

// apply(): applies the collected writes now (one lock hold) and clears them.
PyObject* BatchApply(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  std::vector<BatchOp> ops;
  ops.swap(*self->ops);
  if (ops.empty()) Py_RETURN_NONE;
  return ApplyOps(self->dict, ops);
}

PyObject* BatchEnter(PyObject* obj, PyObject*) {
  Py_INCREF(obj);
  return obj;
}

// Applies when the block ends without an exception; else drops the writes.
PyObject* BatchExit(PyObject* obj, PyObject* args) {
  PyObject *type, *value, *tb;
  if (!PyArg_UnpackTuple(args, "__exit__", 3, 3, &type, &value, &tb)) {
    return nullptr;
  }
  if (type != Py_None) {
    reinterpret_cast<BatchObject*>(obj)->ops->clear();
    Py_RETURN_FALSE;
  }
  PyObject* r = BatchApply(obj, nullptr);
  if (r == nullptr) return nullptr;
  Py_DECREF(r);
  Py_RETURN_FALSE;
}

PyMethodDef kBatchMethods[] = {
    {"add", reinterpret_cast<PyCFunction>(BatchAdd),
     METH_VARARGS | METH_KEYWORDS,
     "add(key, delta=1): adds delta to an int value when applied (absent "
     "counts as 0)."},
    {"update", reinterpret_cast<PyCFunction>(BatchUpdate),
     METH_VARARGS | METH_KEYWORDS,
     "update(other=(), **kwargs): b[k] = v for each pair, as dict.update."},
    {"apply", BatchApply, METH_NOARGS,
     "Applies the collected writes now (one lock hold) and clears them."},
    {"__enter__", BatchEnter, METH_NOARGS, nullptr},
    {"__exit__", BatchExit, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyMappingMethods kBatchMapping = {BatchLength, nullptr, BatchAssSubscript};

PyTypeObject kBatchType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// --- stats ----------------------------------------------------------------

int SetItem(PyObject* d, const char* key, PyObject* value) {
  if (value == nullptr) return -1;
  int rc = PyDict_SetItemString(d, key, value);
  Py_DECREF(value);
  return rc;
}

PyObject* DictStats(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  zcipc::ZeroCopyDict* d = Live(self);
  if (d == nullptr) return nullptr;
  zcipc::Stats st = d->GetStats();
  PyObject* r = PyDict_New();
  if (r == nullptr) return nullptr;
  double capacity_used =
      st.max_items ? static_cast<double>(st.size) / st.max_items : 0.0;
  bool owner = self->owner_pid == static_cast<long>(getpid());
  Py_INCREF(self->name);
  if (SetItem(r, "name", self->name) ||
      // The seed's keys: slot_count is the capacity it was created with.
      SetItem(r, "slot_count", PyLong_FromUnsignedLongLong(st.max_items)) ||
      SetItem(r, "max_items", PyLong_FromUnsignedLongLong(st.max_items)) ||
      SetItem(r, "used_slots", PyLong_FromUnsignedLongLong(st.size)) ||
      SetItem(r, "heap_size", PyLong_FromUnsignedLongLong(st.heap_size)) ||
      SetItem(r, "heap_used", PyLong_FromUnsignedLongLong(st.heap_used)) ||
      SetItem(r, "load_factor", PyFloat_FromDouble(capacity_used)) ||
      SetItem(r, "is_owner", PyBool_FromLong(owner)) ||
      // Ours.
      SetItem(r, "items", PyLong_FromUnsignedLongLong(st.size)) ||
      SetItem(r, "index_slots", PyLong_FromUnsignedLongLong(st.slot_count)) ||
      SetItem(r, "index_load_factor", PyFloat_FromDouble(st.load_factor)) ||
      SetItem(r, "tombstones", PyLong_FromUnsignedLongLong(st.tombstones)) ||
      SetItem(r, "heap_free", PyLong_FromUnsignedLongLong(st.heap_free)) ||
      SetItem(r, "segment_size",
              PyLong_FromUnsignedLongLong(st.segment_size)) ||
      SetItem(r, "format_version",
              PyLong_FromUnsignedLong(st.format_version)) ||
      SetItem(r, "writes_total",
              PyLong_FromUnsignedLongLong(st.writes_total)) ||
      SetItem(r, "purges_total",
              PyLong_FromUnsignedLongLong(st.purges_total)) ||
      SetItem(r, "repairs_total",
              PyLong_FromUnsignedLongLong(st.repairs_total)) ||
      SetItem(r, "writer_pid", PyLong_FromLongLong(st.writer_pid)) ||
      SetItem(r, "read_retries",
              PyLong_FromUnsignedLongLong(st.read_retries))) {
    Py_DECREF(r);
    return nullptr;
  }
  return r;
}

PyObject* DictGcStats(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  zcipc::AllocatorStats st =
      WithoutGil([&] { return handle->GetAllocatorStats(); });
  PyObject* classes = PyList_New(0);
  if (classes == nullptr) return nullptr;
  for (const zcipc::SizeClassStats& c : st.size_classes) {
    PyObject* entry = Py_BuildValue(
        "{s:K,s:K,s:K,s:K}", "min_block_size",
        static_cast<unsigned long long>(c.min_block_size), "max_block_size",
        static_cast<unsigned long long>(c.max_block_size), "free_blocks",
        static_cast<unsigned long long>(c.free_blocks), "free_bytes",
        static_cast<unsigned long long>(c.free_bytes));
    if (entry == nullptr || PyList_Append(classes, entry) != 0) {
      Py_XDECREF(entry);
      Py_DECREF(classes);
      return nullptr;
    }
    Py_DECREF(entry);
  }
  PyObject* r = PyDict_New();
  if (r == nullptr) {
    Py_DECREF(classes);
    return nullptr;
  }
  // size_classes first: SetItem consumes `classes` whatever happens next.
  if (SetItem(r, "size_classes", classes) ||
      SetItem(r, "free_blocks", PyLong_FromUnsignedLongLong(st.free_blocks)) ||
      SetItem(r, "free_size", PyLong_FromUnsignedLongLong(st.free_bytes)) ||
      SetItem(r, "total_free_blocks",
              PyLong_FromUnsignedLongLong(st.free_blocks)) ||
      SetItem(r, "total_free_space",
              PyLong_FromUnsignedLongLong(st.free_bytes)) ||
      SetItem(r, "heap_used", PyLong_FromUnsignedLongLong(st.used_bytes)) ||
      SetItem(r, "heap_size", PyLong_FromUnsignedLongLong(st.heap_size)) ||
      SetItem(r, "fragmentation", PyFloat_FromDouble(st.fragmentation)) ||
      SetItem(r, "used_blocks", PyLong_FromUnsignedLongLong(st.used_blocks)) ||
      SetItem(r, "largest_free_block",
              PyLong_FromUnsignedLongLong(st.largest_free_block)) ||
      SetItem(r, "exact", PyBool_FromLong(st.exact))) {
    Py_DECREF(r);
    return nullptr;
  }
  return r;
}

// check(): the engine's full integrity check; raises CorruptDictError.
PyObject* DictCheck(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  absl::Status status = WithoutGil([&] { return handle->Check(); });
  if (!status.ok()) return Raise(self, status, nullptr, Context::kOther);
  Py_RETURN_NONE;
}

PyObject* GetName(PyObject* obj, void*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Py_INCREF(self->name);
  return self->name;
}

PyObject* GetClosed(PyObject* obj, void*) {
  return PyBool_FromLong(!reinterpret_cast<DictObject*>(obj)->handle);
}

PyObject* GetIsOwner(PyObject* obj, void*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  return PyBool_FromLong(self->owner_pid == static_cast<long>(getpid()));
}

// --- module-level codec helpers (for the Python-side batch) --------------

PyObject* ModuleEncodeKey(PyObject*, PyObject* key) {
  std::string out;
  if (!EncodeKey(key, &out)) return nullptr;
  return PyBytes_FromStringAndSize(out.data(),
                                   static_cast<Py_ssize_t>(out.size()));
}

PyObject* ModuleEncodeValue(PyObject*, PyObject* value) {
  std::string out;
  if (!EncodeValue(value, &out)) return nullptr;
  return PyBytes_FromStringAndSize(out.data(),
                                   static_cast<Py_ssize_t>(out.size()));
}

PyObject* BytesArg(PyObject* arg, absl::string_view* out) {
  if (!PyBytes_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "expected bytes");
    return nullptr;
  }
  *out = absl::string_view(PyBytes_AS_STRING(arg),
                           static_cast<size_t>(PyBytes_GET_SIZE(arg)));
  return arg;
}

PyObject* ModuleDecodeKey(PyObject*, PyObject* arg) {
  absl::string_view data;
  if (BytesArg(arg, &data) == nullptr) return nullptr;
  return DecodeKey(data);
}

PyObject* ModuleDecodeValue(PyObject*, PyObject* arg) {
  absl::string_view data;
  if (BytesArg(arg, &data) == nullptr) return nullptr;
  return DecodeValue(data);
}

// --- type and module -------------------------------------------------------

PyMethodDef kDictMethods[] = {
    {"_create", reinterpret_cast<PyCFunction>(DictCreate),
     METH_VARARGS | METH_CLASS,
     "_create(name, max_items, heap_size, lock_timeout): a new dict."},
    {"_attach", reinterpret_cast<PyCFunction>(DictAttach),
     METH_VARARGS | METH_CLASS, "_attach(name, lock_timeout): attach."},
    {"_close", DictClose, METH_NOARGS, "Unmaps (never removes the name)."},
    {"get", reinterpret_cast<PyCFunction>(DictGet), METH_FASTCALL,
     "get(key, default=None): the value, or default if absent (lock-free)."},
    {"pop", reinterpret_cast<PyCFunction>(DictPop), METH_FASTCALL,
     "pop(key[, default]): removes and returns the value, atomically."},
    {"popitem", DictPopItem, METH_NOARGS,
     "popitem(): removes and returns some (key, value); KeyError if empty."},
    {"setdefault", reinterpret_cast<PyCFunction>(DictSetDefault), METH_FASTCALL,
     "setdefault(key, default=None): the value, inserting default if absent "
     "(atomically)."},
    {"clear", DictClear, METH_NOARGS,
     "clear(): removes every entry under one hold of the writer lock."},
    {"keys", DictKeys, METH_NOARGS, "keys(): a list of the keys."},
    {"values", DictValues, METH_NOARGS, "values(): a list of the values."},
    {"items", DictItems, METH_NOARGS, "items(): a list of (key, value)."},
    {"add", reinterpret_cast<PyCFunction>(DictAdd),
     METH_VARARGS | METH_KEYWORDS,
     "add(key, delta=1): atomic counter; returns the new value."},
    {"compare_and_swap", reinterpret_cast<PyCFunction>(DictCompareAndSwap),
     METH_FASTCALL,
     "compare_and_swap(key, expected, new): stores new if d.get(key) == "
     "expected; True if it stored."},
    {"stats", DictStats, METH_NOARGS, "stats(): counters (lock-free)."},
    {"gc_stats", DictGcStats, METH_NOARGS,
     "gc_stats(): the allocator's free lists (takes the writer lock)."},
    {"check", DictCheck, METH_NOARGS,
     "check(): full integrity check; raises CorruptDictError."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef kDictGetSet[] = {
    {"name", GetName, nullptr, "The dict's name.", nullptr},
    {"closed", GetClosed, nullptr, "True after close().", nullptr},
    {"is_owner", GetIsOwner, nullptr,
     "True for the creating handle in the creating process.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMappingMethods kDictMapping = {DictLength, DictSubscript, DictAssSubscript};

PySequenceMethods kDictSequence = {};

PyMethodDef kModuleMethods[] = {
    {"encode_key", ModuleEncodeKey, METH_O,
     "The canonical bytes of a key (as stored)."},
    {"encode_value", ModuleEncodeValue, METH_O,
     "The bytes of a value (as stored)."},
    {"decode_key", ModuleDecodeKey, METH_O, "Inverse of encode_key."},
    {"decode_value", ModuleDecodeValue, METH_O, "Inverse of encode_value."},
    {"unlink", ModuleUnlink, METH_O, "unlink(name): removes a dict's name."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT,
    "_zcipc",
    "The C++ engine under zero_copy_ipc (see zero_copy_ipc.ZeroCopyDict).",
    -1,
    kModuleMethods,
};

}  // namespace
}  // namespace zcipc_py

PyMODINIT_FUNC PyInit__zcipc(void) {
  using namespace zcipc_py;
  if (!InitCodec()) return nullptr;
  kDictSequence.sq_contains = DictContains;
  kDictType.tp_name = "zero_copy_ipc._zcipc.Dict";
  kDictType.tp_basicsize = sizeof(DictObject);
  kDictType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
  kDictType.tp_doc = "The engine handle under zero_copy_ipc.ZeroCopyDict.";
  kDictType.tp_dealloc = DictDealloc;
  kDictType.tp_repr = DictRepr;
  kDictType.tp_as_mapping = &kDictMapping;
  kDictType.tp_as_sequence = &kDictSequence;
  kDictType.tp_iter = DictIter;
  kDictType.tp_methods = kDictMethods;
  kDictType.tp_getset = kDictGetSet;
  kDictType.tp_weaklistoffset = offsetof(DictObject, weakreflist);
  kDictType.tp_hash = PyObject_HashNotImplemented;
  if (PyType_Ready(&kDictType) < 0) return nullptr;
  kBatchType.tp_name = "zero_copy_ipc.Batch";
  kBatchType.tp_basicsize = sizeof(BatchObject);
  kBatchType.tp_flags = Py_TPFLAGS_DEFAULT;
  kBatchType.tp_doc =
      "Batch(dict): writes collected for one hold of the writer lock; see "
      "ZeroCopyDict.batch().";
  kBatchType.tp_new = BatchNew;
  kBatchType.tp_dealloc = BatchDealloc;
  kBatchType.tp_as_mapping = &kBatchMapping;
  kBatchType.tp_methods = kBatchMethods;
  kBatchType.tp_hash = PyObject_HashNotImplemented;
  if (PyType_Ready(&kBatchType) < 0) return nullptr;

  PyObject* m = PyModule_Create(&kModule);
  if (m == nullptr) return nullptr;
  g_corrupt_error = PyErr_NewExceptionWithDoc(
      "zero_copy_ipc.CorruptDictError",
      "The shared memory is not a valid dict (bad magic, truncated, another "
      "format version) or failed an integrity check.",
      PyExc_ValueError, nullptr);
  PyObject* bases =
      Py_BuildValue("(OO)", PyExc_MemoryError, PyExc_RuntimeError);
  if (bases == nullptr) {
    Py_DECREF(m);
    return nullptr;
  }
  g_table_full_error = PyErr_NewExceptionWithDoc(
      "zero_copy_ipc.TableFullError",
      "max_items entries are stored already (a MemoryError, and a "
      "RuntimeError as the original package raised).",
      bases, nullptr);
  Py_DECREF(bases);
  if (g_corrupt_error == nullptr || g_table_full_error == nullptr ||
      PyModule_AddObjectRef(m, "TableFullError", g_table_full_error) < 0 ||
      PyModule_AddObjectRef(m, "CorruptDictError", g_corrupt_error) < 0 ||
      PyModule_AddObjectRef(m, "Dict",
                            reinterpret_cast<PyObject*>(&kDictType)) < 0 ||
      PyModule_AddObjectRef(m, "Batch",
                            reinterpret_cast<PyObject*>(&kBatchType)) < 0 ||
      PyModule_AddIntConstant(m, "MAX_KEY_SIZE",
                              static_cast<long>(zcipc::kMaxKeySize)) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
