// DictImpl: the engine behind zcipc::ZeroCopyDict. It owns the mapping and
// the writer lock, and composes the layout, the index, the allocator and the
// write protocol.
//
// The write protocol (every mutation, under the writer lock):
//   1. Take the lock. If the header's intent record is not kNone, the last
//      holder died mid-operation: Repair() first (repair.cc).
//   2. Record the intent (op, slot, blocks, phase kStarted), op stored last
//      with release.
//   3. Stage the new bytes where no reader looks: a fresh block (insert,
//      relocation) or the journal (in-place update). Phase kStaged.
//   4. Publish under the slot's seqlock: the slot points at the new block,
//      or the block's value is overwritten from the same bytes.
//      Phase kPublished.
//   5. Free what is no longer referenced, update counters, clear the intent.
// A kill before step 3 completes rolls back (the slot never changed); a
// kill after it rolls forward (the staged bytes are complete). Either way the
// allocator is then rebuilt from the slots, so a half-done split or coalesce
// cannot leak or double-own a block.
//
// Thread safety: thread-safe (see ZeroCopyDict).

#ifndef ZCIPC_ENGINE_DICT_DICT_IMPL_H_
#define ZCIPC_ENGINE_DICT_DICT_IMPL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/alloc/allocator.h"
#include "engine/index/index.h"
#include "engine/layout/layout.h"
#include "engine/lock/writer_lock.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace internal {

// Test-only: called at every step of the write protocol with the step's
// name ("insert.staged", ...). A torture test installs a hook that kills the
// process at the Nth step to exercise every repair path.
using CrashHook = void (*)(const char* step);
void SetCrashHookForTesting(CrashHook hook);

class DictImpl {
 public:
  static absl::StatusOr<std::unique_ptr<DictImpl>> Create(
      absl::string_view name, const Options& options);
  static absl::StatusOr<std::unique_ptr<DictImpl>> Attach(
      absl::string_view name, const Options& options);
  static ZeroCopyDict Wrap(std::unique_ptr<DictImpl> impl) {
    return ZeroCopyDict(std::move(impl));
  }

  ~DictImpl();

  absl::Status Put(absl::string_view key, absl::string_view value);
  absl::Status Erase(absl::string_view key);
  absl::Status GetLocked(absl::string_view key, std::string* value);

  // --- The same, for a caller that holds the lock (batches, RMW). ---
  absl::Status PutLocked(absl::string_view key, absl::string_view value);
  absl::Status EraseLocked(absl::string_view key);
  absl::Status GetUnderLock(absl::string_view key, std::string* value) const;
  // Read-modify-write: fn(old or nullopt, &out, &write); when fn returns OK
  // and leaves write true, `out` is stored. The dict is unchanged otherwise.
  using UpdateFn = absl::FunctionRef<absl::Status(
      std::optional<absl::string_view> old, std::string* out, bool* write)>;
  absl::Status UpdateLocked(absl::string_view op, absl::string_view key,
                            const UpdateFn& fn);
  // Prefixes Where(op) to an error that does not name the dict yet (errors
  // from the parts: index, allocator). OK and NotFound pass unchanged (and
  // inline: this wraps every write's result).
  absl::Status Annotate(absl::string_view op, absl::Status s) const {
    if (ABSL_PREDICT_TRUE(s.ok())) return s;
    return AnnotateError(op, std::move(s));
  }
  absl::Status AnnotateError(absl::string_view op, absl::Status s) const;

  // Runs fn with the writer lock held (after any repair).
  absl::Status WithLock(absl::string_view op,
                        absl::FunctionRef<absl::Status()> fn);

  // The lock-free lookup: fn(entry) runs with the seqlock open (maybe more
  // than once); OK once a run was validated.
  template <typename Fn>
  absl::Status Find(absl::string_view key, Fn&& fn) const {
    if (key.size() > kMaxKeySize) return KeyTooLong("Get", key.size());
    auto on_stall = [this] { return RepairIfWriterDead(); };
    index::Backoff backoff(on_stall);
    absl::Status s =
        index_.Find(key, index::HashKey(key), backoff, std::forward<Fn>(fn));
    if (backoff.retries() != 0) {
      read_retries_.fetch_add(backoff.retries(), std::memory_order_relaxed);
    }
    if (ABSL_PREDICT_FALSE(!s.ok() && !absl::IsNotFound(s))) {
      return Annotate("Get", std::move(s));
    }
    return s;
  }

  absl::Status ForEach(
      absl::FunctionRef<void(absl::string_view, absl::string_view)> fn) const;
  uint64_t Size() const {
    return header_->size.load(std::memory_order_relaxed);
  }
  Stats GetStats() const;
  AllocatorStats GetAllocatorStats();
  absl::Status Check();
  absl::StatusOr<Inspection> Inspect() const;  // inspect.cc

