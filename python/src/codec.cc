#include "python/src/codec.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>

namespace zcipc_py {
namespace {

// PyUnicode_AsUTF8AndSize, the str's cached UTF-8 without a copy: in the
// stable ABI since 3.10 only, so it is looked up at import time when the
// running interpreter is 3.10 or newer; null on 3.9, where the UTF-8 is
// made with PyUnicode_AsUTF8String (a bytes object per call).
using AsUtf8AndSizeFn = const char* (*)(PyObject*, Py_ssize_t*);
AsUtf8AndSizeFn g_as_utf8_and_size = nullptr;

PyObject* g_dumps = nullptr;
PyObject* g_loads = nullptr;
PyObject* g_protocol = nullptr;

constexpr int kMaxTupleDepth = 64;

void AppendLE64(uint64_t v, std::string* out) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

uint64_t LoadLE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint from [*p, end). False on truncation or overlong input.
bool ReadVarint(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint64_t byte = static_cast<unsigned char>(**p);
    ++*p;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

// Appends the bytes of `b` (a bytes object) to *out.
void AppendBytes(PyObject* b, std::string* out) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(b, &data, &size) == 0) {
    out->append(data, static_cast<size_t>(size));
  }
}

bool AppendUtf8(PyObject* str, std::string* out) {
  if (AppendStrictUtf8(str, out)) return true;
  // Lone surrogates: not valid UTF-8, but a dict may hold such a str.
  PyErr_Clear();
  PyObject* b = PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass");
  if (b == nullptr) return false;
  AppendBytes(b, out);
  Py_DECREF(b);
  return true;
}

PyObject* DecodeUtf8(const char* p, size_t n) {
  return PyUnicode_DecodeUTF8(p, static_cast<Py_ssize_t>(n), "surrogatepass");
}

// An int key: 'i' + int64 when it fits, else 'I' + decimal.
bool EncodeIntKey(PyObject* key, std::string* out) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
  if (v == -1 && PyErr_Occurred()) return false;
  if (!overflow) {
    out->push_back('i');
    AppendLE64(static_cast<uint64_t>(v), out);
    return true;
  }
  // PyNumber_ToBase ignores a subclass's __repr__: the digits are the value.
  // Base 16 ("0x1f", "-0x1f"): not subject to the int/str digit limit.
  PyObject* digits = PyNumber_ToBase(key, 16);
  if (digits == nullptr) return false;
  out->push_back('I');
  bool ok = AppendUtf8(digits, out);
  Py_DECREF(digits);
  return ok;
}

bool EncodeKeyDepth(PyObject* key, std::string* out, int depth, bool lookup) {
  // The exact checks first: a subclass check is a call in the limited API.
  if (PyUnicode_CheckExact(key) || PyUnicode_Check(key)) {
    out->push_back('s');
    return AppendUtf8(key, out);
  }
  if (PyBytes_CheckExact(key) || PyBytes_Check(key)) {
    out->push_back('b');
    AppendBytes(key, out);
    return true;
  }
  if (PyLong_Check(key)) return EncodeIntKey(key, out);  // bool included
  if (PyFloat_Check(key)) {
    double d = PyFloat_AsDouble(key);
    if (std::isnan(d) && lookup) {
      // Never stored (writes refuse NaN), so a lookup finds nothing, as a
      // dict would not find a new NaN object either.
      out->push_back('f');
      AppendLE64(0x7ff8000000000000ull, out);
      return true;
    }
    if (std::isnan(d)) {
      PyErr_SetString(PyExc_ValueError,
                      "NaN cannot be a ZeroCopyDict key (it never compares "
                      "equal, so it could not be found again)");
      return false;
    }
    if (std::isfinite(d) && d == std::floor(d)) {
      // Integral: the same key as the equal int.
      PyObject* as_int = PyLong_FromDouble(d);
      if (as_int == nullptr) return false;
      bool ok = EncodeIntKey(as_int, out);
      Py_DECREF(as_int);
      return ok;
    }
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    out->push_back('f');
    AppendLE64(bits, out);
    return true;
  }
  if (key == Py_None) {
    out->push_back('n');
    return true;
  }
  if (PyTuple_Check(key)) {
    if (depth >= kMaxTupleDepth) {
      PyErr_SetString(PyExc_ValueError,
                      "ZeroCopyDict key: tuples nested too deeply");
      return false;
    }
    out->push_back('t');
    std::string element;
    Py_ssize_t n = PyTuple_Size(key);
    for (Py_ssize_t i = 0; i < n; ++i) {
      element.clear();
      if (!EncodeKeyDepth(PyTuple_GetItem(key, i), &element, depth + 1,
                          lookup)) {
        return false;
      }
      AppendVarint(element.size(), out);
      out->append(element);
    }
    return true;
  }
  PyErr_Format(PyExc_TypeError,
               "unsupported ZeroCopyDict key type '%.200s': keys are str, "
               "bytes, int, float, bool, None or tuples of these",
               TypeName(key).c_str());
  return false;
}

