// zcipc: a named shared-memory dictionary for processes on one machine.
//
// A ZeroCopyDict maps byte-string keys to byte-string values inside one POSIX
// shared-memory segment (`/dev/shm/zcipc.<name>` on Linux). Any number of
// processes attach to it by name. Reads are lock-free: they validate per-slot
// sequence numbers (a seqlock) and retry if a writer raced them, so readers
// never wait for each other and never block writers. Writes are serialised by
// one writer lock: a word in the segment taken with a compare-and-swap (no
// system call when uncontended), whose owner proves it lives by a file lock
// the kernel drops when it dies (docs/DESIGN.md). A writer that dies in
// the middle of an operation leaves an intent record behind; the next process
// that takes the lock (or a reader that finds a slot stuck) repairs the dict
// before doing anything else.
//
// Thread safety
//   ZeroCopyDict is thread-safe: any number of threads may call any method on
//   one handle concurrently, and any number of processes may hold handles to
//   the same dict. The handle is move-only; a moved-from handle answers every
//   call with FailedPrecondition (Size() answers 0).
//
// Lifetime
//   A dict lives until Unlink() removes its name (like a file), not until the
//   last handle closes: the destructor unmaps but never unlinks. Existing
//   handles keep working on an unlinked dict; new Attach calls fail NotFound.
//
// Errors
//   Every failure is an absl::Status, never an exception. Its message starts
//   with "dict 'NAME': Op: "; where programs must tell failures of one code
//   apart, GetErrorKind(status) (zcipc/status.h) says which it is.
//     NotFound            missing key (no message, no allocation) or dict
//     AlreadyExists       Create over an existing name
//     InvalidArgument     bad name, key over kMaxKeySize, bad Options
//     ResourceExhausted   table full (kTableFull) or heap full (kHeapFull):
//                         with auto_grow off, or growing would pass
//                         max_segment_size
//     DeadlineExceeded    writer lock not acquired within lock_timeout
//                         (kLockTimeout), or a lock-free read that waited
//                         lock_timeout on a stopped writer (kReadTimeout)
//     FailedPrecondition  format version or layout mismatch, not a regular
//                         file, re-entry from a callback, moved-from handle
//     PermissionDenied    another user's dict
//     DataLoss            bad magic, no header, truncated or inconsistent
//     OutOfRange          Add would overflow int64
//     Internal            an unexpected system error
//
// Example:
//   absl::StatusOr<zcipc::ZeroCopyDict> dict =
//       zcipc::ZeroCopyDict::OpenOrCreate("telemetry");
//   if (!dict.ok()) return dict.status();
//   absl::Status s = dict->Put("requests", "42");
//   std::string value;
//   s = dict->Get("requests", &value);  // value == "42"

#ifndef ZCIPC_ZERO_COPY_DICT_H_
#define ZCIPC_ZERO_COPY_DICT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "zcipc/options.h"
#include "zcipc/status.h"
#include "zcipc/wait_hooks.h"

namespace zcipc {

namespace internal {
class DictImpl;
}  // namespace internal

class ZeroCopyDict;

// The operations of one Write() call, applied under one hold of the writer
// lock (which amortises the lock: see ZeroCopyDict::Write).
//
// Thread safety: a Batch is valid only inside the Write callback that
// received it, on the thread running that callback.
class Batch {
 public:
  // As the ZeroCopyDict methods of the same names.
  absl::Status Put(absl::string_view key, absl::string_view value);
  absl::Status Put(absl::string_view key, absl::string_view value,
                   ValueType type);
  absl::Status Erase(absl::string_view key);
  absl::Status Get(absl::string_view key, std::string* value) const;
  absl::Status Get(absl::string_view key, std::string* value,
                   ValueType* type) const;
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta);
  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view desired);
  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view desired,
                                      ValueType type);

  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

 private:
  friend class ZeroCopyDict;
  explicit Batch(internal::DictImpl* impl) : impl_(impl) {}
  internal::DictImpl* impl_;
};

