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
// The shared side of every call is assumed 8-byte aligned when `n >= 8`
// (blocks are 16-aligned and keys and values start at 8-aligned offsets);
// the private side may be anything.

#ifndef ZCIPC_ENGINE_LAYOUT_RELAXED_H_
#define ZCIPC_ENGINE_LAYOUT_RELAXED_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace zcipc {
namespace relaxed {

inline uint64_t Load64(const char* shared) {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(shared),
                         __ATOMIC_RELAXED);
}

inline void Store64(char* shared, uint64_t v) {
  __atomic_store_n(reinterpret_cast<uint64_t*>(shared), v, __ATOMIC_RELAXED);
}

// Copies n shared bytes to private memory.
inline void CopyFromShared(char* dst, const char* shared, size_t n) {
  size_t i = 0;
  if ((reinterpret_cast<uintptr_t>(shared) & 7) == 0) {
    for (; i + 8 <= n; i += 8) {
      uint64_t w = Load64(shared + i);
      memcpy(dst + i, &w, 8);
    }
  }
  for (; i < n; ++i) dst[i] = __atomic_load_n(shared + i, __ATOMIC_RELAXED);
}

// Copies n private bytes into shared memory.
inline void CopyToShared(char* shared, const char* src, size_t n) {
  size_t i = 0;
  if ((reinterpret_cast<uintptr_t>(shared) & 7) == 0) {
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      memcpy(&w, src + i, 8);
      Store64(shared + i, w);
    }
  }
  for (; i < n; ++i) __atomic_store_n(shared + i, src[i], __ATOMIC_RELAXED);
}

// Compares n shared bytes with private ones.
inline bool EqualsShared(const char* shared, const char* p, size_t n) {
  size_t i = 0;
  if ((reinterpret_cast<uintptr_t>(shared) & 7) == 0) {
    for (; i + 8 <= n; i += 8) {
      uint64_t w, v;
      w = Load64(shared + i);
      memcpy(&v, p + i, 8);
      if (w != v) return false;
    }
  }
  for (; i < n; ++i) {
    if (__atomic_load_n(shared + i, __ATOMIC_RELAXED) != p[i]) return false;
  }
  return true;
}

}  // namespace relaxed
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_LAYOUT_RELAXED_H_
