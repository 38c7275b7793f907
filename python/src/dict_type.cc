// zero_copy_ipc._zcipc.Dict, the base class of zero_copy_ipc.ZeroCopyDict:
// construction, the mapping protocol (d[k], d[k] = v, del d[k], k in d,
// len, get), whole-dict walks, stats and the type object. The hot paths are
// here so a Python call costs one engine call plus the codec (codec.h).
//
// The GIL (see gil.h)
//   Lock-free reads (Get, Contains, Size, GetStats) keep the GIL for their
//   fast path; Get and Contains release it if they have to wait on an entry
//   a writer is changing (ReleaseGilWhileReadWaits). Every call that may wait
//   for the writer lock (Put, Erase, Update, Write, GetAllocatorStats, Check,
//   Reserve, Create, Attach) and every whole-dict walk (ForEach) releases it,
//   so other Python threads run meanwhile.
//
// Thread safety: see dict_object.h.

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>  // PyMemberDef's T_PYSSIZET, READONLY
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "python/src/codec.h"
#include "python/src/dict_object.h"
#include "python/src/errors.h"
#include "python/src/gil.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_py {

PyTypeObject* g_dict_type = nullptr;

bool NameArg(PyObject* name, std::string* out) {
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "ZeroCopyDict name must be str, not %.100s",
                 TypeName(name).c_str());
    return false;
  }
  out->clear();
  if (!AppendStrictUtf8(name, out)) return false;
  if (out->empty()) {
    PyErr_SetString(PyExc_ValueError, "ZeroCopyDict name must not be empty");
    return false;
  }
  if (out->find('\0') != std::string::npos) {
    PyErr_Format(PyExc_ValueError,
                 "ZeroCopyDict name %R contains a NUL character", name);
    return false;
  }
  return true;
}

namespace {

// This file's per-thread state: its scratch buffers and the thread's
// ReadWaitState (whose construction, on a thread's first use, installs the
// wait hooks on that thread).
struct ThreadLocals {
  ThreadLocals();
  ~ThreadLocals();
  Scratch scratch;
  ReadWaitState read_wait;
};

// The calling thread's ThreadLocals once made. A constant-initialised
// pointer: reaching it needs no initialisation guard, only the thread-local
// lookup (in a shared library a call, __tls_get_addr).
thread_local ThreadLocals* t_locals = nullptr;

ThreadLocals::ThreadLocals() { t_locals = this; }
ThreadLocals::~ThreadLocals() { t_locals = nullptr; }  // at thread exit

__attribute__((noinline, cold)) ThreadLocals* MakeLocals() {
  thread_local ThreadLocals locals;  // destroyed at thread exit
  return &locals;
}

// The calling thread's ThreadLocals. The empty asm makes the pointer opaque
// so the compiler keeps it for the whole call instead of looking the
// thread-local up again around each engine call.
inline ThreadLocals& Locals() {
  ThreadLocals* t = t_locals;
  if (__builtin_expect(t == nullptr, 0)) t = MakeLocals();
  asm("" : "+r"(t));
  return *t;
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
  auto alloc = reinterpret_cast<allocfunc>(PyType_GetSlot(type, Py_tp_alloc));
  auto* self = reinterpret_cast<DictObject*>(alloc(type, 0));
  if (self == nullptr) return nullptr;
  new (&self->handle)
      Handle(std::make_shared<zcipc::ZeroCopyDict>(std::move(dict)));
  Py_INCREF(name);
  self->name = name;
  self->owner_pid = owner ? static_cast<long>(getpid()) : 0;
  self->weakreflist = nullptr;
  return reinterpret_cast<PyObject*>(self);
}

// _create(name, max_items, heap_size, lock_timeout, change_log_bytes=None,
// auto_grow=True, max_segment_size=0) -> instance of cls (change_log_bytes
// None: the engine's default; max_segment_size 0: the size of /dev/shm).
PyObject* DictCreate(PyObject* cls, PyObject* args) {
  PyObject* name;
  unsigned long long max_items, heap_size;
  double timeout;
  PyObject* change_log_bytes = Py_None;
  int auto_grow = 1;
  unsigned long long max_segment_size = 0;
  if (!PyArg_ParseTuple(args, "UKKd|OpK:_create", &name, &max_items, &heap_size,
                        &timeout, &change_log_bytes, &auto_grow,
                        &max_segment_size)) {
    return nullptr;
  }
  std::string name_str;
  if (!NameArg(name, &name_str)) return nullptr;
  zcipc::Options options;
  options.max_items = max_items;
  options.heap_size = heap_size;
  options.auto_grow = auto_grow != 0;
  options.max_segment_size = max_segment_size;
  if (change_log_bytes != Py_None) {
    unsigned long long bytes = PyLong_AsUnsignedLongLong(change_log_bytes);
    if (bytes == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      return nullptr;
    }
    options.change_log_bytes = bytes;
  }
  if (!ParseTimeout(timeout, &options.lock_timeout)) return nullptr;
  absl::StatusOr<zcipc::ZeroCopyDict> dict = WithoutGil(
      [&] { return zcipc::ZeroCopyDict::Create(name_str, options); });
  if (!dict.ok()) {
    return RaiseStatus(dict.status(), name, nullptr);
  }
  return NewDict(reinterpret_cast<PyTypeObject*>(cls), name, *std::move(dict),
                 /*owner=*/true);
}

// _attach(name, lock_timeout, auto_grow=True) -> instance of cls
PyObject* DictAttach(PyObject* cls, PyObject* args) {
  PyObject* name;
  double timeout;
  int auto_grow = 1;
  if (!PyArg_ParseTuple(args, "Ud|p:_attach", &name, &timeout, &auto_grow)) {
    return nullptr;
  }
  std::string name_str;
  if (!NameArg(name, &name_str)) return nullptr;
  zcipc::Options options;
  options.auto_grow = auto_grow != 0;
  if (!ParseTimeout(timeout, &options.lock_timeout)) return nullptr;
  absl::StatusOr<zcipc::ZeroCopyDict> dict = WithoutGil(
      [&] { return zcipc::ZeroCopyDict::Attach(name_str, options); });
  if (!dict.ok()) {
    return RaiseStatus(dict.status(), name, nullptr);
  }
  return NewDict(reinterpret_cast<PyTypeObject*>(cls), name, *std::move(dict),
                 /*owner=*/false);
}

void DictDealloc(PyObject* obj) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(obj);
  self->handle.~Handle();  // unmaps (never unlinks)
  Py_XDECREF(self->name);
  FreeHeapObject(obj);
}

