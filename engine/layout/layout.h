// The shared-memory layout of a dict: one segment, `/dev/shm/zcipc.<name>`.
//
//   +--------------------------+ 0
//   | Header (8 KiB)           |  identity, counters, lock words, the intent
//   |                          |  record, the allocator's control block
//   +--------------------------+ kJournalOffset
//   | Journal (kJournalBytes)  |  redo copy of an in-place value update
//   +--------------------------+ kRegistryOffset
//   | Writer registry          |  one Registration per writing handle; its
//   | (kRegistryBytes)         |  first byte carries the handle's OFD lock
//   +--------------------------+ change_log_offset (page aligned)
//   | Change log (optional)    |  checkpoint marks, then the ring of change
//   |                          |  records (engine/changes/change_log.h)
//   +--------------------------+ slots_offset (page aligned)
//   | Slot[slot_count]         |  the initial index: 32-byte slots, 2 per
//   |                          |  cache line
//   +--------------------------+ heap_offset (page aligned)
//   | Heap (heap_size bytes)   |  blocks: one per entry, key and value inside
//   +--------------------------+ segment_size (at creation)
//   | Grown heap               |  the heap after growth; a grown index is a
//   |                          |  block of the heap
//   +--------------------------+ heap_offset + heap_size_now
//
// Growth (docs/DESIGN.md, "Online growth"). The identity fields describe the
// segment as created. The heap only ever grows at the file's end; every
// process maps max_segment_size bytes up front, so growth never moves a
// mapping. The index in use is named by the `table` word (its offset and
// size), next to table_seq; a larger index is built in a heap block while
// the old one serves, then replaces it with one store.
// Everything is addressed by offsets from the segment start, never pointers,
// so every process may map the segment anywhere. All shared structs are
// standard-layout with fixed sizes and offsets (static_asserts below), and
// every atomic is lock-free, so it works across processes.
//
// Identity. The header starts with a magic, the format version and a layout
// fingerprint (the sizes of every shared struct, the cache-line size, the
// hash function id, the allocator's parameters). Create fills everything
// else first and stores the magic last, with release; Attach loads it with
// acquire, so an attacher never sees a half-built dict. Attach then checks
// the version and fingerprint (FailedPrecondition when they differ: a
// different build) and that the region offsets recomputed from max_items and
// heap_size equal the stored ones and the file's real size equals
// segment_size (DataLoss when not: truncated or corrupt).
//
// Slots. A slot is {seq, hash, block, reserved}. `block` is the heap offset
// of the entry's block, or kEmptyBlock (never used) or kTombstoneBlock
// (erased). `hash` is the key's XXH3-64, so a probe rejects a different key
// without touching the heap. `seq` is the slot's seqlock (see
// engine/index/seqlock.h): even when stable, odd while a writer changes the
// slot or its block's bytes.
//
// Entry blocks. A live entry's block is
//   [tag u64][value_len u64][key_len u64 (bits 32-39: the ValueType)]
//   [key, padded to 8][value, padded to 8]
// where `tag` is the allocator's boundary tag (true block size and flags, see
// engine/alloc/allocator.h). Key and value are contiguous with the slot's
// pointer, so a hit touches the slot and one block.
//
// Untrusted input. Another process (or a bug, or a disk image) may have
// written anything into the segment. Every offset and length read from it is
// bounds-checked against the geometry this process computed at Attach before
// it is used, on the read path too; a torn read during a writer's update may
// see garbage lengths, and the check turns those into a retry, not a fault.

#ifndef ZCIPC_ENGINE_LAYOUT_LAYOUT_H_
#define ZCIPC_ENGINE_LAYOUT_LAYOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "zcipc/options.h"

