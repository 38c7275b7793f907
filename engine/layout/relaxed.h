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

#include "absl/base/attributes.h"
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
// Shared-side accesses are always aligned 8-byte words; only the private
// side is read or written with (in-bounds) overlapping unaligned accesses,
// so no call ever touches a private byte outside [p, p + n).

// The k < 8 private bytes at p as the low bytes of a word, for k == n (a
// private buffer shorter than a word): overlapping 4- or 2-byte loads, no
// byte loop and no call to a variable-length memcpy.
inline uint64_t SmallWord(const char* p, size_t k) {
  if (k >= 4) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + k - 4, 4);
    return uint64_t{lo} | (uint64_t{hi} << (8 * (k - 4)));
  }
  if (k >= 2) {
    uint16_t lo, hi;
    memcpy(&lo, p, 2);
    memcpy(&hi, p + k - 2, 2);
    return uint64_t{lo} | (uint64_t{hi} << (8 * (k - 2)));
  }
  return k == 0 ? 0 : static_cast<unsigned char>(p[0]);
}

// The last k = n - i bytes (1 <= k < 8) of the n private bytes at p, as the
// low bytes of a word: when n >= 8, one unaligned load of the word that
// ends at p + n, shifted.
inline uint64_t TailWord(const char* p, size_t n, size_t i) {
  if (n >= 8) {
    uint64_t w;
    memcpy(&w, p + n - 8, 8);
    return w >> (8 * (8 - (n - i)));
  }
  return SmallWord(p, n);  // i == 0
}

// Stores the low k bytes of w (k < 8) at p.
inline void StoreSmall(char* p, uint64_t w, size_t k) {
  if (k >= 4) {
    uint32_t lo = static_cast<uint32_t>(w);
    uint32_t hi = static_cast<uint32_t>(w >> (8 * (k - 4)));
    memcpy(p + k - 4, &hi, 4);
    memcpy(p, &lo, 4);
  } else if (k >= 2) {
    uint16_t lo = static_cast<uint16_t>(w);
    uint16_t hi = static_cast<uint16_t>(w >> (8 * (k - 2)));
    memcpy(p + k - 2, &hi, 2);
    memcpy(p, &lo, 2);
  } else if (k == 1) {
    p[0] = static_cast<char>(w);
  }
}

// Copies n shared bytes to private memory.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CopyFromShared(char* dst,
                                                        const char* shared,
                                                        size_t n) {
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
    size_t k = n - i;
    uint64_t last = Load64(shared + i);
    if (i >= 8) {
      // The 8 bytes that end at n: the high bytes of the previous word and
      // the low k of the last one (little-endian), one unaligned store.
      uint64_t prev = Load64(shared + i - 8);
      uint64_t w = (prev >> (8 * k)) | (last << (8 * (8 - k)));
      memcpy(dst + n - 8, &w, 8);
    } else {
      StoreSmall(dst, last, k);
    }
  }
}

// Copies n private bytes into shared memory.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CopyToShared(char* shared,
                                                      const char* src,
                                                      size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t a, b, c, d;
    memcpy(&a, src + i, 8);
    memcpy(&b, src + i + 8, 8);
    memcpy(&c, src + i + 16, 8);
    memcpy(&d, src + i + 24, 8);
    Store64(shared + i, a);
    Store64(shared + i + 8, b);
    Store64(shared + i + 16, c);
    Store64(shared + i + 24, d);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, src + i, 8);
    Store64(shared + i, w);
  }
  if (i < n) Store64(shared + i, TailWord(src, n, i));
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
    if ((Load64(shared + i) & mask) != TailWord(p, n, i)) return false;
  }
  return true;
}

}  // namespace relaxed
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_LAYOUT_RELAXED_H_