// Dict(...) and ZeroCopyDict(...): refused (a handle comes from create(),
// attach() or open(), which allocate it with the type's tp_alloc).
PyObject* DictNew(PyTypeObject* type, PyObject*, PyObject*) {
  PyObject* type_name =
      PyObject_GetAttrString(reinterpret_cast<PyObject*>(type), "__name__");
  if (type_name == nullptr) return nullptr;
  PyErr_Format(PyExc_TypeError,
               "cannot create '%S' instances: use ZeroCopyDict.create(), "
               ".attach() or .open()",
               type_name);
  Py_DECREF(type_name);
  return nullptr;
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
  ThreadLocals& t = Locals();
  Scratch& s = t.scratch;
  if (!LookupKey(self->name, missing != nullptr ? "get" : "d[key]", key,
                 &s.key)) {
    return nullptr;
  }
  absl::Status status;
  {
    ReleaseGilWhileReadWaits gil(&t.read_wait, &self->handle);
    status = d->Get(s.key, &s.value, &s.type);
  }
  if (!status.ok()) {
    if (absl::IsNotFound(status) && missing != nullptr) {
      Py_INCREF(missing);
      return missing;
    }
    return Raise(self, status, key);
  }
  return DecodeValue(s.value, s.type);
}

PyObject* DictSubscript(PyObject* obj, PyObject* key) {
  return Lookup(reinterpret_cast<DictObject*>(obj), key, nullptr);
}