namespace zcipc {
namespace layout {

// Fixed, not std::hardware_destructive_interference_size (which varies with
// compiler flags and would make two builds disagree about the layout).
inline constexpr size_t kCacheLineSize = 64;
inline constexpr uint64_t kPageSize = 4096;

inline constexpr uint64_t kMagic = 0x5a43495043444943ull;  // "CIDCPICZ" LE
// The format version: one definition, in the public options header.
inline constexpr uint32_t kVersion = kFormatVersion;

// Hash: XXH3 64-bit with this seed. Changing either changes kHashId.
inline constexpr uint64_t kHashSeed = 0x9e3779b97f4a7c15ull;
inline constexpr uint64_t kHashId = 0x0301;  // XXH3_64bits_withSeed, v1

// Slot.block markers. Real block offsets are >= heap_offset > 1.
inline constexpr uint64_t kEmptyBlock = 0;
inline constexpr uint64_t kTombstoneBlock = 1;

// Allocator parameters (TLSF). Blocks are multiples of kAlign bytes, at least
// kMinBlock. Sizes below kSmallBlock sit in first-level class 0, split
// linearly into kSLCount classes of kAlign bytes; above, each power of two is
// a first-level class split into kSLCount second-level classes.
inline constexpr int kAlignLog = 4;
inline constexpr uint64_t kAlign = 1ull << kAlignLog;
inline constexpr int kSLLog = 4;
inline constexpr int kSLCount = 1 << kSLLog;
inline constexpr int kFLShift = kSLLog + kAlignLog;
inline constexpr uint64_t kSmallBlock = 1ull << kFLShift;
inline constexpr int kFLCount = 40;  // enough for kMaxHeapSize
inline constexpr uint64_t kMinBlock = 32;

// Entry block: [tag][value_len][key_len][key (padded to 8)][value (padded
// to 8)]. Block sizes are multiples of 16, so the room for a value is a
// multiple of 8.
inline constexpr uint64_t kEntryHeaderSize = 24;
inline constexpr uint64_t kEntryValueLenOffset = 8;
inline constexpr uint64_t kEntryKeyLenOffset = 16;
// The key-length word: key_len in bits 0-31, the ValueType in bits 32-39,
// bits 40-63 zero.
inline constexpr uint64_t kEntryKeyLenMask = 0xffffffffull;
inline uint64_t EntryKeyWord(uint64_t key_len, ValueType type) {
  return key_len | (static_cast<uint64_t>(type) << 32);
}
// The intent's value_len word of an in-place update: the length in bits
// 0-55, the value's type in bits 56-63.
inline constexpr int kIntentTypeShift = 56;

// In-place value updates up to this size are crash-safe through the journal;
// larger replacements relocate (new block, then free the old one).
inline constexpr uint64_t kJournalBytes = 4096;
static_assert(kJournalBytes % 4096 == 0, "the journal ends on a page");

// Limits on Options: the public ones (zcipc/options.h).
using ::zcipc::kMaxHeapSize;
using ::zcipc::kMaxItems;
using ::zcipc::kMinHeapSize;
// Slots are sized so max_items fit at load <= kMaxLoadNum / kMaxLoadDen.
inline constexpr uint64_t kMaxLoadNum = 3;
inline constexpr uint64_t kMaxLoadDen = 4;
// Tombstones are purged when they pass slot_count / kPurgeDivisor.
inline constexpr uint64_t kPurgeDivisor = 8;

// One index slot. Written only by the lock holder, under the slot's seqlock;
// read lock-free by everyone (so every field is an atomic).
struct alignas(32) Slot {
  std::atomic<uint64_t> seq;    // seqlock: odd while being written
  std::atomic<uint64_t> hash;   // XXH3-64 of the key (stale when not live)
  std::atomic<uint64_t> block;  // heap offset, kEmptyBlock or kTombstoneBlock
  std::atomic<uint64_t> reserved;
};

// Adds to a counter that only the writer-lock holder changes (readers only
// load it): a relaxed load and store, not a locked read-modify-write, which
// would cost a full barrier for no benefit under the lock.
inline void AddUnderLock(std::atomic<uint64_t>& counter, uint64_t delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta,
                std::memory_order_relaxed);
}
inline void SubUnderLock(std::atomic<uint64_t>& counter, uint64_t delta) {
  counter.store(counter.load(std::memory_order_relaxed) - delta,
                std::memory_order_relaxed);
}

// What a writer is doing, recorded before it touches anything shared. A
// process that takes the lock and finds op != kNone knows the previous holder
// died in the middle and repairs before anything else (engine/dict/repair.cc
// has the rules per op and phase).
enum class Op : uint64_t {
  kNone = 0,
  kInsert = 1,         // new key into `slot`, new block `new_block`
  kUpdateInPlace = 2,  // value of `slot` rewritten inside `old_block`
  kRelocate = 3,       // value of `slot` moved from `old_block` to new_block
  kErase = 4,          // `slot` becomes a tombstone, `old_block` freed
  kPurge = 5,          // the whole index is being rebuilt
  kRepair = 6,         // a repair past its op-specific step
  kGrowHeap = 7,       // the heap is extended to `slot` bytes
  kGrowTable = 8,      // a new table: allocated (phase kStarted) or
                       // replacing the old one (kPublished); new_block is
                       // its block, hash its table word
};

// Phases: kStarted -> kStaged (the new bytes are complete: the new block
// written, or the journal filled) -> kPublished (the slot points at the new
// state). Repair rolls back before kStaged and forward from it.
inline constexpr uint64_t kPhaseStarted = 0;
inline constexpr uint64_t kPhaseStaged = 1;
inline constexpr uint64_t kPhasePublished = 2;

struct Intent {
  std::atomic<uint64_t> op;
  std::atomic<uint64_t> phase;
  std::atomic<uint64_t> slot;
  std::atomic<uint64_t> old_block;  // the slot's block before (or a marker)
  std::atomic<uint64_t> new_block;
  std::atomic<uint64_t> hash;       // the key's hash (insert)
  std::atomic<uint64_t> value_len;  // the journal's value length
  // The change number this operation gets once it takes effect (0 for an
  // operation that is not a change, such as a purge). Repair that rolls the
  // operation forward publishes it, so the change feed and the dict agree.
  std::atomic<uint64_t> change_seq;
};

// The allocator's control block (engine/alloc). Lists and bitmaps are only
// touched under the writer lock; the counters are also read lock-free by
// GetStats, hence atomics.
struct AllocatorControl {
  std::atomic<uint64_t> free_bytes;
  std::atomic<uint64_t> free_blocks;
  std::atomic<uint64_t> used_bytes;
  std::atomic<uint64_t> used_blocks;
  uint64_t fl_bitmap;
  uint64_t sl_bitmap[kFLCount];
  uint64_t heads[kFLCount][kSLCount];  // heap offsets of free blocks, 0 = none
  uint64_t tail_free;  // the last block's offset when it is free, else 0
  uint64_t reserved[3];
};

struct alignas(kCacheLineSize) Header {
  // Identity (immutable once magic is published). Line 0.
  std::atomic<uint64_t> magic;
  uint32_t version;
  uint32_t header_size;
  uint64_t fingerprint;
  uint64_t segment_size;
  uint64_t max_items;
  uint64_t slot_count;
  uint64_t slots_offset;
  uint64_t heap_offset;
  // Line 1.
  uint64_t heap_size;
  uint64_t journal_offset;
  uint64_t created_unix_nanos;
  uint64_t change_log_bytes;   // the change log's ring (0: no log)
  uint64_t change_log_offset;  // where the log's region starts
  uint64_t max_segment_size;   // the bound on growth; the mapping's size
  uint64_t identity_reserved[2];

