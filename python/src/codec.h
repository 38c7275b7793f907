// The byte encoding the Python package uses for keys and values: the one
// other languages read and write too (docs/PYTHON.md, "Interop").
//
// Keys. A str key is stored as its UTF-8, exactly the bytes C++ Get("k1")
// and `zcipc get NAME k1` use. Every other key is stored as the byte 0xFF
// (kKeyTagPrefix, which never begins valid UTF-8, so no str key has these
// bytes) followed by a tagged encoding, canonical so that two keys a Python
// dict treats as the same key (1, 1.0 and True; 0, 0.0, -0.0 and False)
// have the same bytes in every process, and keys a dict treats as
// different ("a" and b"a") do not:
//
//   's' + UTF-8 with "surrogatepass"                           str (in a
//                                 tuple, or a top-level str with lone
//                                 surrogates, which is not UTF-8)
//   'b' + raw bytes                                           bytes
//   'i' + 8-byte little-endian two's complement               int in int64
//                                                             (also bool and
//                                                             integral float)
//   'I' + hexadecimal "0x..." or "-0x..."                      other int
//   'f' + 8-byte IEEE-754 double, little-endian               other float
//   'n'                                                       None
//   't' + (varint length + element encoding)*                 tuple
//
// A bytes key is stored raw (no prefix) when it is not valid UTF-8 and does
// not begin with 0xFF: so binary keys another language wrote come back from
// keys() as bytes and d[those bytes] finds them. A bytes key that is valid
// UTF-8 (b"k") or begins with 0xFF is stored 0xFF 'b' + bytes, so b"k" and
// "k" stay two entries, as in a Python dict.
//
// Decoding a stored key never fails on foreign bytes: valid UTF-8 -> str;
// 0xFF + a tagged encoding that parses -> that object; anything else ->
// bytes.
//
// NaN keys are refused by writes (a NaN is never equal to itself, so a dict
// could not find it again either); lookups of NaN simply find nothing.
// Tuples nest at most 64 deep, when encoding and when decoding.
//
// Values are stored with a zcipc::ValueType beside them, not inside their
// bytes:
//
//   bytes (exact)                  kBytes    the bytes
//   str (exact, valid UTF-8)       kText     UTF-8
//   int (exact, fits int64)        kInt64    8 bytes little-endian (Add's)
//   float (exact)                  kFloat64  8-byte IEEE-754, little-endian
//   everything else (None, bool,   kPickle   pickle protocol 5
//   bigger ints, subclasses, str with lone surrogates, ...)
//
// Reading: kBytes -> bytes, kText -> str, kInt64 -> int, kFloat64 -> float,
// kPickle -> the unpickled object; a type this version does not know, or a
// kText/kInt64/kFloat64 value whose bytes do not fit it, -> bytes. Pickle
// payloads are decoded only after the engine has returned a consistent copy.

#ifndef ZCIPC_PYTHON_SRC_CODEC_H_
#define ZCIPC_PYTHON_SRC_CODEC_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "zcipc/options.h"

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

// The first byte of every key stored in the tagged encoding (see above).
inline constexpr unsigned char kKeyTagPrefix = 0xFF;

// True if `data` is well-formed UTF-8 (what Python's strict decoder
// accepts: no overlong forms, no surrogates, nothing above U+10FFFF).
bool IsUtf8(absl::string_view data);

// Appends the stored form of `key` to *out. False with TypeError
// (unsupported type) or ValueError (NaN, nesting) set.
bool EncodeKey(PyObject* key, std::string* out);
// As EncodeKey, for a lookup: NaN encodes to bytes no write ever stores.
bool EncodeLookupKey(PyObject* key, std::string* out);
// A new reference to the key stored as `data` (str, bytes or a tagged
// object; never an error for foreign bytes); nullptr only with an error
// such as MemoryError set.
PyObject* DecodeKey(absl::string_view data);

// Replaces *out with the stored bytes of `value` and sets *type. False with
// an error set (for example an object pickle refuses). Pickling may run
// Python code (which may use *out's owner again): *out is written only
// after it returns.
bool EncodeValue(PyObject* value, std::string* out, zcipc::ValueType* type);
// A new reference to the value stored as `data` with `type`; nullptr with
// an error set (an unpicklable kPickle payload).
PyObject* DecodeValue(absl::string_view data, zcipc::ValueType type);

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_CODEC_H_