class ZeroCopyDict {
 public:
  // Creates a new dict. Exclusive: AlreadyExists if `name` exists (nothing is
  // wiped). InvalidArgument for a bad name or options; ResourceExhausted if
  // the system cannot provide the memory.
  static absl::StatusOr<ZeroCopyDict> Create(absl::string_view name,
                                             const Options& options = {});
  // Attaches to an existing dict. NotFound if it does not exist. Creation is
  // atomic (a dict appears under its name complete), so Attach never waits:
  // FailedPrecondition (kNotAFile) for a directory, symbolic link, FIFO or
  // other non-file; DataLoss (kNoHeader) for an empty or headerless file,
  // (kCorrupt) for a bad magic or a segment whose size or geometry disagrees
  // with its header; FailedPrecondition (kIncompatible) for another format
  // version or layout; PermissionDenied for another user's dict.
  // options.max_items and heap_size are ignored: the dict has its own.
  static absl::StatusOr<ZeroCopyDict> Attach(absl::string_view name,
                                             const Options& options = {});
  // Attaches if `name` exists, otherwise creates it with `options`. Safe when
  // several processes race to open the same name.
  static absl::StatusOr<ZeroCopyDict> OpenOrCreate(absl::string_view name,
                                                   const Options& options = {});
  // Removes the name. Handles already open keep working. NotFound if absent.
  static absl::Status Unlink(absl::string_view name);

  ZeroCopyDict(ZeroCopyDict&& other) noexcept;
  ZeroCopyDict& operator=(ZeroCopyDict&& other) noexcept;
  ZeroCopyDict(const ZeroCopyDict&) = delete;
  ZeroCopyDict& operator=(const ZeroCopyDict&) = delete;
  ~ZeroCopyDict();  // unmaps; never unlinks

  // Inserts or replaces. A replacement reuses the value's block when the new
  // value fits; otherwise it allocates a new block before freeing the old
  // one, so ResourceExhausted (heap or table full) leaves the dict unchanged.
  // The value's type is kBytes.
  absl::Status Put(absl::string_view key, absl::string_view value);
  // The same, storing `type` with the value (see ValueType).
  absl::Status Put(absl::string_view key, absl::string_view value,
                   ValueType type);