  // The table-level seqlock and the table in use (TableWord: its offset and
  // slot count), both read by every lookup. Line 2.
  alignas(kCacheLineSize) std::atomic<uint64_t> table_seq;
  std::atomic<uint64_t> table;

  // Counters, written under the lock, read lock-free. Line 3.
  alignas(kCacheLineSize) std::atomic<uint64_t> size;
  std::atomic<uint64_t> tombstones;
  std::atomic<uint64_t> writes_total;
  std::atomic<uint64_t> purges_total;
  std::atomic<uint64_t> repairs_total;

  // The writer lock (engine/lock, docs/DESIGN.md "The writer lock"): 0 when
  // free, else the owner's registration token, with kLockContended set when
  // someone may wait. The futex word. Line 4.
  alignas(kCacheLineSize) std::atomic<uint32_t> lock_word;
  uint32_t lock_reserved;
  std::atomic<int64_t> lock_owner_pid;  // for display only, never trusted
  // Bumped by every change of the geometry (growth), so that a writer in
  // another process knows to reload its view after taking the lock.
  std::atomic<uint64_t> grow_epoch;

  // Line 5.
  alignas(kCacheLineSize) Intent intent;

  // The change feed (docs/DESIGN.md, "The change feed"). Line 6.
  // change_seq: the number of the last completed change (1, 2, 3, ...),
  // written by the lock holder, read lock-free. change_word: its low 32
  // bits, the futex word WaitForChange sleeps on. change_waiters: how many
  // wait, so that a writer wakes only when someone does.
  alignas(kCacheLineSize) std::atomic<uint64_t> change_seq;
  std::atomic<uint32_t> change_word;
  std::atomic<uint32_t> change_waiters;
  // The change log (engine/changes, docs/DESIGN.md "The change log"):
  // logical byte positions in the ring, only ever growing. Records in
  // [log_tail, log_head) are complete and readable; the lock holder writes
  // past log_head and moves log_tail before it overwrites a record.
  std::atomic<uint64_t> log_head;
  std::atomic<uint64_t> log_tail;

