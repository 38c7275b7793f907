// The index: an open-addressing hash table with linear probing over a
// power-of-two array of slots (engine/layout/layout.h), keyed by XXH3-64,
// with one seqlock per slot and one for the whole table.
//
// Thread safety
//   1. Exactly one writer at a time (the writer lock holder) changes slots,
//      and only between seqlock::WriteBegin/WriteEnd of the slot's seq.
//   2. A key never moves between slots while it is live, except in a purge:
//      a replacement changes the slot's block, an erase its block to
//      kTombstoneBlock. So a reader that probes from the key's home slot and
//      validates the slot it found cannot miss a key that was live for the
//      whole lookup.
//   3. A purge (rebuilding the table without tombstones) moves keys; it runs
//      inside the table-level seqlock (Header::table_seq), which every lookup
//      reads before and validates after.
//   4. A slot goes from empty to non-empty only by an insert, and back only
//      in a purge; so a lookup that reaches an empty slot may stop there
//      (after validating table_seq): an insert it did not see had not
//      completed when it looked.
//   5. A probe examines at most slot_count slots, so a full table (live
//      entries plus tombstones) still answers NotFound.
//   6. Readers never store to shared memory. Entries are read through
//      engine/layout/relaxed.h, and every offset and length is checked
//      against the geometry before use (ParseEntry), so a torn read retries
//      instead of faulting.

//   7. The table in use is the one the header's `table` word names (its
//      offset and size). Growth (docs/DESIGN.md, "Online growth") builds a
//      larger table beside it, then stores the new word and moves table_seq
//      on by 2 before the old table's memory is reused: a lookup that read
//      the old word fails its table_seq validation and starts again.

#ifndef ZCIPC_ENGINE_INDEX_INDEX_H_
#define ZCIPC_ENGINE_INDEX_INDEX_H_

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/index/seqlock.h"
#include "engine/layout/layout.h"
#include "engine/layout/relaxed.h"
#include "engine/platform/platform.h"
#include "zcipc/options.h"

namespace zcipc {
namespace index {

inline uint64_t HashKey(absl::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), layout::kHashSeed);
}

inline constexpr uint64_t Pad8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// The payload an entry needs after the block tag: key and value each padded
// to 8 bytes, so word-wise copies never leave the block
// (engine/layout/relaxed.h).
inline constexpr uint64_t EntryPayload(uint64_t key_len, uint64_t value_len) {
  return layout::kEntryHeaderSize - 8 + Pad8(key_len) + Pad8(value_len);
}

// An entry block, parsed and bounds-checked.
struct Entry {
  const char* key;
  uint64_t key_len;
  ValueType type;  // from the key-length word's bits 32-39
  const char* value;
  uint64_t value_len;
  uint64_t block_size;  // the block's true size (from its tag)
  uint64_t value_room;  // bytes available for the value in this block
};

// Waits out a slot or table whose seqlock is odd (docs/DESIGN.md, "Reads
// that wait"): spins kSpins times, then waits longer, yielding the CPU for
// the first kYieldNanos and sleeping kSleepNanos at a time after that. Every
// kStallNanos of waiting it calls on_stall (the dict tries the writer lock
// without blocking and, if it gets it, the writer is dead: it repairs);
// after timeout_nanos of waiting it gives up with on_timeout's status (the
// writer is alive but makes no progress). The long waits run inside the
// calling thread's wait hooks (zcipc/wait_hooks.h). Counts retries for the
// statistics.
class Backoff {
 public:
  static constexpr uint64_t kSpins = 128;
  static constexpr uint64_t kStallNanos = 2'000'000;  // 2 ms
  static constexpr uint64_t kYieldNanos = 1'000'000;  // 1 ms
  static constexpr uint64_t kSleepNanos = 50'000;     // 50 us