  // Atomic counter (across threads and processes): the value is an 8-byte
  // little-endian int64; an absent key starts at 0. Returns the new value
  // and stores it as ValueType::kInt64. FailedPrecondition (kNotACounter)
  // if the value is not 8 bytes or is typed other than kBytes or kInt64;
  // OutOfRange if the sum overflows int64 (the value is then unchanged).
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta);

  // Stores `desired` if the current value equals `expected`, or, when
  // `expected` is nullopt, if the key is absent. True if it stored.
  // The value's bytes are compared (not its type); `desired` is stored as
  // kBytes, or as `type`.
  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view desired);
  absl::StatusOr<bool> CompareAndSwap(absl::string_view key,
                                      std::optional<absl::string_view> expected,
                                      absl::string_view desired,
                                      ValueType type);

  // General read-modify-write under the writer lock: fn sees the current
  // value (nullopt if absent) and writes the new one into *out. If fn
  // returns an error, Update returns it and the dict is unchanged. fn runs
  // exactly once, with the lock held: writes to this dict from fn answer
  // FailedPrecondition. The new value is stored as kBytes.
  absl::Status Update(
      absl::string_view key,
      absl::FunctionRef<absl::Status(std::optional<absl::string_view> old,
                                     std::string* out)>
          fn);

  // Runs fn with the writer lock held for its whole duration, so many
  // Put/Erase/Get/Add/CompareAndSwap calls through the Batch cost one lock
  // acquisition. Returns fn's status.
  //
  // Not a transaction: each operation takes effect when its Batch call
  // returns, and lock-free readers may see the batch half applied (each entry
  // they read is consistent). If fn returns an error, the operations already
  // done stay done. If the process dies inside fn, the operations that
  // returned OK are kept, the one in flight is completed or undone by the
  // next process, and the rest never happened. Other writers (threads and
  // processes) wait for the whole batch. fn may use this handle's lock-free
  // reads (Get, Read, Contains, ForEach); its writes answer
  // FailedPrecondition there (write through the Batch).
  absl::Status Write(absl::FunctionRef<absl::Status(Batch&)> fn);

  // Lock-free lookups. NotFound (no message) if the key is absent. A lookup
  // that meets the entry a live writer is changing waits for it, at most
  // options.lock_timeout (then DeadlineExceeded, kReadTimeout); a dead
  // writer's entry is repaired at once.
  absl::Status Get(absl::string_view key, std::string* value) const;
  absl::StatusOr<std::string> Get(absl::string_view key) const;
  // The same, with the value's type (type may be nullptr).
  absl::Status Get(absl::string_view key, std::string* value,
                   ValueType* type) const;

  // Zero-copy: fn sees the value in place. fn may run more than once if a
  // writer raced; only the run before an OK return saw a consistent value;
  // fn must not keep the view.
  absl::Status Read(absl::string_view key,
                    absl::FunctionRef<void(absl::string_view)> fn) const;
  // The same, with the value's type.
  absl::Status ReadTyped(
      absl::string_view key,
      absl::FunctionRef<void(absl::string_view, ValueType)> fn) const;

  // The lock-only path: takes the writer lock and copies the value. Slower
  // than Get; exists to measure and to read when the seqlock path is suspect.
  absl::Status GetLocked(absl::string_view key, std::string* value) const;

  // Removes the key, leaving a tombstone (purged when they pass 1/8 of the
  // slots). NotFound if absent.
  absl::Status Erase(absl::string_view key);

  // Lock-free membership test.
  absl::StatusOr<bool> Contains(absl::string_view key) const;

  // Live entries (lock-free; 0 for a moved-from handle).
  uint64_t Size() const;

  // Calls fn for every entry, lock-free, with copies of the key and value.
  // Each pair is consistent. Every key present for the whole call is visited
  // exactly once; keys inserted or erased during the call may or may not be.
  // The views are valid only during the call.
  absl::Status ForEach(
      absl::FunctionRef<void(absl::string_view key, absl::string_view value)>
          fn) const;
  // The same, with each value's type.
  absl::Status ForEachTyped(
      absl::FunctionRef<void(absl::string_view key, absl::string_view value,
                             ValueType type)>
          fn) const;

  // The change feed. Every successful Put, Erase and Add, a CompareAndSwap
  // or Update that stored, and each such operation inside a Write batch is
  // one change; changes are numbered 1, 2, 3, ... without gaps, in the order
  // writers applied them. A writer killed mid-operation leaves the number
  // consistent with the dict: the change counts if and only if its
  // operation took effect (repair rolls both forward or back together).
  //
  // The number of the last completed change (0 for a new dict). Lock-free.
  uint64_t ChangeSeq() const;
  // Returns ChangeSeq() as soon as it is greater than `since` (at once if it
  // already is); DeadlineExceeded after `timeout`. Blocks in the kernel (a
  // futex on a word in the segment), never polls; a writer makes no system
  // call when nobody waits.
  absl::StatusOr<uint64_t> WaitForChange(uint64_t since,
                                         absl::Duration timeout) const;
  // Lock-free: calls fn for every retained change with seq > since, in
  // order, and returns the last seq delivered (`since` if none). A Change's
  // key is valid only during the call. Values are not in the log: fn reads
  // the current value with Get (a key changed again later appears again
  // later). If change since + 1 is no longer retained (the log wrapped, or it
  // was a change whose key did not fit the log), the result is OutOfRange
  // with ErrorKind::kChangesLost naming the oldest retained change: rescan
  // with ForEach and continue from the ChangeSeq() read before the rescan.
  // After delivering some changes, a change found overwritten ends the call
  // with OK (the next call reports the loss). FailedPrecondition when the
  // dict was created with change_log_bytes = 0. docs/DESIGN.md, "The change
  // log".
  absl::StatusOr<uint64_t> ReadChanges(
      uint64_t since, absl::FunctionRef<void(const Change&)> fn) const;

  // Grows the dict now to hold at least max_items entries and heap_size
  // bytes of heap (never shrinks: smaller figures than the current capacity
  // change nothing). Readers keep reading meanwhile; the writer lock is
  // held while the table migrates. ResourceExhausted when that would pass
  // the dict's max_segment_size. Works whatever Options::auto_grow says.
  absl::Status Reserve(uint64_t max_items, uint64_t heap_size);

  Stats GetStats() const;
  // Walks the free lists under the writer lock (see AllocatorStats::exact).
  AllocatorStats GetAllocatorStats() const;

  // Full integrity check under the writer lock (like fsck): header, every
  // slot, every heap block, the free lists and bitmaps, the counters. OK or
  // DataLoss describing the first problem found. A pending crash repair runs
  // first, as with any lock acquisition.
  absl::Status Check() const;

  // The dict's name, as given to Create/Attach.
  const std::string& name() const;

 private:
  explicit ZeroCopyDict(std::unique_ptr<internal::DictImpl> impl);
  friend class internal::DictImpl;
  friend absl::StatusOr<struct Inspection> Inspect(const ZeroCopyDict& dict);

  std::unique_ptr<internal::DictImpl> impl_;
};

}  // namespace zcipc

#endif  // ZCIPC_ZERO_COPY_DICT_H_