  const std::string& name() const { return name_; }

 private:
  DictImpl(std::string name, const Options& options, char* base,
           const layout::Geometry& geometry, int fd, int lock_fd);

  // Opens a failure message with the dict and the operation.
  std::string Where(absl::string_view op) const;

  absl::Status KeyTooLong(absl::string_view op, uint64_t size) const;

  // Takes the writer lock and repairs a dead writer's leftovers.
  absl::Status LockForWrite(absl::string_view op);
  void Unlock() { lock_.Unlock(); }

  // Called by a reader stuck on an odd sequence: if the lock is free, the
  // writer is dead; repair. OK when the lock is busy (keep waiting).
  absl::Status RepairIfWriterDead() const;

  // --- repair.cc ---
  // Finishes or undoes the operation in the intent record, then rebuilds
  // the allocator and the counters from the slots. Idempotent. Lock held.
  absl::Status Repair();
  // Rebuilds the index from the heap's allocated blocks (a purge died).
  absl::Status RebuildIndexFromHeap();
  absl::Status RebuildAllocatorFromSlots();

  // --- check.cc ---
  absl::Status CheckLocked() const;

  // Where a key is, or would go (lock held). Filled by Locate; no default
  // initialisers (the write path's hot struct): Locate sets every field a
  // caller reads.
  struct Located {
    uint64_t hash;
    uint64_t slot;       // ~0 when absent
    uint64_t block;      // when found
    index::Entry entry;  // when found
    uint64_t insert_at;  // when not found (~0: no free slot)
    bool found() const { return slot != ~uint64_t{0}; }
  };
  absl::Status Locate(absl::string_view op, absl::string_view key,
                      Located* at) const {
    if (ABSL_PREDICT_FALSE(key.size() > kMaxKeySize)) {
      return KeyTooLong(op, key.size());
    }
    return LocateHashed(op, key, index::HashKey(key), at);
  }
  // The same with the key's hash already computed (and its size checked).
  absl::Status LocateHashed(absl::string_view op, absl::string_view key,
                            uint64_t hash, Located* at) const {
    at->hash = hash;
    absl::Status s = index_.FindForWrite(
        key, at->hash, &at->slot, &at->insert_at, &at->block, &at->entry);
    if (ABSL_PREDICT_FALSE(!s.ok())) return Prefix(op, std::move(s));
    return s;
  }
  // Stores `value` for the located key: in place, relocated, or inserted.
  absl::Status Store(absl::string_view op, const Located& at,
                     absl::string_view key, absl::string_view value) {
    if (at.found() && value.size() <= at.entry.value_room &&
        value.size() <= layout::kJournalBytes) {
      return UpdateInPlace(at.slot, at.block, at.entry, value);
    }
    return StoreSlow(op, at, key, value);
  }
  absl::Status StoreSlow(absl::string_view op, const Located& at,
                         absl::string_view key, absl::string_view value);
  // "dict 'name': op: message".
  absl::Status Prefix(absl::string_view op, absl::Status s) const;

  // The steps of the write protocol (write.cc). Lock held.
  absl::Status Insert(uint64_t slot, uint64_t hash, absl::string_view key,
                      absl::string_view value);
  absl::Status UpdateInPlace(uint64_t slot, uint64_t block,
                             const index::Entry& e, absl::string_view value);
  absl::Status Relocate(uint64_t slot, uint64_t old_block, uint64_t hash,
                        absl::string_view key, absl::string_view value);
  absl::Status EraseSlot(uint64_t slot, uint64_t block);
  absl::Status Purge();
  void BeginIntent(layout::Op op, uint64_t slot, uint64_t old_block,
                   uint64_t hash);
  void SetPhase(uint64_t phase);
  void EndIntent();
  // Writes key and value into the (allocated) entry block.
  void WriteEntry(uint64_t block, absl::string_view key,
                  absl::string_view value);
  absl::Status HeapFull(absl::string_view op, uint64_t needed) const;

  std::string name_;
  Options options_;
  char* base_;
  layout::Geometry geometry_;
  layout::Header* header_;
  char* journal_;
  index::Index index_;
  alloc::Allocator alloc_;
  // mutable: a reader that finds a dead writer takes the lock to repair.
  mutable lock::WriterLock lock_;
  mutable std::atomic<uint64_t> read_retries_{0};

  friend class zcipc::ZeroCopyDict;
  friend absl::StatusOr<Inspection> zcipc::Inspect(const ZeroCopyDict&);
};

}  // namespace internal
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_DICT_DICT_IMPL_H_
