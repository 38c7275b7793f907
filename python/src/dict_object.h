// zero_copy_ipc._zcipc.Dict: the object layout and the helpers its methods
// share (dict_type.cc: construction, the mapping protocol, walks, stats and
// the type; dict_atomic.cc: the atomic read-modify-write methods;
// batch_type.cc: Batch, which applies its writes through a Dict).
//
// Lifetime
//   The engine handle is held by a std::shared_ptr: a call that releases the
//   GIL keeps its own reference (LiveHandle), so close() from another thread
//   never unmaps a segment a call is still using (the unmap happens when
//   that call ends). A lock-free read that keeps the GIL uses the raw
//   pointer (Live) and takes a reference only if it comes to wait
//   (ReleaseGilWhileReadWaits).
//
// Thread safety
//   A Dict object may be used from any number of threads: the engine handle
//   is thread-safe, and the per-thread scratch buffers (Scratch) are used
//   only by their own thread.

#ifndef ZCIPC_PYTHON_SRC_DICT_OBJECT_H_
#define ZCIPC_PYTHON_SRC_DICT_OBJECT_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "python/src/codec.h"
#include "python/src/errors.h"
#include "python/src/gil.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {

using Handle = std::shared_ptr<zcipc::ZeroCopyDict>;

struct DictObject {
  PyObject_HEAD Handle handle;  // empty once closed
  PyObject* name;               // str
  long owner_pid;  // the creating process; 0 for an attached handle
  PyObject* weakreflist;
};

// The type zero_copy_ipc._zcipc.Dict (a heap type, dict_type.cc; the module
// holds a reference).
extern PyTypeObject* g_dict_type;

// Makes g_dict_type. False with a Python error set.
bool InitDictType();

// The end of each tp_dealloc of the module's (heap) types: frees `obj` with
// its type's tp_free and drops the reference each instance holds on its
// heap type.
inline void FreeHeapObject(PyObject* obj) {
  PyTypeObject* type = Py_TYPE(obj);
  reinterpret_cast<freefunc>(PyType_GetSlot(type, Py_tp_free))(obj);
  Py_DECREF(type);
}

// Checks that `name` is a str without NUL characters and not empty, and
// puts its UTF-8 in *out; false with TypeError or ValueError set.
bool NameArg(PyObject* name, std::string* out);

// A method taking positional arguments as an array (the METH_FASTCALL
// convention); each checks `nargs` before it reads `args` and reads at
// most 3. See kDictMethods (dict_type.cc) for how it is called on 3.9.
using FastFunction = PyObject* (*)(PyObject* self, PyObject* const* args,
                                   Py_ssize_t nargs);

// Reused encode/decode buffers (they keep their capacity between calls).
// Each file that needs them keeps its own thread_local instance, so the
// hot paths reach it without a cross-file TLS wrapper call.
struct Scratch {
  std::string key;
  std::string value;
  zcipc::ValueType type = zcipc::ValueType::kBytes;  // value's
};

// The calling thread's one ReadWaitState (gil.h), for every
// ReleaseGilWhileReadWaits of the thread (dict_type.cc keeps it beside its
// scratch buffers, where its hot reads reach it without this call).
ReadWaitState* ThreadReadWait();

inline PyObject* Raise(DictObject* self, const absl::Status& status,
                       PyObject* key = nullptr) {
  return RaiseStatus(status, self->name, key);
}

// The live handle, or nullptr with ValueError set when closed.
inline zcipc::ZeroCopyDict* Live(DictObject* self) {
  if (!self->handle) {
    PyErr_Format(PyExc_ValueError, "ZeroCopyDict '%U' is closed", self->name);
    return nullptr;
  }
  return self->handle.get();
}

// A reference to the live handle, for a call that releases the GIL (so a
// close() from another thread meanwhile cannot unmap under it); an empty
// Handle with ValueError set when closed.
inline Handle LiveHandle(DictObject* self) {
  Handle handle = self->handle;
  if (!handle) Live(self);
  return handle;
}

// Encodes a key for a write into `out` (NaN refused). False with an error
// set that names the dict called `name` and the operation `op`.
inline bool Key(PyObject* name, const char* op, PyObject* key,
                std::string* out) {
  out->clear();
  if (EncodeKey(key, out)) return true;
  AddDictContext(name, op);
  return false;
}

// Encodes a key for a lookup or removal (NaN finds nothing); as Key.
inline bool LookupKey(PyObject* name, const char* op, PyObject* key,
                      std::string* out) {
  out->clear();
  if (EncodeLookupKey(key, out)) return true;
  AddDictContext(name, op);
  return false;
}

// Parses the arguments (key, delta=1) of add() (Dict's and Batch's):
// *key and *delta (nullptr when absent) are borrowed. A call without
// keywords is read from the tuple directly; others go through
// PyArg_ParseTupleAndKeywords with `format` ("O|O:add"). False with
// TypeError set.
bool ParseKeyDeltaArgs(PyObject* args, PyObject* kwargs, const char* format,
                       PyObject** key, PyObject** delta);

// Parses add()'s `delta` (nullptr: absent, 1) into *delta. False with
// TypeError (not an int) or OverflowError (outside int64) set, naming the
// dict called `name`, the operation `op` and the key.
bool ParseDelta(PyObject* name, const char* op, PyObject* key,
                PyObject* delta_arg, int64_t* delta);

// The atomic read-modify-write methods (dict_atomic.cc), each under one hold
// of the writer lock.
PyObject* DictPop(PyObject* obj, PyObject* const* args, Py_ssize_t nargs);
PyObject* DictPopItem(PyObject* obj, PyObject*);
PyObject* DictSetDefault(PyObject* obj, PyObject* const* args,
                         Py_ssize_t nargs);
PyObject* DictClear(PyObject* obj, PyObject*);
PyObject* DictAdd(PyObject* obj, PyObject* call_args, PyObject* kwargs);
PyObject* DictCompareAndSwap(PyObject* obj, PyObject* const* args,
                             Py_ssize_t nargs);

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_DICT_OBJECT_H_
