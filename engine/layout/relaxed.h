// Access to shared bytes that another process may be writing at the same
// time: the heap bytes a seqlock reader copies, and the words the writer
// stores there.
//
// A seqlock reader copies data that a writer may be changing and throws the
// copy away if the sequence moved (engine/index/seqlock.h). In the C++ memory
// model that copy must be made of atomic accesses, or it is a data race (and
// undefined behaviour, and a ThreadSanitizer report), so these helpers copy
// with relaxed atomic loads and stores, a 64-bit word at a time where both
// sides allow it. On x86-64 and AArch64 a relaxed load or store is a plain
// mov/ldr, so the cost is a copy loop the compiler cannot vectorise.
//
// The private side of every call may be anything; see below for the shared
// side.

#ifndef ZCIPC_ENGINE_LAYOUT_RELAXED_H_
#define ZCIPC_ENGINE_LAYOUT_RELAXED_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/config.h"

static_assert(ABSL_IS_LITTLE_ENDIAN, "EqualsShared masks assume little-endian");

namespace zcipc {
namespace relaxed {

inline uint64_t Load64(const char* shared) {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(shared),
                         __ATOMIC_RELAXED);
}

inline void Store64(char* shared, uint64_t v) {
  __atomic_store_n(reinterpret_cast<uint64_t*>(shared), v, __ATOMIC_RELAXED);
}

// Precondition of the three copies below: the shared side starts 8-byte
// aligned and is readable and writable up to the next multiple of 8 bytes
// (keys and values sit in entry blocks that pad each to 8, see
// engine/layout/layout.h). So the last partial word is moved whole: one
// load instead of a byte loop. CopyToShared zeroes the padding bytes.

// The k < 8 private bytes at p as the low bytes of a word (no call to a
// variable-length memcpy on the hot path).
inline uint64_t TailWord(const char* p, size_t k) {
  uint64_t w = 0;
  for (size_t j = k; j-- > 0;) w = (w << 8) | static_cast<unsigned char>(p[j]);
  return w;
}

// Copies n shared bytes to private memory.
inline void CopyFromShared(char* dst, const char* shared, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t a = Load64(shared + i), b = Load64(shared + i + 8),
             c = Load64(shared + i + 16), d = Load64(shared + i + 24);
    memcpy(dst + i, &a, 8);
    memcpy(dst + i + 8, &b, 8);
    memcpy(dst + i + 16, &c, 8);
    memcpy(dst + i + 24, &d, 8);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w = Load64(shared + i);
    memcpy(dst + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = Load64(shared + i);
    for (; i < n; ++i, w >>= 8) dst[i] = static_cast<char>(w);  // LE order
  }
}

// Copies n private bytes into shared memory.
inline void CopyToShared(char* shared, const char* src, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, src + i, 8);
    Store64(shared + i, w);
  }
  if (i < n) {
    Store64(shared + i, TailWord(src + i, n - i));
  }
}

// Compares n shared bytes with private ones.
inline bool EqualsShared(const char* shared, const char* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = Load64(shared + i), v;
    memcpy(&v, p + i, 8);
    if (w != v) return false;
  }
  if (i < n) {
    // Little-endian: the first n - i bytes are the low ones.
    uint64_t mask = ~uint64_t{0} >> (8 * (8 - (n - i)));
    if ((Load64(shared + i) & mask) != TailWord(p + i, n - i)) return false;
  }
  return true;
}

}  // namespace relaxed
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_LAYOUT_RELAXED_H_
