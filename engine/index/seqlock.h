// Seqlock primitives for shared memory, after Boehm, "Can Seqlocks Get Along
// with Programming Language Memory Models?" (MSPC 2012), section 4: the
// portable recipe, no x86-only compiler fences.
//
// Writer (exactly one at a time: it holds the writer lock):
//   seq.store(s + 1, relaxed)           // odd: "being written"
//   atomic_thread_fence(release)        // (W1) orders the odd store before
//                                       //      every data store below
//   data stores, relaxed atomics
//   seq.store(s + 2, release)           // (W2) even again; pairs with (R1)
//
// Reader (any number, no lock, no stores to shared memory):
//   s1 = seq.load(acquire)              // (R1) pairs with (W2): if s1 is
//                                       //      even, the data of that
//                                       //      version is visible
//   if s1 odd: a writer is inside; wait and retry
//   data loads, relaxed atomics (copy, compare, bounds-check)
//   atomic_thread_fence(acquire)        // (R2) pairs with (W1): if any load
//                                       //      saw a store made after (W1),
//                                       //      the odd store is visible below
//   s2 = seq.load(relaxed)
//   s1 == s2: the loads saw exactly version s1; otherwise discard and retry
//
// Everything a reader derives from its loads (lengths, offsets) must be
// bounds-checked before it is dereferenced, because before validation the
// loads may mix two versions.

#ifndef ZCIPC_ENGINE_INDEX_SEQLOCK_H_
#define ZCIPC_ENGINE_INDEX_SEQLOCK_H_

#include <atomic>
#include <cstdint>

namespace zcipc {
namespace seqlock {

// (R1)
inline uint64_t ReadBegin(const std::atomic<uint64_t>& seq) {
  return seq.load(std::memory_order_acquire);
}

inline bool IsWriting(uint64_t s) { return (s & 1) != 0; }

// (R2) and the reload: true if nothing changed since ReadBegin returned s1.
inline bool ReadValidate(const std::atomic<uint64_t>& seq, uint64_t s1) {
  std::atomic_thread_fence(std::memory_order_acquire);
  return seq.load(std::memory_order_relaxed) == s1;
}

// After one (R2) fence, further sequences can be checked with plain relaxed
// reloads.
inline bool Unchanged(const std::atomic<uint64_t>& seq, uint64_t s1) {
  return seq.load(std::memory_order_relaxed) == s1;
}

// (W1). Only the lock holder calls these. If the sequence is already odd (a
// crashed writer's leftover that repair is now finishing) it stays odd.
inline void WriteBegin(std::atomic<uint64_t>& seq) {
  uint64_t s = seq.load(std::memory_order_relaxed);
  if (!IsWriting(s)) seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

// (W2)
inline void WriteEnd(std::atomic<uint64_t>& seq) {
  uint64_t s = seq.load(std::memory_order_relaxed);
  seq.store(IsWriting(s) ? s + 1 : s + 2, std::memory_order_release);
}

}  // namespace seqlock
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_INDEX_SEQLOCK_H_