  // Growth (docs/DESIGN.md, "Online growth"). Written under the lock, read
  // lock-free (bounds-checked) by readers and GetStats. Line 7.
  // capacity: entries before the next growth (max_items now).
  // heap_size_now: the heap is [heap_offset, heap_offset + heap_size_now);
  // the file is at least that long before it says so. table_block: the
  // heap block that holds the table (0: the initial slot region).
  alignas(kCacheLineSize) std::atomic<uint64_t> capacity;
  std::atomic<uint64_t> heap_size_now;
  std::atomic<uint64_t> table_block;
  std::atomic<uint64_t> grows_total;
  // A migration to a larger table (0: none): its table word and block, how
  // many bytes of it are zeroed, how many old slots are copied into it, and
  // how many tombstones it holds.
  std::atomic<uint64_t> migrate_table;
  std::atomic<uint64_t> migrate_block;
  std::atomic<uint64_t> migrate_zeroed;
  std::atomic<uint64_t> migrate_copied;
  // Line 8.
  alignas(kCacheLineSize) std::atomic<uint64_t> migrate_tombstones;

  // Lines 9+.
  alignas(kCacheLineSize) AllocatorControl allocator;
};

// Offsets are part of the format: a change must bump kVersion.
static_assert(std::is_standard_layout<Slot>::value, "Slot layout");
static_assert(sizeof(Slot) == 32, "Slot size");
static_assert(offsetof(Slot, seq) == 0 && offsetof(Slot, hash) == 8 &&
                  offsetof(Slot, block) == 16,
              "Slot offsets");
static_assert(sizeof(Intent) == 64, "Intent size");
static_assert(sizeof(AllocatorControl) ==
                  8 * (4 + 1 + kFLCount + kFLCount * kSLCount + 1 + 3),
              "AllocatorControl size");
static_assert(std::is_standard_layout<Header>::value, "Header layout");
static_assert(offsetof(Header, magic) == 0, "magic first");
static_assert(offsetof(Header, version) == 8, "version offset");
static_assert(offsetof(Header, header_size) == 12, "header_size offset");
static_assert(offsetof(Header, fingerprint) == 16, "fingerprint offset");
static_assert(offsetof(Header, segment_size) == 24, "segment_size offset");
static_assert(offsetof(Header, table_seq) == 2 * kCacheLineSize, "table_seq");
static_assert(offsetof(Header, size) == 3 * kCacheLineSize, "counters");
static_assert(offsetof(Header, lock_word) == 4 * kCacheLineSize, "lock");
static_assert(offsetof(Header, intent) == 5 * kCacheLineSize, "intent");
static_assert(offsetof(Header, change_seq) == 6 * kCacheLineSize, "changes");
static_assert(offsetof(Header, capacity) == 7 * kCacheLineSize, "growth");
static_assert(offsetof(Header, allocator) == 9 * kCacheLineSize, "allocator");
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free &&
                  std::atomic<int64_t>::is_always_lock_free,
              "shared atomics must be lock-free to work across processes");
static_assert(sizeof(std::atomic<uint64_t>) == 8, "atomic is a plain word");

inline constexpr uint64_t kHeaderRegionSize = 2 * kPageSize;
static_assert(sizeof(Header) <= kHeaderRegionSize, "Header fits its region");
inline constexpr uint64_t kJournalOffset = kHeaderRegionSize;

// The writer registry. A handle that writes claims Registration i by taking
// an OFD write lock (fcntl F_OFD_SETLK) on the registration's first byte of
// the segment file, and holds it while the handle is open; the kernel drops
// it when the process dies. lock_word holds a token (i + 1, generation), so
// a waiter asks the kernel (F_OFD_GETLK) whether the owner still lives.
inline constexpr uint32_t kMaxWriters = 4095;   // registrations i: 0..4094
inline constexpr uint32_t kTokenSlotBits = 12;  // i + 1 in 1..4095
inline constexpr uint32_t kTokenGenerationBits = 19;
inline constexpr uint32_t kLockContended = 1u << 31;
struct Registration {
  std::atomic<uint64_t> generation;  // bumped by each new registrant
  std::atomic<int64_t> pid;          // the registrant's pid, for display
};
static_assert(sizeof(Registration) == 16, "Registration size");
inline constexpr uint64_t kRegistryOffset = kJournalOffset + kJournalBytes;
inline constexpr uint64_t kRegistryBytes =
    ((kMaxWriters * sizeof(Registration) + kPageSize - 1) / kPageSize) *
    kPageSize;

// The fingerprint of this build's layout.
uint64_t LayoutFingerprint();

