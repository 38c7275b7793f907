// The atomic read-modify-write methods of zero_copy_ipc._zcipc.Dict: pop,
// popitem, setdefault, clear, add and compare_and_swap, each under one hold
// of the writer lock (so two processes popping one key never both get it).
//
// The GIL: each releases it while it may wait for the writer lock (gil.h).
// compare_and_swap runs a Python comparison with the writer lock held: it
// takes the GIL back inside the engine callback, which is deadlock-free
// because no thread waits for the writer lock while holding the GIL.
//
// Thread safety: see dict_object.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "python/src/codec.h"
#include "python/src/dict_object.h"
#include "python/src/errors.h"
#include "python/src/gil.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {
namespace {

thread_local Scratch t_scratch;

// Removes `key` if its stored bytes and type are still `seen` and
// `seen_type`, under the writer lock.
enum class Take { kTaken, kChanged, kGone };
absl::Status TakeIfUnchanged(const Handle& handle, absl::string_view key,
                             absl::string_view seen, zcipc::ValueType seen_type,
                             Take* result) {
  return WithoutGil([&] {
    return handle->Write([&](zcipc::Batch& b) -> absl::Status {
      std::string now;
      zcipc::ValueType now_type = zcipc::ValueType::kBytes;
      absl::Status s = b.Get(key, &now, &now_type);
      if (absl::IsNotFound(s)) {
        *result = Take::kGone;
        return absl::OkStatus();
      }
      if (!s.ok()) return s;
      if (now != seen || now_type != seen_type) {
        *result = Take::kChanged;
        return absl::OkStatus();
      }
      *result = Take::kTaken;
      return b.Erase(key);
    });
  });
}

// pop(key[, default]). Atomic: of two processes popping one key, one gets

}  // namespace

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
  if (!LookupKey(self->name, "pop", args[0], &key)) return nullptr;
  for (;;) {
    std::string seen;
    zcipc::ValueType type = zcipc::ValueType::kBytes;
    absl::Status status;
    {
      ReleaseGilWhileReadWaits gil(ThreadReadWait(), &handle);
      status = handle->Get(key, &seen, &type);
    }
    Take take = Take::kGone;
    if (status.ok()) {
      PyObject* value = DecodeValue(seen, type);
      if (value == nullptr) return nullptr;
      status = TakeIfUnchanged(handle, key, seen, type, &take);
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
    zcipc::ValueType type = zcipc::ValueType::kBytes;
    bool found = false;
    absl::Status status = WithoutGil([&] {
      return handle->ForEachTyped(
          [&](absl::string_view k, absl::string_view v, zcipc::ValueType t) {
            if (found) return;
            key.assign(k.data(), k.size());
            seen.assign(v.data(), v.size());
            type = t;
            found = true;
          });
    });
    if (!status.ok()) return Raise(self, status, nullptr);
    if (!found) {
      PyErr_SetString(PyExc_KeyError, "popitem(): ZeroCopyDict is empty");
      return nullptr;
    }
    PyObject* k = DecodeKey(key);
    if (k == nullptr) return nullptr;
    PyObject* v = DecodeValue(seen, type);
    if (v == nullptr) {
      Py_DECREF(k);
      return nullptr;
    }
    Take take = Take::kGone;
    status = TakeIfUnchanged(handle, key, seen, type, &take);
    if (status.ok() && take == Take::kTaken) {
      PyObject* pair = PyTuple_Pack(2, k, v);
      Py_DECREF(k);
      Py_DECREF(v);
      return pair;
    }
    Py_DECREF(k);
    Py_DECREF(v);
    if (!status.ok()) return Raise(self, status, nullptr);
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
  zcipc::ValueType default_type = zcipc::ValueType::kBytes;
  if (!EncodeValue(dflt, &encoded_default, &default_type)) return nullptr;
  std::string key;
  if (!Key(self->name, "setdefault", args[0], &key)) return nullptr;
  std::string value;
  zcipc::ValueType type = zcipc::ValueType::kBytes;
  bool found = false;
  absl::Status status = WithoutGil([&] {
    return handle->Write([&](zcipc::Batch& b) -> absl::Status {
      absl::Status s = b.Get(key, &value, &type);
      if (s.ok()) {
        found = true;
        return s;
      }
      if (!absl::IsNotFound(s)) return s;
      return b.Put(key, encoded_default, default_type);
    });
  });
  if (!status.ok()) return Raise(self, status, args[0]);
  if (found) return DecodeValue(value, type);
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
  if (!status.ok()) return Raise(self, status, nullptr);
  Py_RETURN_NONE;
}

bool ParseKeyDeltaArgs(PyObject* args, PyObject* kwargs, const char* format,
                       PyObject** key, PyObject** delta) {
  if (kwargs == nullptr) {
    // The common call, add(key) or add(key, n): straight from the tuple.
    const Py_ssize_t n = PyTuple_Size(args);
    if (n == 1 || n == 2) {
      *key = PyTuple_GetItem(args, 0);
      *delta = n == 2 ? PyTuple_GetItem(args, 1) : nullptr;
      return true;
    }
  }
  static const char* kKeywords[] = {"key", "delta", nullptr};
  return PyArg_ParseTupleAndKeywords(args, kwargs, format,
                                     const_cast<char**>(kKeywords), key,
                                     delta) != 0;
}

bool ParseDelta(PyObject* name, const char* op, PyObject* key,
                PyObject* delta_arg, int64_t* delta) {
  if (delta_arg == nullptr) {
    *delta = 1;
    return true;
  }
  if (!PyLong_Check(delta_arg) || PyBool_Check(delta_arg)) {
    PyErr_Format(PyExc_TypeError,
                 "ZeroCopyDict '%U': %s(%s, ...): delta must be int, not "
                 "%.100s",
                 name, op, KeyForMessage(key).c_str(),
                 TypeName(delta_arg).c_str());
    return false;
  }
  int overflow = 0;
  long long value = PyLong_AsLongLongAndOverflow(delta_arg, &overflow);
  if (value == -1 && PyErr_Occurred()) return false;
  if (overflow != 0) {
    PyErr_Format(PyExc_OverflowError,
                 "ZeroCopyDict '%U': %s(%s, %s): delta does not fit in a "
                 "64-bit int; value unchanged",
                 name, op, KeyForMessage(key).c_str(),
                 KeyForMessage(delta_arg).c_str());
    return false;
  }
  *delta = value;
  return true;
}

// add(key, delta=1) -> the new value (ZeroCopyDict::Add). The value must be
// a counter: an int stored as kInt64 (by this package or by C++ Add), or 8
// raw bytes; an absent key counts as 0; the sum must fit in 64 bits.
PyObject* DictAdd(PyObject* obj, PyObject* call_args, PyObject* kwargs) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  PyObject* key_arg = nullptr;
  PyObject* delta_arg = nullptr;
  if (!ParseKeyDeltaArgs(call_args, kwargs, "O|O:add", &key_arg, &delta_arg)) {
    return nullptr;
  }
  int64_t delta = 1;
  if (!ParseDelta(self->name, "add", key_arg, delta_arg, &delta)) {
    return nullptr;
  }
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  Scratch& s = t_scratch;
  if (!Key(self->name, "add", key_arg, &s.key)) return nullptr;
  absl::StatusOr<int64_t> result =
      WithoutGil([&] { return handle->Add(s.key, delta); });
  if (!result.ok()) {
    if (zcipc::GetErrorKind(result.status()) ==
        zcipc::ErrorKind::kNotACounter) {
      PyErr_Format(PyExc_TypeError,
                   "ZeroCopyDict '%U': add(%s): the value is not an int",
                   self->name, KeyForMessage(key_arg).c_str());
      return nullptr;
    }
    if (zcipc::GetErrorKind(result.status()) == zcipc::ErrorKind::kOverflow) {
      PyErr_Format(PyExc_OverflowError,
                   "ZeroCopyDict '%U': add(%s, %lld): the sum overflows a "
                   "64-bit int; value unchanged",
                   self->name, KeyForMessage(key_arg).c_str(),
                   static_cast<long long>(delta));
      return nullptr;
    }
    return Raise(self, result.status(), key_arg);
  }
  return PyLong_FromLongLong(*result);
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
  zcipc::ValueType desired_type = zcipc::ValueType::kBytes;
  zcipc::ValueType expected_type = zcipc::ValueType::kBytes;
  if (!EncodeValue(args[2], &desired, &desired_type) ||
      !Key(self->name, "compare_and_swap", args[0], &key)) {
    return nullptr;
  }
  // Only a shortcut: an `expected` that cannot be encoded (pickled) is
  // compared with == alone.
  bool have_expected_bytes =
      EncodeValue(expected, &expected_bytes, &expected_type);
  if (!have_expected_bytes) PyErr_Clear();
  bool stored = false;
  bool python_error = false;
  PyThreadState* state = PyEval_SaveThread();
  absl::Status status = handle->Write([&](zcipc::Batch& b) -> absl::Status {
    std::string old;
    zcipc::ValueType old_type = zcipc::ValueType::kBytes;
    absl::Status s = b.Get(key, &old, &old_type);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    bool match;
    if (absl::IsNotFound(s)) {
      match = expected == Py_None;
    } else if (have_expected_bytes && old_type == expected_type &&
               old == expected_bytes) {
      match = true;  // identical encodings (as `is` before == in lists)
    } else {
      // Equal objects can encode differently (1 and 1.0, pickles):
      // compare as Python does. The writer lock is held; taking the GIL
      // here cannot deadlock (see the file comment).
      PyEval_RestoreThread(state);
      PyObject* current = DecodeValue(old, old_type);
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
    s = b.Put(key, desired, desired_type);
    stored = s.ok();
    return s;
  });
  PyEval_RestoreThread(state);
  if (python_error) return nullptr;
  if (!status.ok() && !absl::IsAborted(status)) {
    return Raise(self, status, args[0]);
  }
  return PyBool_FromLong(stored && status.ok());
}

}  // namespace zcipc_py
