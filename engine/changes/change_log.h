// The change log: a ring of change records inside the segment, written by
// the writer-lock holder and read lock-free by ReadChanges. The protocol (the
// record format, how a reader validates a record a writer may be
// overwriting, how repair keeps the log and the dict together) is described
// once, in docs/DESIGN.md, "The change log".
//
// In short: positions are logical byte offsets that only grow (the ring
// offset is position & (ring_bytes - 1)). A record is
//   [seq u64][meta u64: key_len (bits 0-31), kind (bits 32-39), position / 8
//   (bits 40-55), kMetaTag (bits 56-63)][key, padded to 8 bytes, possibly
//   wrapping the ring end].
// Records in [log_tail, log_head) are complete, with consecutive seqs; when
// the lock is free the newest has seq == change_seq. The writer stages the
// next record past log_head (moving log_tail past the records it will
// overwrite first; a release fence before its record stores), and commits it by
// storing the new log_head (release) before it publishes change_seq. A reader
// copies a record, then (acquire fence) reloads log_tail: if the tail passed
// the record, the copy may be torn and is thrown away. A change whose record
// would not fit the ring is logged as a 16-byte gap record: readers reaching it
// report the changes before it lost.
//
// Thread safety: Stage, Commit, Repair and CheckLocked need the writer lock;
// Read and OldestRetained are lock-free and may run in any process at any
// time.

#ifndef ZCIPC_ENGINE_CHANGES_CHANGE_LOG_H_
#define ZCIPC_ENGINE_CHANGES_CHANGE_LOG_H_

#include <cstdint>
#include <string>

#include "absl/base/optimization.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/layout/layout.h"
#include "engine/layout/relaxed.h"
#include "zcipc/options.h"

namespace zcipc {
namespace changes {

class ChangeLog {
 public:
  ChangeLog(char* base, const layout::Geometry& geometry,
            layout::Header* header);

  bool enabled() const { return ring_bytes_ != 0; }

  // --- Writer side (lock held). ---

  // Writes the record of change `seq` just past log_head, first moving
  // log_tail past the records it overwrites. Invisible to readers until
  // Commit. A record that does not fit the ring becomes a gap record.
  // Inline: the common case (no eviction, no wrap) is a few stores on
  // every write's path; StageSlow has the rest.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Stage(uint64_t seq, ChangeKind kind,
                                          absl::string_view key) {
    if (!enabled()) return;
    layout::Header& h = *header_;
    const uint64_t head = h.log_head.load(std::memory_order_relaxed);
    const uint64_t tail = h.log_tail.load(std::memory_order_relaxed);
    const uint64_t size = layout::kMinChangeRecord + ((key.size() + 7) & ~7ull);
    const uint64_t at = head & ring_mask_;
    // One test for the rare cases, all sent to StageSlow: eviction needed
    // (head - tail leaves no room for the record; a tail past the head
    // wraps head - tail to a huge number), the record reaching past the
    // ring's end (which includes a record larger than the ring: a gap),
    // or misaligned positions (reset there, as no writer leaves them).
    if (ABSL_PREDICT_FALSE((head - tail > ring_bytes_ - size) |
                           (at + size > ring_bytes_) |
                           (((head | tail) & 7) != 0))) {
      StageSlow(seq, kind, key);
      return;
    }
    // Every writer's record stores follow a release fence (as a seqlock
    // writer's data stores follow its odd sequence and fence), so a reader
    // that copies any of them and then reloads log_tail sees the tail that
    // an earlier writer moved past this space (docs/DESIGN.md, "The change
    // log"). Free on x86-64 and AArch64 after the lock's acquire.
    std::atomic_thread_fence(std::memory_order_release);
    char* p = ring_ + at;
    relaxed::Store64(p, seq);
    relaxed::Store64(p + 8,
                     Meta(kind == ChangeKind::kErase ? kKindErase : kKindPut,
                          key.size(), head));
    relaxed::CopyToShared(p + layout::kMinChangeRecord, key.data(), key.size());
    if (seq % layout::kMarkStride == 0) Mark(seq, head);
    staged_seq_ = seq;
    staged_end_ = head + size;
  }
  // Makes the record Stage wrote for `seq` visible (stores log_head).
  void Commit(uint64_t seq) {
    if (!enabled() || staged_seq_ != seq) return;
    // Release: the record's bytes are complete before the head covers them.
    header_->log_head.store(staged_end_, std::memory_order_release);
  }
  // After a writer died: truncates the log to its valid records and, when
  // `forward_seq` is not 0 (the dead writer's operation took effect), makes
  // sure change forward_seq is in the log (its staged record, or a gap
  // record if that record is missing). Idempotent.
  void Repair(uint64_t forward_seq);
  // DataLoss when the log is inconsistent with itself or with change_seq.
  absl::Status CheckLocked() const;