  Backoff(absl::FunctionRef<absl::Status()> on_stall,
          absl::FunctionRef<absl::Status()> on_timeout, uint64_t timeout_nanos)
      : on_stall_(on_stall),
        on_timeout_(on_timeout),
        timeout_nanos_(timeout_nanos) {}

  absl::Status Wait() {
    ++retries_;
    if (++spins_ < kSpins) {
      platform::CpuRelax();
      return absl::OkStatus();
    }
    return WaitLong();
  }
  // A retry that needs no waiting (a validation failed).
  void Retry() { ++retries_; }
  uint64_t retries() const { return retries_; }

 private:
  ABSL_ATTRIBUTE_NOINLINE absl::Status WaitLong();

  absl::FunctionRef<absl::Status()> on_stall_;
  absl::FunctionRef<absl::Status()> on_timeout_;
  uint64_t timeout_nanos_;
  uint64_t spins_ = 0;
  uint64_t since_ = 0;       // when the long wait began
  uint64_t last_stall_ = 0;  // when on_stall last ran
  uint64_t retries_ = 0;
};

// A table as one lookup sees it: its slots and mask.
struct Table {
  const layout::Slot* slots;
  uint64_t mask;
  uint64_t slot_count() const { return mask + 1; }
  const layout::Slot& slot(uint64_t i) const { return slots[i]; }
};

// What this process knows of the table in use and of the heap's end,
// decoded and bounds-checked once: immutable once published (Index keeps
// every one until it is destroyed), replaced when either changes. A lookup
// loads the header's table word and the current view and compares the two
// words: equal, the view's fields are valid for that word.
struct View {
  uint64_t word;
  const layout::Slot* slots;
  uint64_t mask;
  uint64_t heap_hi;    // the heap's end as this process knows it
  uint64_t heap_last;  // heap_hi - heap_lo - kMinBlock: the last block start
  const View* older;   // the view this one replaced (freed with the Index)
};

class Index {
 public:
  // `fd` is the segment's file: a reader checks a grown heap's end against
  // the file's real size before it trusts it.
  Index(char* base, const layout::Geometry& g, layout::Header* header, int fd);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // --- Writer's view (lock held): the table in use. ---
  uint64_t slot_count() const { return mask_ + 1; }
  layout::Slot& slot(uint64_t i) { return slots_[i]; }
  const layout::Slot& slot(uint64_t i) const { return slots_[i]; }
  // Adopts the table `word` names as the writer's table (the caller has
  // checked it is in bounds).
  void SetWriterTable(uint64_t word) {
    slots_ = reinterpret_cast<layout::Slot*>(base_ + layout::TableOffset(word));
    mask_ = (uint64_t{1} << layout::TableLog(word)) - 1;
  }

  // --- Reader's view (lock-free). ---
  // The view for the table in use now (load table_seq first and validate
  // it after); nullptr when the header's word is out of bounds even after
  // RefreshBounds (corruption).
  const View* LoadView() const {
    const uint64_t word = header_->table.load(std::memory_order_acquire);
    const View* v = view_.load(std::memory_order_acquire);
    if (ABSL_PREDICT_TRUE(word == v->word)) return v;
    return ViewFor(word);
  }
  bool LoadTable(Table* t) const {
    const View* v = LoadView();
    if (v == nullptr) return false;
    t->slots = v->slots;
    t->mask = v->mask;
    return true;
  }
  // The heap grew (or is corrupt): reloads its end from the header, trusted
  // only as far as the file reaches. True when this process's bound moved.
  bool RefreshBounds() const;
  // The heap's end as this process knows it.
  uint64_t heap_end() const {
    return view_.load(std::memory_order_acquire)->heap_hi;
  }