int DictAssSubscript(PyObject* obj, PyObject* key, PyObject* value) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (Live(self) == nullptr) return -1;
  ThreadLocals& t = Locals();
  Scratch& s = t.scratch;
  // The value first: pickling may run code that uses this dict (and so this
  // thread's scratch key); encoding a key runs no Python code.
  if (value != nullptr && !EncodeValue(value, &s.value, &s.type)) return -1;
  if (!(value != nullptr ? Key(self->name, "d[key] = value", key, &s.key)
                         : LookupKey(self->name, "del d[key]", key, &s.key))) {
    return -1;
  }
  Handle handle = LiveHandle(self);
  if (!handle) return -1;
  absl::Status status = WithoutGil([&] {
    return value != nullptr ? handle->Put(s.key, s.value, s.type)
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
  ThreadLocals& t = Locals();
  Scratch& s = t.scratch;
  if (!LookupKey(self->name, "key in d", key, &s.key)) return -1;
  absl::StatusOr<bool> found = [&] {
    ReleaseGilWhileReadWaits gil(&t.read_wait, &self->handle);
    return d->Contains(s.key);
  }();
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
  std::vector<zcipc::ValueType> types;  // the values'
};

// Copies every entry (keys and/or values) with the GIL released.
bool Collect(DictObject* self, bool want_keys, bool want_values, Entries* out) {
  Handle handle = LiveHandle(self);
  if (!handle) return false;
  absl::Status status = WithoutGil([&] {
    return handle->ForEachTyped(
        [&](absl::string_view k, absl::string_view v, zcipc::ValueType type) {
          if (want_keys) out->keys.emplace_back(k);
          if (want_values) {
            out->values.emplace_back(v);
            out->types.push_back(type);
          }
        });
  });
  if (!status.ok()) {
    Raise(self, status, nullptr);
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
    PyObject* v =
        values ? DecodeValue(entries.values[i], entries.types[i]) : nullptr;
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
    PyList_SetItem(list, static_cast<Py_ssize_t>(i), item);  // steals
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
              PyLong_FromUnsignedLongLong(st.read_retries)) ||
      SetItem(r, "change_seq", PyLong_FromUnsignedLongLong(st.change_seq)) ||
      SetItem(r, "change_log_bytes",
              PyLong_FromUnsignedLongLong(st.change_log_bytes)) ||
      SetItem(r, "oldest_retained_change",
              PyLong_FromUnsignedLongLong(st.oldest_retained_change)) ||
      // Growth: max_items, slot_count, heap_size and segment_size above are
      // the capacity now.
      SetItem(r, "grows_total", PyLong_FromUnsignedLongLong(st.grows_total)) ||
      SetItem(r, "max_segment_size",
              PyLong_FromUnsignedLongLong(st.max_segment_size)) ||
      SetItem(r, "growing", PyBool_FromLong(st.growing))) {
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

// _reserve(max_items, heap_size): ZeroCopyDict::Reserve with the GIL
// released (it takes the writer lock while the table migrates).
PyObject* DictReserve(PyObject* obj, PyObject* args) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  unsigned long long max_items, heap_size;
  if (!PyArg_ParseTuple(args, "KK:_reserve", &max_items, &heap_size)) {
    return nullptr;
  }
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  absl::Status status =
      WithoutGil([&] { return handle->Reserve(max_items, heap_size); });
  if (!status.ok()) return Raise(self, status, nullptr);
  Py_RETURN_NONE;
}

// check(): the engine's full integrity check; raises CorruptDictError.
PyObject* DictCheck(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  absl::Status status = WithoutGil([&] { return handle->Check(); });
  if (!status.ok()) return Raise(self, status, nullptr);
  Py_RETURN_NONE;
}

// change_seq(): the number of the last change (lock-free).
PyObject* DictChangeSeq(PyObject* obj, PyObject*) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  return PyLong_FromUnsignedLongLong(handle->ChangeSeq());
}

// changes(since) -> [(seq, "put" | "erase", key), ...]: every retained
// change after `since`, in order (ZeroCopyDict::ReadChanges, lock-free; the
// walk runs with the GIL released, then the keys are decoded as keys()
// decodes them: a key another language wrote is a str or bytes, never an
// error). ChangesLost when change since+1 is no longer retained.
PyObject* DictChanges(PyObject* obj, PyObject* since_arg) {
  auto* self = reinterpret_cast<DictObject*>(obj);
  if (!PyLong_Check(since_arg) || PyBool_Check(since_arg)) {
    PyErr_Format(PyExc_TypeError,
                 "ZeroCopyDict '%U': changes(since): since must be an int, "
                 "not %.100s",
                 self->name, TypeName(since_arg).c_str());
    return nullptr;
  }
  const unsigned long long since = PyLong_AsUnsignedLongLong(since_arg);
  if (since == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    return AddDictContext(self->name, "changes(since)");
  }
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  struct Entry {
    uint64_t seq;
    bool erase;
    std::string key;
  };
  std::vector<Entry> entries;
  uint64_t oldest = 0;
  absl::StatusOr<uint64_t> last = WithoutGil([&] {
    absl::StatusOr<uint64_t> r =
        handle->ReadChanges(since, [&](const zcipc::Change& c) {
          entries.push_back(Entry{c.seq, c.kind == zcipc::ChangeKind::kErase,
                                  std::string(c.key.data(), c.key.size())});
        });
    if (!r.ok() &&
        zcipc::GetErrorKind(r.status()) == zcipc::ErrorKind::kChangesLost) {
      oldest = handle->GetStats().oldest_retained_change;
    }
    return r;
  });
  if (!last.ok()) {
    if (zcipc::GetErrorKind(last.status()) == zcipc::ErrorKind::kChangesLost) {
      return RaiseChangesLost(self->name, since, oldest);
    }
    return Raise(self, last.status(), nullptr);
  }
  PyObject* put = PyUnicode_FromString("put");
  PyObject* erase = put != nullptr ? PyUnicode_FromString("erase") : nullptr;
  PyObject* list = erase != nullptr
                       ? PyList_New(static_cast<Py_ssize_t>(entries.size()))
                       : nullptr;
  for (size_t i = 0; list != nullptr && i < entries.size(); ++i) {
    const Entry& e = entries[i];
    PyObject* key = DecodeKey(e.key);
    PyObject* item =
        key != nullptr
            ? Py_BuildValue("(KOO)", static_cast<unsigned long long>(e.seq),
                            e.erase ? erase : put, key)
            : nullptr;
    Py_XDECREF(key);
    if (item == nullptr) {
      Py_CLEAR(list);
      break;
    }
    PyList_SetItem(list, static_cast<Py_ssize_t>(i), item);  // steals
  }
  Py_XDECREF(put);
  Py_XDECREF(erase);
  return list;
}