PyObject* BadKey() {
  PyErr_SetString(PyExc_ValueError,
                  "a key in this ZeroCopyDict was not written by "
                  "zero_copy_ipc (unknown or truncated encoding)");
  return nullptr;
}

PyObject* DecodeKeyRange(const char* p, const char* end, int depth) {
  if (p >= end || depth > kMaxTupleDepth) return BadKey();
  char tag = *p++;
  size_t n = static_cast<size_t>(end - p);
  switch (tag) {
    case 's':
      return DecodeUtf8(p, n);
    case 'b':
      return PyBytes_FromStringAndSize(p, static_cast<Py_ssize_t>(n));
    case 'i':
      if (n != 8) return BadKey();
      return PyLong_FromLongLong(static_cast<long long>(LoadLE64(p)));
    case 'I': {
      std::string digits(p, n);
      if (digits.empty() ||
          digits.find_first_not_of("-0123456789abcdefx") != std::string::npos) {
        return BadKey();
      }
      return PyLong_FromString(digits.c_str(), nullptr, 16);
    }
    case 'f': {
      if (n != 8) return BadKey();
      uint64_t bits = LoadLE64(p);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return PyFloat_FromDouble(d);
    }
    case 'n':
      if (n != 0) return BadKey();
      Py_RETURN_NONE;
    case 't': {
      PyObject* items = PyList_New(0);
      if (items == nullptr) return nullptr;
      while (p < end) {
        uint64_t len = 0;
        if (!ReadVarint(&p, end, &len) ||
            len > static_cast<uint64_t>(end - p)) {
          Py_DECREF(items);
          return BadKey();
        }
        PyObject* item = DecodeKeyRange(p, p + len, depth + 1);
        if (item == nullptr || PyList_Append(items, item) != 0) {
          Py_XDECREF(item);
          Py_DECREF(items);
          return nullptr;
        }
        Py_DECREF(item);
        p += len;
      }
      PyObject* tuple = PyList_AsTuple(items);
      Py_DECREF(items);
      return tuple;
    }
    default:
      return BadKey();
  }
}

// The stored form of a key (see codec.h): a str's UTF-8 as it is; a bytes
// key as it is when that cannot be read as a str key or a tagged key;
// anything else kKeyTagPrefix + the tagged encoding.
bool EncodeKeyInterop(PyObject* key, std::string* out, bool lookup) {
  if (PyUnicode_CheckExact(key) || PyUnicode_Check(key)) {
    const size_t start = out->size();
    if (AppendStrictUtf8(key, out)) return true;
    // Lone surrogates: not UTF-8, so tagged (with "surrogatepass").
    PyErr_Clear();
    out->resize(start);
  } else if (PyBytes_CheckExact(key) || PyBytes_Check(key)) {
    char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(key, &data, &size) != 0) return false;
    absl::string_view bytes(data, static_cast<size_t>(size));
    if (!bytes.empty() &&
        static_cast<unsigned char>(bytes[0]) != kKeyTagPrefix &&
        !IsUtf8(bytes)) {
      out->append(bytes.data(), bytes.size());
      return true;
    }
  }
  out->push_back(static_cast<char>(kKeyTagPrefix));
  return EncodeKeyDepth(key, out, 0, lookup);
}
}  // namespace

bool InitCodec() {
  if (g_dumps != nullptr) return true;
  if (RuntimeMinorVersion() >= 10) {
    g_as_utf8_and_size = reinterpret_cast<AsUtf8AndSizeFn>(
        dlsym(RTLD_DEFAULT, "PyUnicode_AsUTF8AndSize"));
  }
  PyObject* pickle = PyImport_ImportModule("pickle");
  if (pickle == nullptr) return false;
  PyObject* dumps = PyObject_GetAttrString(pickle, "dumps");
  PyObject* loads = dumps ? PyObject_GetAttrString(pickle, "loads") : nullptr;
  PyObject* protocol = loads ? PyLong_FromLong(5) : nullptr;
  Py_DECREF(pickle);
  if (protocol == nullptr) {
    Py_XDECREF(dumps);
    Py_XDECREF(loads);
    return false;
  }
  g_dumps = dumps;
  g_loads = loads;
  g_protocol = protocol;
  return true;
}

int RuntimeMinorVersion() {
  int major = 0, minor = 0;
  if (std::sscanf(Py_GetVersion(), "%d.%d", &major, &minor) != 2 ||
      major != 3) {
    return 0;
  }
  return minor;
}

bool AppendStrictUtf8(PyObject* str, std::string* out) {
  if (g_as_utf8_and_size != nullptr) {
    Py_ssize_t n = 0;
    const char* s = g_as_utf8_and_size(str, &n);
    if (s == nullptr) return false;
    out->append(s, static_cast<size_t>(n));
    return true;
  }
  PyObject* b = PyUnicode_AsUTF8String(str);
  if (b == nullptr) return false;
  AppendBytes(b, out);
  Py_DECREF(b);
  return true;
}

