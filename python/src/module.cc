// zero_copy_ipc._zcipc: the CPython extension module under the Python
// package. This file is the module itself: its functions (the codec helpers
// the tests and tools use, unlink) and its setup (the types and exceptions
// it exports). The rest of the extension, by concern:
//
//   errors.{h,cc}       engine failures -> the package's Python exceptions
//   dict_object.h       the Dict object and the helpers its methods share
//   dict_type.cc        Dict: construction, the mapping protocol, walks,
//                       stats, the type object
//   dict_atomic.cc      Dict's atomic read-modify-write methods
//   batch_type.{h,cc}   Batch: writes applied under one hold of the lock
//   gil.h               the GIL around engine calls
//   codec.{h,cc}        the byte encoding of keys and values
//
// Thread safety: the module functions may be called from any thread.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "python/src/batch_type.h"
#include "python/src/codec.h"
#include "python/src/dict_object.h"
#include "python/src/errors.h"
#include "python/src/gil.h"
#include "zcipc/options.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {
namespace {

// --- module-level codec helpers (for the Python-side batch) --------------

PyObject* ModuleEncodeKey(PyObject*, PyObject* key) {
  std::string out;
  if (!EncodeKey(key, &out)) return nullptr;
  return PyBytes_FromStringAndSize(out.data(),
                                   static_cast<Py_ssize_t>(out.size()));
}

// encode_value(value) -> (bytes, type): the stored bytes and ValueType.
PyObject* ModuleEncodeValue(PyObject*, PyObject* value) {
  std::string out;
  zcipc::ValueType type = zcipc::ValueType::kBytes;
  if (!EncodeValue(value, &out, &type)) return nullptr;
  return Py_BuildValue("(y#i)", out.data(), static_cast<Py_ssize_t>(out.size()),
                       static_cast<int>(type));
}

PyObject* BytesArg(PyObject* arg, absl::string_view* out) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (!PyBytes_Check(arg) || PyBytes_AsStringAndSize(arg, &data, &size) < 0) {
    PyErr_SetString(PyExc_TypeError, "expected bytes");
    return nullptr;
  }
  *out = absl::string_view(data, static_cast<size_t>(size));
  return arg;
}

PyObject* ModuleDecodeKey(PyObject*, PyObject* arg) {
  absl::string_view data;
  if (BytesArg(arg, &data) == nullptr) return nullptr;
  return DecodeKey(data);
}

// decode_value(data, type=0): the value stored as `data` with ValueType
// `type` (0..255; 0 is kBytes).
PyObject* ModuleDecodeValue(PyObject*, PyObject* args) {
  PyObject* arg = nullptr;
  int type = 0;
  if (!PyArg_ParseTuple(args, "O|i:decode_value", &arg, &type)) return nullptr;
  absl::string_view data;
  if (BytesArg(arg, &data) == nullptr) return nullptr;
  if (type < 0 || type > 255) {
    PyErr_SetString(PyExc_ValueError, "decode_value: type must be 0..255");
    return nullptr;
  }
  return DecodeValue(data, static_cast<zcipc::ValueType>(type));
}

// _unlink(name): removes a dict by name (module function).
PyObject* ModuleUnlink(PyObject*, PyObject* name) {
  std::string name_str;
  if (!NameArg(name, &name_str)) return nullptr;
  absl::Status status =
      WithoutGil([&] { return zcipc::ZeroCopyDict::Unlink(name_str); });
  if (!status.ok()) return RaiseStatus(status, name, nullptr);
  Py_RETURN_NONE;
}

// --- the module ----------------------------------------------------------

PyMethodDef kModuleMethods[] = {
    {"encode_key", ModuleEncodeKey, METH_O,
     "The canonical bytes of a key (as stored)."},
    {"encode_value", ModuleEncodeValue, METH_O,
     "encode_value(value) -> (bytes, type): the stored bytes of a value and "
     "its value type (0 bytes, 1 text, 2 int64, 3 float64, 4 pickle)."},
    {"decode_key", ModuleDecodeKey, METH_O,
     "decode_key(data): the key stored as data (str, bytes or a tagged "
     "object; never fails on foreign bytes)."},
    {"decode_value", ModuleDecodeValue, METH_VARARGS,
     "decode_value(data, type=0): the value stored as data with that value "
     "type (inverse of encode_value)."},
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

// The module is built against the limited API of CPython 3.9
// (Py_LIMITED_API, python/BUILD.bazel): one binary for 3.9 and every later
// CPython. The package's __init__.py refuses older interpreters before it
// loads this.
PyMODINIT_FUNC PyInit__zcipc(void) {
  using namespace zcipc_py;
  if (!InitCodec() || !InitDictType() || !InitBatchType()) return nullptr;
  PyObject* m = PyModule_Create(&kModule);
  if (m == nullptr) return nullptr;
  if (!InitErrors(m) ||
      AddObjectRef(m, "Dict", reinterpret_cast<PyObject*>(g_dict_type)) < 0 ||
      AddObjectRef(m, "Batch", reinterpret_cast<PyObject*>(g_batch_type)) < 0 ||
      PyModule_AddIntConstant(m, "MAX_KEY_SIZE",
                              static_cast<long>(zcipc::kMaxKeySize)) < 0 ||
      // The release (zero_copy_ipc.__version__ is this, so the package and
      // the engine it is built from cannot disagree).
      PyModule_AddStringConstant(m, "PROJECT_VERSION", zcipc::kProjectVersion) <
          0 ||
      PyModule_AddStringConstant(m, "__version__", zcipc::kProjectVersion) <
          0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