// wait_for_change(since, timeout=None): the change number once it is past
// `since`, waiting with the GIL released; TimeoutError after `timeout`
// seconds (None: wait without end, in slices so that Ctrl-C is seen).
PyObject* DictWaitForChange(PyObject* obj, PyObject* args, PyObject* kwargs) {
  static const char* kKeywords[] = {"since", "timeout", nullptr};
  auto* self = reinterpret_cast<DictObject*>(obj);
  unsigned long long since = 0;
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "K|O:wait_for_change",
                                   const_cast<char**>(kKeywords), &since,
                                   &timeout_obj)) {
    return nullptr;
  }
  double seconds = -1;
  if (timeout_obj != Py_None) {
    seconds = PyFloat_AsDouble(timeout_obj);
    if (seconds == -1 && PyErr_Occurred()) return nullptr;
    if (!(seconds >= 0)) {
      PyErr_SetString(PyExc_ValueError,
                      "wait_for_change: timeout must be >= 0 or None");
      return nullptr;
    }
  }
  Handle handle = LiveHandle(self);
  if (!handle) return nullptr;
  const absl::Time deadline = seconds < 0
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + absl::Seconds(seconds);
  for (;;) {
    // Slices of at most 100 ms, so that signals (KeyboardInterrupt) are
    // handled while waiting without end.
    const absl::Duration slice =
        std::min(deadline - absl::Now(), absl::Milliseconds(100));
    absl::StatusOr<uint64_t> r = WithoutGil([&] {
      return handle->WaitForChange(since,
                                   std::max(slice, absl::ZeroDuration()));
    });
    if (r.ok()) return PyLong_FromUnsignedLongLong(*r);
    if (!absl::IsDeadlineExceeded(r.status()) || absl::Now() >= deadline) {
      return Raise(self, r.status(), nullptr);
    }
    if (PyErr_CheckSignals() != 0) return nullptr;
  }
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

// --- the type ---------------------------------------------------------------

// METH_FASTCALL (positional arguments as an array, no tuple): in the stable
// ABI since 3.10, so the limited-API headers of 3.9 this module is built
// with do not define it; its value is the same in every version. The
// methods that use it (FastFunction, dict_object.h) are called through
// TupleCall (METH_VARARGS) instead when the interpreter is 3.9 (see
// InitDictType).
constexpr int kMethFastcall = 0x0080;

// Calls `fn` with the items of the argument tuple `args` (METH_VARARGS).
template <FastFunction fn>
PyObject* TupleCall(PyObject* self, PyObject* args) {
  PyObject* items[4] = {nullptr, nullptr, nullptr, nullptr};
  const Py_ssize_t n = PyTuple_Size(args);
  if (n < 0) return nullptr;
  for (Py_ssize_t i = 0; i < n && i < 4; ++i) {
    items[i] = PyTuple_GetItem(args, i);  // borrowed; `args` outlives fn
  }
  return fn(self, items, n);  // fn rejects n > 3 before reading
}

struct FastMethod {
  const char* name;
  PyCFunction tuple_call;
};

const FastMethod kFastMethods[] = {
    {"get", TupleCall<DictGet>},
    {"pop", TupleCall<DictPop>},
    {"setdefault", TupleCall<DictSetDefault>},
    {"compare_and_swap", TupleCall<DictCompareAndSwap>},
};