// The table word (Header::table, Header::migrate_table): a table's offset
// (a multiple of 64) with log2 of its slot count in the low 6 bits.
inline constexpr uint64_t kTableAlign = 64;
inline constexpr uint64_t kMaxTableLog = 40;
inline uint64_t TableWord(uint64_t offset, uint64_t slot_count) {
  return offset | static_cast<uint64_t>(__builtin_ctzll(slot_count));
}
inline uint64_t TableOffset(uint64_t word) { return word & ~(kTableAlign - 1); }
inline uint64_t TableLog(uint64_t word) { return word & (kTableAlign - 1); }
// Whether a table word names a table inside [lo, hi): aligned, at least 2
// slots, at most 2^kMaxTableLog.
inline bool TableInBounds(uint64_t word, uint64_t lo, uint64_t hi) {
  const uint64_t log = TableLog(word), offset = TableOffset(word);
  if (log < 1 || log > kMaxTableLog || offset < lo || offset > hi) return false;
  return (uint64_t{32} << log) <= hi - offset;
}
// Whether a table word may name the table in use: the table as created
// (exactly) at slots_offset, or a table inside the heap [heap_offset, hi).
inline bool TableWordValid(uint64_t word, uint64_t slots_offset,
                           uint64_t slot_count, uint64_t heap_offset,
                           uint64_t hi) {
  if (TableOffset(word) < heap_offset) {
    return word == TableWord(slots_offset, slot_count);
  }
  return TableInBounds(word, heap_offset, hi);
}
// Whether the table `word` names lies inside the allocated heap block at
// `block` of `block_size` bytes (0: not a block), after the block's tag.
inline bool TableInBlock(uint64_t word, uint64_t block, uint64_t block_size) {
  const uint64_t log = TableLog(word), offset = TableOffset(word);
  if (block_size == 0 || log < 1 || log > kMaxTableLog || offset < block + 8 ||
      offset >= block + block_size) {
    return false;
  }
  return (uint64_t{32} << log) <= block + block_size - offset;
}
// The capacity of a table of `slot_count` slots (load factor 3/4).
inline uint64_t CapacityOf(uint64_t slot_count) {
  return slot_count * kMaxLoadNum / kMaxLoadDen;
}

// Where everything is, computed from max_items and heap_size alone (so an
// attacher recomputes it and compares, rather than trusting the header).
struct Geometry {
  // As created (the identity fields); growth changes the header's
  // capacity, heap_size_now and table instead.
  uint64_t max_items = 0;
  uint64_t slot_count = 0;
  uint64_t slots_offset = 0;
  uint64_t heap_offset = 0;
  uint64_t heap_size = 0;
  uint64_t segment_size = 0;
  // The change log: the ring's bytes (0: no log), the region's offset, and
  // the number of checkpoint marks before the ring.
  uint64_t change_log_bytes = 0;
  uint64_t change_log_offset = 0;
  uint64_t change_log_marks = 0;
  uint64_t change_log_ring_offset = 0;
  // The bound on growth: the segment never passes it, and every process
  // maps this much.
  uint64_t max_segment_size = 0;
};

// The change log's checkpoint stride: record `seq` with seq % kMarkStride
// == 0 has its position in mark (seq / kMarkStride) % change_log_marks.
inline constexpr uint64_t kMarkStride = 64;
// The smallest change record (its header), so the ring holds at most
// change_log_bytes / kMinChangeRecord records.
inline constexpr uint64_t kMinChangeRecord = 16;

// InvalidArgument (kBadOptions) when the options are out of range.
absl::Status ComputeGeometry(uint64_t max_items, uint64_t heap_size,
                             uint64_t change_log_bytes, Geometry* out);
// The same without a change log.
inline absl::Status ComputeGeometry(uint64_t max_items, uint64_t heap_size,
                                    Geometry* out) {
  return ComputeGeometry(max_items, heap_size, 0, out);
}

// Validates a mapped header against the file's real size: FailedPrecondition
// for another version or fingerprint, DataLoss for a bad magic or geometry
// (the identity, the heap's size now, the table word). On success fills
// *geometry from the header.
absl::Status ValidateHeader(const Header& header, uint64_t file_size,
                            Geometry* geometry);

// Name rules: [A-Za-z0-9._-], 1..kMaxNameLength chars, not "." or "..".
absl::Status ValidateName(absl::string_view name);
// "/zcipc.<name>" for shm_open.
std::string ShmName(absl::string_view name);
// The prefix of every dict's file in /dev/shm.
inline constexpr char kShmPrefix[] = "zcipc.";

}  // namespace layout
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_LAYOUT_LAYOUT_H_
