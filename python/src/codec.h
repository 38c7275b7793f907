// The byte encoding the Python package uses for keys and values.
//
// Keys are encoded canonically, so that two keys a Python dict treats as the
// same key (1, 1.0 and True; 0, 0.0, -0.0 and False) have the same bytes in
// every process, and keys a dict treats as different ("a" and b"a") do not.
// Every encoding starts with one tag byte:
//
//   's' + UTF-8 (lone surrogates kept with "surrogatepass")   str
//   'b' + raw bytes                                           bytes
//   'i' + 8-byte little-endian two's complement               int in int64
//                                                             (also bool and
//                                                             integral float)
//   'I' + hexadecimal "0x..." or "-0x..."                      other int
//   'f' + 8-byte IEEE-754 double, little-endian               other float
//   'n'                                                       None
//   't' + (varint length + element encoding)*                 tuple
//
// NaN keys are refused by writes (a NaN is never equal to itself, so a dict
// could not find it again either); lookups of NaN simply find nothing.
// Tuples nest at most 64 deep, when encoding and when decoding.
//
// Values are tagged the same way, with upper-case tags so a value is never
// mistaken for a key in a dump:
//
//   'B' + raw bytes (bytes are stored raw, never pickled)
//   'S' + UTF-8 (exact str)         'I' + 8-byte int64 (exact int in range)
//   'F' + 8-byte double (float)     'N' None    'T' True    'X' False
//   'P' + pickle protocol 5         everything else (subclasses included)
//
// Decoding never trusts the bytes: a wrong length or an unknown tag is an
// error naming the dict, never a crash. Pickle payloads are decoded only
// after the engine has returned a consistent copy.

#ifndef ZCIPC_PYTHON_SRC_CODEC_H_
#define ZCIPC_PYTHON_SRC_CODEC_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace zcipc_py {

// Imports pickle's dumps/loads once. False with a Python error set.
bool InitCodec();

// The running interpreter's minor version (9 for 3.9), from Py_GetVersion()
// (the module is built once for every CPython 3.9+, see python/BUILD.bazel).
int RuntimeMinorVersion();

// Appends the UTF-8 of `str` (a str) to *out. False with UnicodeEncodeError
// set for a str with lone surrogates.
bool AppendStrictUtf8(PyObject* str, std::string* out);

// type(obj).__name__, for a message ("?" if it cannot be had).
std::string TypeName(PyObject* obj);

// Appends the canonical encoding of `key` to *out. False with TypeError
// (unsupported type) or ValueError (NaN, nesting) set.
bool EncodeKey(PyObject* key, std::string* out);
// As EncodeKey, for a lookup: NaN encodes to bytes no write ever stores.
bool EncodeLookupKey(PyObject* key, std::string* out);
// A new reference to the key `data` encodes; nullptr with ValueError set when
// the bytes are not a key this package wrote.
PyObject* DecodeKey(absl::string_view data);

// Replaces *out with the encoding of `value`. False with an error set (for
// example an object pickle refuses). Pickling may run Python code (which
// may use *out's owner again): *out is written only after it returns.
bool EncodeValue(PyObject* value, std::string* out);
// A new reference to the value `data` encodes; nullptr with an error set.
PyObject* DecodeValue(absl::string_view data);

// Value encodings used by the atomic counter (add).
inline constexpr char kIntTag = 'I';
inline constexpr size_t kIntSize = 9;
std::string EncodeInt64(int64_t v);
// True and *v set if `data` is an encoded int64.
bool DecodeInt64(absl::string_view data, int64_t* v);

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_CODEC_H_