  // Starts loading the second and third cache lines of the entry block at
  // `block` (the first is loaded at once by ParseEntry). An entry with a
  // 100 B value spans three lines, and the value's lines would otherwise
  // be requested only after the first line arrived (the value's offset
  // depends on the key length stored there): at 10^5+ keys, where the block
  // is a cache miss, that is a second miss in series. A prefetch never
  // faults; it is issued only for an offset inside the heap all the same.
  void PrefetchEntry(uint64_t block, const View& v) const {
    PrefetchEntry(block, v.heap_last);
  }
  // The same on the read path, where the view's bounds are in registers.
  void PrefetchEntry(uint64_t block, uint64_t heap_last) const {
    if (block - heap_lo_ <= heap_last) {
      const char* p = base_ + block;
      __builtin_prefetch(p + layout::kCacheLineSize);
      __builtin_prefetch(p + 2 * layout::kCacheLineSize);
    }
  }

  // Parses the entry block at `block`: false if any offset or length is out
  // of bounds (a torn read or corruption). Loads are relaxed atomics.
  bool ParseEntry(uint64_t block, Entry* e) const {
    return ParseEntry(block, e, *view_.load(std::memory_order_acquire));
  }
  bool ParseEntry(uint64_t block, Entry* e, const View& v) const {
    return ParseEntry(block, e, v.heap_hi, v.heap_last);
  }
  bool ParseEntry(uint64_t block, Entry* e, uint64_t heap_hi,
                  uint64_t heap_last) const {
    // block in [heap_lo_, heap_hi - kMinBlock] and 16-aligned: one
    // unsigned compare (a block below heap_lo_ wraps around to a huge
    // difference; the heap is at least kMinHeapSize > kMinBlock bytes).
    if (((block - heap_lo_) > heap_last) | ((block & 15) != 0)) {
      return false;
    }
    const char* p = base_ + block;
    uint64_t tag = relaxed::Load64(p);
    uint64_t size = tag & ~uint64_t{15};
    uint64_t value_len = relaxed::Load64(p + layout::kEntryValueLenOffset);
    const uint64_t key_word = relaxed::Load64(p + layout::kEntryKeyLenOffset);
    const uint64_t key_len = key_word & layout::kEntryKeyLenMask;
    if ((tag & 1) != 0 || size < layout::kMinBlock || size > heap_hi - block ||
        key_len > kMaxKeySize || (key_word >> 40) != 0) {
      return false;
    }
    // value_room (below) is a multiple of 8, so value_len <= room implies
    // Pad8(value_len) <= room: the padded value stays inside the block.
    uint64_t value_at = layout::kEntryHeaderSize + Pad8(key_len);
    if (value_at > size || value_len > size - value_at) return false;
    e->key = p + layout::kEntryHeaderSize;
    e->key_len = key_len;
    e->type = static_cast<ValueType>(key_word >> 32);
    e->value = p + value_at;
    e->value_len = value_len;
    e->block_size = size;
    e->value_room = size - value_at;
    return true;
  }