PyMethodDef kDictMethods[] = {
    {"_create", reinterpret_cast<PyCFunction>(DictCreate),
     METH_VARARGS | METH_CLASS,
     "_create(name, max_items, heap_size, lock_timeout, change_log_bytes, "
     "auto_grow, max_segment_size): a new dict."},
    {"_attach", reinterpret_cast<PyCFunction>(DictAttach),
     METH_VARARGS | METH_CLASS,
     "_attach(name, lock_timeout, auto_grow): attach."},
    {"_reserve", DictReserve, METH_VARARGS,
     "_reserve(max_items, heap_size): grows the dict now to at least these "
     "(never shrinks)."},
    {"_close", DictClose, METH_NOARGS, "Unmaps (never removes the name)."},
    {"get", reinterpret_cast<PyCFunction>(DictGet), kMethFastcall,
     "get(key, default=None): the value, or default if absent (lock-free)."},
    {"pop", reinterpret_cast<PyCFunction>(DictPop), kMethFastcall,
     "pop(key[, default]): removes and returns the value, atomically."},
    {"popitem", DictPopItem, METH_NOARGS,
     "popitem(): removes and returns some (key, value); KeyError if empty."},
    {"setdefault", reinterpret_cast<PyCFunction>(DictSetDefault), kMethFastcall,
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
     kMethFastcall,
     "compare_and_swap(key, expected, new): stores new if d.get(key) == "
     "expected; True if it stored."},
    {"stats", DictStats, METH_NOARGS, "stats(): counters (lock-free)."},
    {"gc_stats", DictGcStats, METH_NOARGS,
     "gc_stats(): the allocator's free lists (takes the writer lock)."},
    {"check", DictCheck, METH_NOARGS,
     "check(): full integrity check; raises CorruptDictError."},
    {"change_seq", DictChangeSeq, METH_NOARGS,
     "change_seq(): the number of the last change (0 for a new dict)."},
    {"changes", DictChanges, METH_O,
     "changes(since): [(seq, 'put' | 'erase', key), ...] for every retained "
     "change after since, in order (lock-free); ChangesLost if change "
     "since+1 is no longer retained."},
    {"wait_for_change", reinterpret_cast<PyCFunction>(DictWaitForChange),
     METH_VARARGS | METH_KEYWORDS,
     "wait_for_change(since, timeout=None): the change number once it is "
     "past since (GIL released); TimeoutError after timeout seconds."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef kDictGetSet[] = {
    {"name", GetName, nullptr, "The dict's name.", nullptr},
    {"closed", GetClosed, nullptr, "True after close().", nullptr},
    {"is_owner", GetIsOwner, nullptr,
     "True for the creating handle in the creating process.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef kDictMembers[] = {
    // tp_weaklistoffset, as the limited API sets it on a heap type.
    {const_cast<char*>("__weaklistoffset__"), T_PYSSIZET,
     static_cast<Py_ssize_t>(offsetof(DictObject, weakreflist)), READONLY,
     nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot kDictSlots[] = {
    {Py_tp_doc,
     const_cast<char*>("The engine handle under zero_copy_ipc.ZeroCopyDict.")},
    {Py_tp_new, reinterpret_cast<void*>(DictNew)},
    {Py_tp_dealloc, reinterpret_cast<void*>(DictDealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(DictRepr)},
    {Py_mp_length, reinterpret_cast<void*>(DictLength)},
    {Py_mp_subscript, reinterpret_cast<void*>(DictSubscript)},
    {Py_mp_ass_subscript, reinterpret_cast<void*>(DictAssSubscript)},
    {Py_sq_contains, reinterpret_cast<void*>(DictContains)},
    {Py_tp_iter, reinterpret_cast<void*>(DictIter)},
    {Py_tp_methods, kDictMethods},
    {Py_tp_getset, kDictGetSet},
    {Py_tp_members, kDictMembers},
    {Py_tp_hash, reinterpret_cast<void*>(PyObject_HashNotImplemented)},
    {0, nullptr},
};

PyType_Spec kDictSpec = {
    "zero_copy_ipc._zcipc.Dict",
    static_cast<int>(sizeof(DictObject)),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    kDictSlots,
};

}  // namespace

ReadWaitState* ThreadReadWait() { return &Locals().read_wait; }

bool InitDictType() {
  if (g_dict_type != nullptr) return true;
  if (RuntimeMinorVersion() < 10) {
    // No METH_FASTCALL in 3.9's stable ABI: those methods take a tuple.
    for (PyMethodDef* m = kDictMethods; m->ml_name != nullptr; ++m) {
      for (const FastMethod& f : kFastMethods) {
        if (m->ml_flags == kMethFastcall &&
            std::strcmp(m->ml_name, f.name) == 0) {
          m->ml_meth = f.tuple_call;
          m->ml_flags = METH_VARARGS;
        }
      }
    }
  }
  g_dict_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kDictSpec));
  return g_dict_type != nullptr;
}

}  // namespace zcipc_py