  // --- Lock-free readers. ---

  // ZeroCopyDict::ReadChanges without the dict's context; `last` is the
  // change_seq the caller read (acquire) before.
  absl::StatusOr<uint64_t> Read(
      uint64_t since, uint64_t last,
      absl::FunctionRef<void(const Change&)> fn) const;
  // The oldest change Read can deliver, 0 if none.
  uint64_t OldestRetained() const;

 private:
  struct Record {
    uint64_t seq;
    uint64_t size;  // bytes in the ring, header included
    uint64_t key_len;
    int kind;  // kKindPut, kKindErase or kKindGap
  };
  enum class Fetched { kOk, kOverwritten, kInvalid };
  static constexpr int kKindPut = 1;
  static constexpr int kKindErase = 2;
  static constexpr int kKindGap = 3;  // a change whose key did not fit
  static constexpr uint64_t kMetaTag = 0xc7;
  // The meta word: key_len (bits 0-31), kind (32-39), 16 bits of the
  // record's own position (40-55: pos / 8, so that a position that is not
  // a record's start, such as a corrupt checkpoint mark pointing into a
  // key, is rejected) and the tag (56-63).
  static uint64_t PositionBits(uint64_t pos) { return (pos >> 3) & 0xffff; }
  static uint64_t Meta(int kind, uint64_t key_len, uint64_t pos) {
    return (kMetaTag << 56) | (PositionBits(pos) << 40) |
           (static_cast<uint64_t>(kind) << 32) | (key_len & 0xffffffffu);
  }

  // Stage's general case: repairs impossible positions, evicts, wraps,
  // writes gap records.
  void StageSlow(uint64_t seq, ChangeKind kind, absl::string_view key);
  // Positions past this are a forged header's (2^63 bytes of changes are
  // not written): the log restarts at 0 rather than let them wrap. A mark
  // no record has (kNoMark) is never inside the log.
  static constexpr uint64_t kPositionLimit = uint64_t{1} << 63;
  static constexpr uint64_t kNoMark = ~uint64_t{0};
  // Starts an empty log at `head` (or at 0 past kPositionLimit), clearing
  // the marks at or past it; returns the new head. Lock held.
  uint64_t Restart(uint64_t head);
  // Forgets the marks at or past `pos` (their records are gone).
  void ClearMarksFrom(uint64_t pos);
  void Mark(uint64_t seq, uint64_t pos) {
    marks_[(seq / layout::kMarkStride) % mark_count_].store(
        pos, std::memory_order_relaxed);
  }

  // Decodes a record's meta word for a record at `pos` into *rec (kind,
  // key_len, size); false unless the tag, the position bits, the kind and
  // the lengths are possible. The one validation of a record's shape,
  // shared by readers (Fetch) and the writer's eviction.
  bool ParseMeta(uint64_t meta, uint64_t pos, Record* rec) const;
  // Copies the record at `pos` (and its key into *key when key != nullptr
  // and it has one) and validates it against `head` and the current tail.
  Fetched Fetch(uint64_t pos, uint64_t head, Record* rec,
                std::string* key) const;
  // Writes a record header (and key) at `pos`; no bounds logic.
  void WriteRecord(uint64_t pos, uint64_t seq, int kind, uint64_t key_len,
                   absl::string_view key);
  // Moves log_tail so that [tail, end) fits the ring.
  void EvictUntil(uint64_t end);
  char* At(uint64_t pos) const { return ring_ + (pos & ring_mask_); }

  char* ring_;
  std::atomic<uint64_t>* marks_;
  uint64_t ring_bytes_;
  uint64_t ring_mask_;  // ring_bytes_ is a power of two
  uint64_t mark_count_;
  layout::Header* header_;
  // The last Stage's record (process-local, lock held).
  uint64_t staged_seq_ = 0;
  uint64_t staged_end_ = 0;
};

}  // namespace changes
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_CHANGES_CHANGE_LOG_H_