std::string TypeName(PyObject* obj) {
  std::string out;
  PyObject* name = PyObject_GetAttrString(
      reinterpret_cast<PyObject*>(Py_TYPE(obj)), "__name__");
  if (name == nullptr || !PyUnicode_Check(name) ||
      !AppendStrictUtf8(name, &out)) {
    PyErr_Clear();
    out = "?";
  }
  Py_XDECREF(name);
  return out;
}

bool IsUtf8(absl::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The well-formed sequences of the Unicode standard (table 3-7): no
    // overlong forms, no surrogates, nothing above U+10FFFF.
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

bool EncodeKey(PyObject* key, std::string* out) {
  return EncodeKeyInterop(key, out, /*lookup=*/false);
}

bool EncodeLookupKey(PyObject* key, std::string* out) {
  return EncodeKeyInterop(key, out, /*lookup=*/true);
}

PyObject* DecodeKey(absl::string_view data) {
  if (!data.empty() && static_cast<unsigned char>(data[0]) == kKeyTagPrefix) {
    PyObject* key =
        DecodeKeyRange(data.data() + 1, data.data() + data.size(), 0);
    if (key != nullptr || !PyErr_ExceptionMatches(PyExc_ValueError)) {
      return key;
    }
    PyErr_Clear();  // not this package's encoding: the bytes as they are
  } else if (IsUtf8(data)) {
    return PyUnicode_DecodeUTF8(data.data(),
                                static_cast<Py_ssize_t>(data.size()), nullptr);
  }
  return PyBytes_FromStringAndSize(data.data(),
                                   static_cast<Py_ssize_t>(data.size()));
}

bool EncodeValue(PyObject* value, std::string* out, zcipc::ValueType* type) {
  out->clear();
  if (PyBytes_CheckExact(value)) {
    *type = zcipc::ValueType::kBytes;
    AppendBytes(value, out);
    return true;
  }
  if (PyUnicode_CheckExact(value)) {
    if (AppendStrictUtf8(value, out)) {
      *type = zcipc::ValueType::kText;
      return true;
    }
    // Lone surrogates: not UTF-8 text, so pickled below.
    PyErr_Clear();
    out->clear();
  } else if (PyLong_CheckExact(value)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred()) return false;
    if (!overflow) {
      *type = zcipc::ValueType::kInt64;
      AppendLE64(static_cast<uint64_t>(v), out);
      return true;
    }
    // Larger ints are pickled below.
  } else if (PyFloat_CheckExact(value)) {
    double d = PyFloat_AsDouble(value);
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    *type = zcipc::ValueType::kFloat64;
    AppendLE64(bits, out);
    return true;
  }
  PyObject* pickled =
      PyObject_CallFunctionObjArgs(g_dumps, value, g_protocol, nullptr);
  if (pickled == nullptr) return false;
  if (!PyBytes_Check(pickled)) {
    Py_DECREF(pickled);
    PyErr_SetString(PyExc_TypeError, "pickle.dumps did not return bytes");
    return false;
  }
  // Assign, not append: pickling may have run code that used this dict on
  // this thread, and so this buffer, meanwhile.
  out->clear();
  AppendBytes(pickled, out);
  Py_DECREF(pickled);
  *type = zcipc::ValueType::kPickle;
  return true;
}

PyObject* DecodeValue(absl::string_view data, zcipc::ValueType type) {
  const char* p = data.data();
  const size_t n = data.size();
  switch (type) {
    case zcipc::ValueType::kBytes:
      break;
    case zcipc::ValueType::kText:
      if (!IsUtf8(data)) break;  // not text after all: the bytes
      return PyUnicode_DecodeUTF8(p, static_cast<Py_ssize_t>(n), nullptr);
    case zcipc::ValueType::kInt64:
      if (n != 8) break;
      return PyLong_FromLongLong(static_cast<long long>(LoadLE64(p)));
    case zcipc::ValueType::kFloat64: {
      if (n != 8) break;
      uint64_t bits = LoadLE64(p);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return PyFloat_FromDouble(d);
    }
    case zcipc::ValueType::kPickle: {
      // A copy, not a view: unpickling may run code that reads this dict
      // again on this thread and so reuses the caller's buffer.
      PyObject* bytes =
          PyBytes_FromStringAndSize(p, static_cast<Py_ssize_t>(n));
      if (bytes == nullptr) return nullptr;
      PyObject* obj = PyObject_CallFunctionObjArgs(g_loads, bytes, nullptr);
      Py_DECREF(bytes);
      return obj;
    }
  }
  // kBytes, a type this version does not know, or a typed value whose bytes
  // do not fit its type: the bytes as they are.
  return PyBytes_FromStringAndSize(p, static_cast<Py_ssize_t>(n));
}

}  // namespace zcipc_py