  // The lock-free lookup. On a hit calls fn(entry) with the slot's seqlock
  // open, then validates; if a writer raced, fn runs again. Returns OK after
  // a validated run, NotFound (no message), or DataLoss for an entry whose
  // bounds are wrong while its slot is stable (corruption).
  template <typename Fn>
  absl::Status Find(absl::string_view key, uint64_t hash, Backoff& backoff,
                    Fn&& fn) const {
    for (;;) {
      uint64_t ts = seqlock::ReadBegin(header_->table_seq);
      if (seqlock::IsWriting(ts)) {
        absl::Status s = backoff.Wait();
        if (!s.ok()) return s;
        continue;
      }
      const View* v = LoadView();
      if (ABSL_PREDICT_FALSE(v == nullptr)) {
        if (!seqlock::Unchanged(header_->table_seq, ts)) {
          backoff.Retry();
          continue;
        }
        return CorruptTable();
      }
      // The view's fields in locals: the loop's atomic loads would otherwise
      // make the compiler load them again.
      const layout::Slot* const slots = v->slots;
      const uint64_t mask = v->mask;
      const uint64_t heap_hi = v->heap_hi, heap_last = v->heap_last;
      uint64_t i = hash & mask;
      bool restart = false;
      for (uint64_t probes = 0; probes <= mask && !restart;) {
        const layout::Slot& slot = slots[i];
        uint64_t s1 = seqlock::ReadBegin(slot.seq);
        if (seqlock::IsWriting(s1)) {
          absl::Status s = backoff.Wait();
          if (!s.ok()) return s;
          // A table replaced meanwhile may hold anything: start again.
          restart = !seqlock::Unchanged(header_->table_seq, ts);
          continue;  // the same slot again
        }
        uint64_t block = slot.block.load(std::memory_order_relaxed);
        if (block == layout::kEmptyBlock) break;
        if (block == layout::kTombstoneBlock ||
            slot.hash.load(std::memory_order_relaxed) != hash) {
          i = (i + 1) & mask;
          ++probes;
          continue;
        }
        PrefetchEntry(block, heap_last);
        Entry e;
        bool parsed = ParseEntry(block, &e, heap_hi, heap_last);
        bool match = parsed && e.key_len == key.size() &&
                     relaxed::EqualsShared(e.key, key.data(), key.size());
        if (match) fn(e);
        if (!seqlock::ReadValidate(slot.seq, s1)) {
          backoff.Retry();
          continue;  // the slot changed under us: look at it again
        }
        if (!seqlock::Unchanged(header_->table_seq, ts)) {
          backoff.Retry();
          restart = true;
          continue;
        }
        if (ABSL_PREDICT_FALSE(!parsed)) {
          // A block in a heap grown since this process last looked, or
          // corruption.
          if (RefreshBounds()) {
            restart = true;
            continue;
          }
          return Corrupt(block);
        }
        if (match) return absl::OkStatus();
        i = (i + 1) & mask;
        ++probes;
      }
      if (restart) continue;
      if (!seqlock::ReadValidate(header_->table_seq, ts)) {
        backoff.Retry();
        continue;
      }
      return absl::NotFoundError("");
    }
  }

  // --- Writer side: the caller holds the writer lock. -----------------

  // Probes for `key`. *found = the slot holding it, or ~0 if absent;
  // *insert_at = where an insert would go (the first tombstone on the path,
  // else the empty slot that ended it; ~0 if the table has neither).
  // DataLoss for a live slot whose block does not parse.
  // When found, *block is the slot's block and *entry the parsed entry (so
  // callers need not load or parse again). Inline: it is the write path's
  // hot loop.
  absl::Status FindForWrite(absl::string_view key, uint64_t hash,
                            uint64_t* found, uint64_t* insert_at,
                            uint64_t* found_block, Entry* entry) const {
    constexpr uint64_t kNone = ~uint64_t{0};
    uint64_t first_free = kNone;
    uint64_t i = hash & mask_;
    for (uint64_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
      const layout::Slot& slot = slots_[i];
      uint64_t block = slot.block.load(std::memory_order_relaxed);
      if (block == layout::kEmptyBlock) {
        *found = kNone;
        *insert_at = first_free == kNone ? i : first_free;
        return absl::OkStatus();
      }
      if (block == layout::kTombstoneBlock) {
        if (first_free == kNone) first_free = i;
        continue;
      }
      if (slot.hash.load(std::memory_order_relaxed) != hash) continue;
      const View& v = *view_.load(std::memory_order_acquire);
      PrefetchEntry(block, v);
      if (ABSL_PREDICT_FALSE(!ParseEntry(block, entry, v))) {
        return Corrupt(block);
      }
      if (entry->key_len == key.size() &&
          relaxed::EqualsShared(entry->key, key.data(), key.size())) {
        *found = i;
        *insert_at = first_free;
        *found_block = block;
        return absl::OkStatus();
      }
    }
    *found = kNone;
    *insert_at = first_free;
    return absl::OkStatus();
  }

