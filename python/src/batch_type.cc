// zero_copy_ipc.Batch (see batch_type.h): b[k] = v, del b[k], b.add(k, n),
// b.update(...), collected and applied in order under one hold of the
// writer lock.

#include "python/src/batch_type.h"

#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "python/src/codec.h"
#include "python/src/dict_object.h"
#include "python/src/errors.h"
#include "python/src/gil.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {

PyTypeObject* g_batch_type = nullptr;

namespace {

// One collected write of a Batch.
struct BatchOp {
  enum Kind { kPut, kDelete, kAdd } kind;
  std::string key;
  std::string value;                                 // kPut: the encoded value
  zcipc::ValueType type = zcipc::ValueType::kBytes;  // kPut: value's
  int64_t delta = 0;                                 // kAdd
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
      for (size_t i = 0; i < ops.size(); ++i) {
        const BatchOp& op = ops[i];
        absl::Status s;
        if (op.kind == BatchOp::kPut) {
          s = b.Put(op.key, op.value, op.type);
        } else if (op.kind == BatchOp::kDelete) {
          s = b.Erase(op.key);
          if (absl::IsNotFound(s)) s = absl::OkStatus();
        } else {
          s = b.Add(op.key, op.delta).status();
          not_int = zcipc::GetErrorKind(s) == zcipc::ErrorKind::kNotACounter;
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
                 "ZeroCopyDict '%U': batch add(%s): the value is not an int",
                 self->name, key ? KeyForMessage(key).c_str() : "?");
  } else {
    Raise(self, status, key);
  }
  Py_XDECREF(key);
  return nullptr;
}

struct BatchObject {
  PyObject_HEAD DictObject* dict;
  std::vector<BatchOp>* ops;
};

PyObject* BatchNew(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject* dict;
  static const char* kKeywords[] = {"dict", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:Batch",
                                   const_cast<char**>(kKeywords), g_dict_type,
                                   &dict)) {
    return nullptr;
  }
  auto alloc = reinterpret_cast<allocfunc>(PyType_GetSlot(type, Py_tp_alloc));
  auto* self = reinterpret_cast<BatchObject*>(alloc(type, 0));
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
  FreeHeapObject(obj);
}

Py_ssize_t BatchLength(PyObject* obj) {
  return static_cast<Py_ssize_t>(
      reinterpret_cast<BatchObject*>(obj)->ops->size());
}

bool BatchPut(BatchObject* self, PyObject* key, PyObject* value) {
  BatchOp op{BatchOp::kPut, {}, {}, zcipc::ValueType::kBytes, 0};
  // The value first: pickling may run code; encoding a key runs none.
  if (!EncodeValue(value, &op.value, &op.type) ||
      !Key(self->dict->name, "batch b[key] = value", key, &op.key)) {
    return false;
  }
  self->ops->push_back(std::move(op));
  return true;
}

int BatchAssSubscript(PyObject* obj, PyObject* key, PyObject* value) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  if (value != nullptr) return BatchPut(self, key, value) ? 0 : -1;
  BatchOp op{BatchOp::kDelete, {}, {}, zcipc::ValueType::kBytes, 0};
  if (!LookupKey(self->dict->name, "batch del b[key]", key, &op.key)) return -1;
  self->ops->push_back(std::move(op));
  return 0;
}

// add(key, delta=1): adds delta to an int value when applied.
PyObject* BatchAdd(PyObject* obj, PyObject* args, PyObject* kwargs) {
  auto* self = reinterpret_cast<BatchObject*>(obj);
  PyObject* key = nullptr;
  PyObject* delta_arg = nullptr;
  if (!ParseKeyDeltaArgs(args, kwargs, "O|O:add", &key, &delta_arg)) {
    return nullptr;
  }
  BatchOp op{BatchOp::kAdd, {}, {}, zcipc::ValueType::kBytes, 1};
  if (!ParseDelta(self->dict->name, "batch add", key, delta_arg, &op.delta)) {
    return nullptr;
  }
  if (!Key(self->dict->name, "batch add", key, &op.key)) return nullptr;
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
      const Py_ssize_t n = PyList_Size(items);
      for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* pair = PyList_GetItem(items, i);
        if (!BatchPut(self, PyTuple_GetItem(pair, 0),
                      PyTuple_GetItem(pair, 1))) {
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
          const Py_ssize_t size = seq != nullptr ? PySequence_Size(seq) : -1;
          ok = size == 2;
          if (seq != nullptr && !ok && !PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError,
                         "update: element has length %zd; 2 is required", size);
          }
          if (ok) {
            k = PySequence_GetItem(seq, 0);  // new references
            v = k != nullptr ? PySequence_GetItem(seq, 1) : nullptr;
            ok = v != nullptr;
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

PyType_Slot kBatchSlots[] = {
    {Py_tp_doc,
     const_cast<char*>(
         "Batch(dict): writes collected for one hold of the writer lock; "
         "see ZeroCopyDict.batch().")},
    {Py_tp_new, reinterpret_cast<void*>(BatchNew)},
    {Py_tp_dealloc, reinterpret_cast<void*>(BatchDealloc)},
    {Py_mp_length, reinterpret_cast<void*>(BatchLength)},
    {Py_mp_ass_subscript, reinterpret_cast<void*>(BatchAssSubscript)},
    {Py_tp_methods, kBatchMethods},
    {Py_tp_hash, reinterpret_cast<void*>(PyObject_HashNotImplemented)},
    {0, nullptr},
};

PyType_Spec kBatchSpec = {
    "zero_copy_ipc.Batch",
    static_cast<int>(sizeof(BatchObject)),
    0,
    Py_TPFLAGS_DEFAULT,
    kBatchSlots,
};

}  // namespace

bool InitBatchType() {
  if (g_batch_type != nullptr) return true;
  g_batch_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kBatchSpec));
  return g_batch_type != nullptr;
}

}  // namespace zcipc_py
