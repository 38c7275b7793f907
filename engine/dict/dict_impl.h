// DictImpl: the engine behind zcipc::ZeroCopyDict. It owns the mapping and
// the writer lock, and composes the layout, the index, the allocator and the
// write protocol (docs/DESIGN.md, "The write protocol"; the steps are in
// write.cc, crash repair in repair.cc, read-modify-write in rmw.cc).
//
// Errors. Internal functions return errors that say what went wrong, with an
// ErrorKind where a caller may need to tell failures apart; the public entry
// points add "dict 'NAME': Op: " once, through Annotate (engine/status).
//
// Thread safety: thread-safe (see ZeroCopyDict).

#ifndef ZCIPC_ENGINE_DICT_DICT_IMPL_H_
#define ZCIPC_ENGINE_DICT_DICT_IMPL_H_

#include <algorithm>
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
#include "engine/changes/change_log.h"
#include "engine/index/index.h"
#include "engine/layout/layout.h"
#include "engine/lock/writer_lock.h"
#include "engine/status/status.h"
#include "zcipc/inspect.h"
#include "zcipc/options.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace internal {

// CrashHook and SetCrashHookForTesting: engine/status/status.h.

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

  absl::Status Put(absl::string_view key, absl::string_view value,
                   ValueType type = ValueType::kBytes);
  absl::Status Erase(absl::string_view key);
  absl::Status GetLocked(absl::string_view key, std::string* value);

  // --- The same, for a caller that holds the lock (batches, RMW). Errors
  // carry no context: the caller annotates with its own operation. ---
  absl::Status PutLocked(absl::string_view key, absl::string_view value,
                         ValueType type = ValueType::kBytes);
  absl::Status EraseLocked(absl::string_view key);
  absl::Status GetUnderLock(absl::string_view key, std::string* value,
                            ValueType* type = nullptr) const;
  // Read-modify-write: fn(old or nullopt, &out, &write); when fn returns OK
  // and leaves write true, `out` is stored as `store_type`. The dict is
  // unchanged otherwise. *old_type (if given) is the old value's type
  // before fn runs.
  using UpdateFn = absl::FunctionRef<absl::Status(
      std::optional<absl::string_view> old, std::string* out, bool* write)>;
  absl::Status UpdateLocked(absl::string_view key, const UpdateFn& fn,
                            ValueType store_type = ValueType::kBytes,
                            ValueType* old_type = nullptr);
  // rmw.cc: the counter and compare-and-swap, on UpdateLocked.
  absl::StatusOr<int64_t> AddLocked(absl::string_view key, int64_t delta);
  absl::StatusOr<bool> CompareAndSwapLocked(
      absl::string_view key, std::optional<absl::string_view> expected,
      absl::string_view desired, ValueType type = ValueType::kBytes);

  // The one place an error gets "dict 'NAME': op: " (engine/status/status.h).
  // OK and a key's NotFound (no message: it must not allocate) pass
  // unchanged, inline: this wraps every operation's result.
  absl::Status Annotate(absl::string_view op, absl::Status s) const {
    if (ABSL_PREDICT_TRUE(s.ok())) return s;
    return AnnotateError(op, std::move(s));
  }
  absl::Status AnnotateError(absl::string_view op, absl::Status s) const;

  // Runs fn with the writer lock held (after any repair); annotates with op.
  absl::Status WithLock(absl::string_view op,
                        absl::FunctionRef<absl::Status()> fn);

  // The lock-free lookup: fn(entry) runs with the seqlock open (maybe more
  // than once); OK once a run was validated. `op` names the caller in
  // errors.
  template <typename Fn>
  absl::Status Find(absl::string_view op, absl::string_view key,
                    Fn&& fn) const {
    if (ABSL_PREDICT_FALSE(key.size() > kMaxKeySize)) {
      return Annotate(op, KeyTooLong(key.size()));
    }
    auto on_stall = [this] { return RepairIfWriterDead(); };
    auto on_timeout = [this] { return ReadTimeout(); };
    index::Backoff backoff(on_stall, on_timeout, read_timeout_nanos_);
    absl::Status s =
        index_.Find(key, index::HashKey(key), backoff, std::forward<Fn>(fn));
    if (backoff.retries() != 0) {
      read_retries_.fetch_add(backoff.retries(), std::memory_order_relaxed);
    }
    return Annotate(op, std::move(s));
  }

  absl::Status ForEach(
      absl::FunctionRef<void(absl::string_view, absl::string_view, ValueType)>
          fn) const;
  // The change feed (lock-free).
  uint64_t ChangeSeq() const {
    return header_->change_seq.load(std::memory_order_acquire);
  }
  absl::StatusOr<uint64_t> WaitForChange(uint64_t since,
                                         absl::Duration timeout) const;
  absl::StatusOr<uint64_t> ReadChanges(
      uint64_t since, absl::FunctionRef<void(const Change&)> fn) const;
  uint64_t Size() const {
    return header_->size.load(std::memory_order_relaxed);
  }
  // grow.cc: ZeroCopyDict::Reserve.
  absl::Status Reserve(uint64_t max_items, uint64_t heap_size);
  Stats GetStats() const;
  AllocatorStats GetAllocatorStats();
  absl::Status Check();
  absl::StatusOr<Inspection> Inspect() const;  // inspect.cc

  const std::string& name() const { return name_; }

 private:
  DictImpl(std::string name, const Options& options, char* base,
           const layout::Geometry& geometry, int fd);

  // Holds the writer lock for a scope (as LevelDB's MutexLock), after
  // repairing a dead writer's leftovers. status() says whether it was taken;
  // the destructor releases it only then.
  class WriteGuard {
   public:
    explicit WriteGuard(DictImpl* dict) : dict_(dict), status_(dict->Lock()) {}
    ~WriteGuard() {
      if (status_.ok()) dict_->lock_.Unlock();
    }
    const absl::Status& status() const { return status_; }
    WriteGuard(const WriteGuard&) = delete;
    WriteGuard& operator=(const WriteGuard&) = delete;

   private:
    DictImpl* dict_;
    absl::Status status_;
  };

  // "dict 'name': op".
  std::string Where(absl::string_view op) const;

  static absl::Status KeyTooLong(uint64_t size);
  absl::Status TableFull() const;
  absl::Status HeapFull(uint64_t needed) const;
  // DeadlineExceeded (kReadTimeout) for a read that waited lock_timeout.
  absl::Status ReadTimeout() const;

  // Takes the writer lock and repairs a dead writer's leftovers (use
  // WriteGuard).
  absl::Status Lock();

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
  absl::Status CheckMigrationLocked() const;

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
  absl::Status Locate(absl::string_view key, Located* at) const {
    if (ABSL_PREDICT_FALSE(key.size() > kMaxKeySize)) {
      return KeyTooLong(key.size());
    }
    return LocateHashed(key, index::HashKey(key), at);
  }
  // The same with the key's hash already computed (and its size checked).
  absl::Status LocateHashed(absl::string_view key, uint64_t hash,
                            Located* at) const {
    at->hash = hash;
    return index_.FindForWrite(key, at->hash, &at->slot, &at->insert_at,
                               &at->block, &at->entry);
  }
  // Stores `value` for the located key: in place, relocated, or inserted.
  absl::Status Store(const Located& at, absl::string_view key,
                     absl::string_view value, ValueType type) {
    if (at.found() && value.size() <= at.entry.value_room &&
        value.size() <= layout::kJournalBytes) {
      return UpdateInPlace(at.slot, at.block, at.entry, key, value, type);
    }
    return StoreSlow(at, key, value, type);
  }
  absl::Status StoreSlow(const Located& at, absl::string_view key,
                         absl::string_view value, ValueType type);

  // The steps of the write protocol (write.cc). Lock held.
  absl::Status Insert(uint64_t slot, uint64_t hash, absl::string_view key,
                      absl::string_view value, ValueType type);
  absl::Status UpdateInPlace(uint64_t slot, uint64_t block,
                             const index::Entry& e, absl::string_view key,
                             absl::string_view value, ValueType type);
  absl::Status Relocate(uint64_t slot, uint64_t old_block, uint64_t hash,
                        absl::string_view key, absl::string_view value,
                        ValueType type);
  absl::Status EraseSlot(uint64_t slot, uint64_t block, absl::string_view key);
  absl::Status Purge();
  // Allocates a block for key and value and writes them into it, recording
  // it in the intent (phase kStaged on success). The shared staging step of
  // Insert and Relocate. HeapFull leaves the intent open for AbortIntent.
  absl::StatusOr<uint64_t> StageEntry(const char* step_allocated,
                                      absl::string_view key,
                                      absl::string_view value, ValueType type);
  // Records the intent; for an operation that is a change (not a purge),
  // first stages its change-log record for `key`.
  void BeginIntent(layout::Op op, uint64_t slot, uint64_t old_block,
                   uint64_t hash, absl::string_view key);
  void SetPhase(uint64_t phase);
  // Closes the intent of a write that took effect (counts it and publishes
  // its change number).
  void EndIntent();
  // Makes change `seq` the last completed one (if it is newer) and wakes
  // WaitForChange callers if any wait.
  void PublishChange(uint64_t seq);
  // Closes the intent of a step that changed nothing a reader sees (a write
  // that failed before staging, or a purge, which has its own counter).
  void AbortIntent();
  // Writes key and value into the (allocated) entry block.
  void WriteEntry(uint64_t block, absl::string_view key,
                  absl::string_view value, ValueType type);

  // --- grow.cc (docs/DESIGN.md, "Online growth"). Lock held. ---
  // The heap grows by doubling, but by at most this much at once (the
  // pages are reserved inside the write that grows it), or by what one
  // block needs.
  static constexpr uint64_t kMaxHeapStep = 4ull << 20;
  // A migration's work per write: bytes of the new table zeroed, then old
  // slots copied.
  static constexpr uint64_t kZeroStep = 32ull << 10;
  static constexpr uint64_t kCopyStep = 64;
  uint64_t Capacity() const;
  // The heap's bytes (the header's heap_size_now, table blocks included).
  uint64_t HeapSizeNow() const;
  // Bytes and count of the heap blocks that hold tables (the one in use if
  // it was grown, one being built): Stats leave them out of the heap.
  uint64_t TableBlockBytes(uint64_t* blocks) const;
  // The heap's bytes for keys and values (HeapSizeNow() less the tables).
  uint64_t EntryHeapSize() const {
    uint64_t blocks;
    const uint64_t heap = HeapSizeNow(), tables = TableBlockBytes(&blocks);
    return heap - std::min(heap, tables);
  }
  // Records a growth step in the intent (no change number) and bumps the
  // growth epoch, so that every writer reloads its view afterwards.
  void BeginGrowIntent(layout::Op op, uint64_t arg, uint64_t old_block,
                       uint64_t new_block, uint64_t word);
  // Reloads the heap's end, the table and the migration from the header
  // (another process grew the dict, or a repair changed them).
  absl::Status RefreshView();
  // ResourceExhausted: growing by `needed` bytes passes max_segment_size.
  absl::Status SegmentFull(absl::string_view what, uint64_t needed) const;
  // Extends the heap so that a block of `needed` bytes fits.
  absl::Status GrowHeap(uint64_t needed);
  // Allocates and records a table of new_slots slots to migrate to.
  absl::Status StartMigration(uint64_t new_slots);
  // One step of the migration: zero up to zero_bytes of the new table, or
  // copy up to copy_slots old slots, or switch tables (*done).
  absl::Status MigrateStep(uint64_t zero_bytes, uint64_t copy_slots,
                           bool* done);
  absl::Status FinishMigration();
  absl::Status SwitchTable();
  absl::Status AbandonMigration();
  // Forgets the migration record (reserving the new table's pages not yet
  // reserved); its block is the caller's to free (AbandonMigration) or the
  // repair's allocator rebuild's.
  void DropMigrationRecord();
  // Before an insert: grows the table if it is full (auto_grow), finishing
  // a migration at once if the old table is nearly full (*retable: the
  // table changed, locate the key again).
  absl::Status MakeRoomForInsert(bool* retable);

  std::string name_;
  Options options_;
  char* base_;
  layout::Geometry geometry_;
  layout::Header* header_;
  char* journal_;
  index::Index index_;
  alloc::Allocator alloc_;
  changes::ChangeLog changes_;
  // mutable: a reader that finds a dead writer takes the lock to repair.
  mutable lock::WriterLock lock_;
  mutable std::atomic<uint64_t> read_retries_{0};
  mutable std::atomic<uint64_t> wait_rescues_{0};
  uint64_t read_timeout_nanos_;  // options_.lock_timeout, for Backoff
  int fd_;                       // the segment's file (owned by lock_)
  // The growth epoch this handle's writer view matches (lock held).
  uint64_t view_epoch_ = 0;
};

}  // namespace internal
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_DICT_DICT_IMPL_H_
