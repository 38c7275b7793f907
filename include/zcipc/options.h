// The plain types and limits of the zcipc API: options, statistics and the
// format version. Engine parts include this header alone (never the class
// headers), as LevelDB's leveldb/options.h.

#ifndef ZCIPC_OPTIONS_H_
#define ZCIPC_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zcipc {

// Largest key, in bytes. Longer keys are InvalidArgument.
inline constexpr uint64_t kMaxKeySize = 64 * 1024;
// Longest dict name. Names use [A-Za-z0-9._-] and are not "." or "..".
inline constexpr size_t kMaxNameLength = 200;
// The on-segment format version this build reads and writes (the one
// definition: the engine's layout uses it too).
inline constexpr uint32_t kFormatVersion = 4;
// The project's release, as `zcipc --version` and the Python package's
// __version__ print it.
inline constexpr char kProjectVersion[] = "2.0.0";

// Limits on Options (InvalidArgument outside them).
inline constexpr uint64_t kMaxItems = 1ull << 32;
inline constexpr uint64_t kMinHeapSize = 4096;
inline constexpr uint64_t kMaxHeapSize = 1ull << 40;
// The upper bound of Options::max_segment_size.
inline constexpr uint64_t kMaxSegmentSize = 1ull << 42;

// How to size a new dict and how long to wait for the writer lock.
struct Options {
  // Entries the table holds at first (its initial capacity). The slot table
  // is the smallest power of two that keeps max_items at a load factor
  // <= 0.75. Inserting past the capacity grows the dict (auto_grow) or is
  // ResourceExhausted. Used by Create; Attach reads the dict's own.
  uint64_t max_items = 10000;
  // Bytes for keys and values at first (the allocator's heap). Each entry is
  // one block of 24 header bytes + the key and the value each padded to 8
  // bytes, rounded up to 16 bytes (at least 32).
  uint64_t heap_size = 100ull << 20;
  // When a write finds the table or the heap full, grow the dict (the table
  // doubles, the heap doubles, by at most 4 MiB at a time, or by what
  // one value needs) and succeed, rather than answer ResourceExhausted. Readers
  // in every process keep reading, lock-free, while it grows
  // (docs/DESIGN.md, "Online growth"). A setting of this handle: each
  // handle's writes follow their own.
  bool auto_grow = true;
  // The largest the segment may become by growing (bytes). Every process
  // reserves this much address space for the dict when it maps it, so that
  // growth never moves the mapping. 0 (the default) means the size of the
  // file system that holds the dict (/dev/shm) when the dict is created:
  // the dict could never grow past it anyway, and reserving address space
  // costs no memory. Rounded up to at least the initial segment; at most
  // kMaxSegmentSize. Used by Create; Attach reads the dict's own.
  uint64_t max_segment_size = 0;
  // How long a writer waits for the writer lock before DeadlineExceeded;
  // also how long a lock-free read waits for an entry that a live but
  // stopped writer (SIGSTOP, a debugger) left half-written before it gives
  // up with DeadlineExceeded (a dead writer's entry is repaired at once).
  absl::Duration lock_timeout = absl::Seconds(10);
  // Bytes of the change log, the ring inside the segment that ReadChanges
  // reads (docs/DESIGN.md, "The change log"). 0 disables the log
  // (ReadChanges answers FailedPrecondition; ChangeSeq and WaitForChange
  // still work); otherwise in [kMinChangeLogBytes, kMaxChangeLogBytes],
  // rounded up to a power of two. Each change takes 16 bytes + its key
  // padded to 8, so the default retains the last ~30,000 changes of 16-byte
  // keys. Used by Create; Attach reads the dict's own.
  uint64_t change_log_bytes = 1ull << 20;
};

// Limits on Options::change_log_bytes (when not 0).
inline constexpr uint64_t kMinChangeLogBytes = 4096;
inline constexpr uint64_t kMaxChangeLogBytes = 1ull << 32;