  // Writes `hash` and `block` into slot i under its seqlock (and into the
  // table being built, during a migration, once slot i was copied).
  void Publish(uint64_t i, uint64_t hash, uint64_t block) {
    layout::Slot& slot = slots_[i];
    if (ABSL_PREDICT_FALSE(new_slots_ != nullptr)) {
      Mirror(i, slot.block.load(std::memory_order_relaxed), hash, block);
    }
    seqlock::WriteBegin(slot.seq);
    slot.hash.store(hash, std::memory_order_relaxed);
    slot.block.store(block, std::memory_order_relaxed);
    seqlock::WriteEnd(slot.seq);
  }

  // Every live slot's block, and its hash. DataLoss if a live slot's block
  // does not parse, or if no slot is free.
  struct Live {
    uint64_t slot;
    uint64_t hash;
    uint64_t block;
  };
  absl::Status CollectLive(std::vector<Live>* live) const;

  // Rebuilds the table from `live` (hash, block), no tombstones, inside the
  // table seqlock: BeginRebuild opens it and empties every slot,
  // FinishRebuild inserts `live` and closes it. Used by the purge and by the
  // crash repair. `live` must hold fewer entries than there are slots.
  void BeginRebuild();
  void FinishRebuild(const std::vector<Live>& live);

  // Makes every odd slot sequence even (repair, under the lock).
  uint64_t CloseOpenSlots();

  // --- Migration to a larger table (engine/dict/grow.cc drives it). ---
  // The table being built: `word` names it (zeroed, in bounds). From here
  // on Publish keeps it equal to the old table's slots [0, copied).
  void BeginMigration(uint64_t word) {
    new_slots_ =
        reinterpret_cast<layout::Slot*>(base_ + layout::TableOffset(word));
    new_mask_ = (uint64_t{1} << layout::TableLog(word)) - 1;
    mirror_ok_ = true;
  }
  void EndMigration() { new_slots_ = nullptr; }
  bool migrating() const { return new_slots_ != nullptr; }
  // Copies the live old slots [from, to) into the new table (the caller
  // then records `to` as copied).
  void CopySlots(uint64_t from, uint64_t to);
  // False once a mirrored change found the two tables disagreeing: the
  // migration must be abandoned (corruption; Check() says where).
  bool mirror_ok() const { return mirror_ok_; }
  // Makes the new table the one in use: stores its word, then moves
  // table_seq on by 2, then fences, so that a reader of the old table that
  // sees its memory reused fails validation. The old table is the caller's
  // to free.
  void SwitchTo(uint64_t word);

 private:
  static absl::Status Corrupt(uint64_t block);
  static absl::Status CorruptTable();
  // The view for `word` (published), or nullptr when it is out of bounds.
  ABSL_ATTRIBUTE_NOINLINE const View* ViewFor(uint64_t word) const;
  // Publishes `next` unless the view changed since `expected` was loaded
  // (then the caller loads the new one and tries again).
  bool PublishView(const View* expected, const View& next) const;
  void Mirror(uint64_t i, uint64_t old_block, uint64_t hash, uint64_t block);
  void InsertNew(uint64_t hash, uint64_t block);

  char* base_;
  layout::Header* header_;
  int fd_;
  uint64_t table_lo_;  // the initial slot region: no table starts before it
  uint64_t initial_slots_;  // the table there has exactly this many slots
  uint64_t heap_lo_;
  uint64_t heap_max_;  // the heap never ends past this (max_segment_size)
  // The current view, and every view ever published (readers may still
  // hold older ones).
  mutable std::atomic<const View*> view_{nullptr};
  mutable absl::Mutex views_mu_;
  mutable std::vector<std::unique_ptr<View>> views_ ABSL_GUARDED_BY(views_mu_);
  // The writer's table and, during a migration, the table being built.
  layout::Slot* slots_ = nullptr;
  uint64_t mask_ = 0;
  layout::Slot* new_slots_ = nullptr;
  uint64_t new_mask_ = 0;
  bool mirror_ok_ = true;
};

}  // namespace index
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_INDEX_INDEX_H_