// What kind of value an entry holds: a tag stored beside the value (in the
// entry's header, never in the value's bytes), set by the writer and
// returned with the value, so that programs in different languages agree on
// what the bytes mean (docs/PYTHON.md, "Interop"). A write without a type
// stores kBytes; Add stores kInt64. Values 5..255 are reserved: stored and
// returned unchanged.
enum class ValueType : uint8_t {
  kBytes = 0,    // raw bytes
  kText = 1,     // UTF-8 text
  kInt64 = 2,    // a signed 64-bit integer, 8 bytes little-endian (Add's)
  kFloat64 = 3,  // an IEEE-754 double, 8 bytes little-endian
  kPickle = 4,   // a Python pickle (the Python package's other objects)
};

// What a change did to its key: kPut stored a value (a Put, an Add, a
// CompareAndSwap or Update that stored); kErase removed the key.
enum class ChangeKind { kPut, kErase };

// One entry of the change log (ZeroCopyDict::ReadChanges). `key` points into
// a buffer that is valid only during the callback.
struct Change {
  uint64_t seq;
  ChangeKind kind;
  absl::string_view key;
};

// A point-in-time view of a dict's counters (read without the lock; each
// field is exact, the set is not a snapshot if writers are active).
struct Stats {
  std::string name;
  uint32_t format_version = 0;
  uint64_t segment_size = 0;   // bytes of the shared-memory segment now
  uint64_t max_items = 0;      // the capacity now: live entries before growth
  uint64_t slot_count = 0;     // slots in the index now (a power of two)
  uint64_t size = 0;           // live entries
  uint64_t tombstones = 0;     // erased slots not yet purged
  double load_factor = 0;      // size / slot_count
  uint64_t heap_size = 0;      // bytes of the heap now
  uint64_t heap_used = 0;      // bytes in allocated blocks (with headers)
  uint64_t heap_free = 0;      // bytes in free blocks
  uint64_t writes_total = 0;   // completed writes since creation
  uint64_t purges_total = 0;   // tombstone purges since creation
  uint64_t repairs_total = 0;  // crash repairs since creation
  uint64_t change_seq = 0;     // the last completed change (ChangeSeq())
  // The oldest change ReadChanges can still deliver; 0 when the log holds
  // none (no change yet, all overwritten, or the log is disabled).
  uint64_t oldest_retained_change = 0;
  uint64_t change_log_bytes = 0;  // the ring's size (0: disabled)
  int64_t writer_pid = 0;         // pid of the current lock holder, 0 if none
  uint64_t read_retries = 0;      // seqlock retries of this handle's readers
  // WaitForChange sleeps of this handle that ran out their 100 ms bound
  // although a change had been published meanwhile: lost wake-ups that the
  // bound rescued. 0 unless the wake-up protocol is broken (or a writer
  // stalled exactly at the bound).
  uint64_t change_wait_rescues = 0;
  // Growth (docs/DESIGN.md, "Online growth"): how often the table or the
  // heap grew since creation, the bound on the segment's size, and whether
  // the table is being migrated to a larger one now.
  uint64_t grows_total = 0;
  uint64_t max_segment_size = 0;
  bool growing = false;
};

// One size class of the allocator (a TLSF second-level list).
struct SizeClassStats {
  uint64_t min_block_size = 0;  // smallest block this class holds
  uint64_t max_block_size = 0;  // largest block this class holds
  uint64_t free_blocks = 0;
  uint64_t free_bytes = 0;
};

// The allocator's state, read under the writer lock.
struct AllocatorStats {
  uint64_t heap_size = 0;
  uint64_t used_blocks = 0;  // blocks holding entries
  uint64_t used_bytes = 0;
  uint64_t free_blocks = 0;
  uint64_t free_bytes = 0;
  uint64_t largest_free_block = 0;
  // 1 - largest_free_block / free_bytes: 0 when all free space is one block.
  double fragmentation = 0;
  // Only the classes that hold at least one free block, smallest first.
  std::vector<SizeClassStats> size_classes;
  // False when the writer lock could not be taken within lock_timeout: then
  // the per-class lists were not walked and only the counters above are set.
  bool exact = false;
};

}  // namespace zcipc

#endif  // ZCIPC_OPTIONS_H_
