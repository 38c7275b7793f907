// The change log's writer, repair and lock-free reader. The protocol is in
// docs/DESIGN.md, "The change log"; the comments here say which step of it
// each piece is.

#include "engine/changes/change_log.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/layout/relaxed.h"
#include "engine/status/status.h"

namespace zcipc {
namespace changes {

namespace {

constexpr uint64_t kHeaderBytes = layout::kMinChangeRecord;

constexpr uint64_t Pad8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

absl::Status ChangesLost(uint64_t target, uint64_t oldest) {
  return internal::Error(
      absl::StatusCode::kOutOfRange, ErrorKind::kChangesLost,
      oldest == 0
          ? absl::StrCat("change ", target,
                         " is no longer in the change log, which holds no "
                         "change now: rescan with ForEach and continue from "
                         "the ChangeSeq() read before the rescan")
          : absl::StrCat("change ", target,
                         " is no longer in the change log (the oldest "
                         "retained is ",
                         oldest,
                         "): rescan with ForEach and continue from the "
                         "ChangeSeq() read before the rescan"));
}

absl::Status CorruptRecord(uint64_t pos, absl::string_view what) {
  return internal::CorruptError(
      absl::StrCat("change log record at position ", pos, " ", what));
}

}  // namespace

ChangeLog::ChangeLog(char* base, const layout::Geometry& geometry,
                     layout::Header* header)
    : ring_(base + geometry.change_log_ring_offset),
      marks_(reinterpret_cast<std::atomic<uint64_t>*>(
          base + geometry.change_log_offset)),
      ring_bytes_(geometry.change_log_bytes),
      ring_mask_(geometry.change_log_bytes - 1),
      mark_count_(geometry.change_log_marks),
      header_(header) {}

bool ChangeLog::ParseMeta(uint64_t meta, uint64_t pos, Record* rec) const {
  rec->kind = static_cast<int>((meta >> 32) & 0xff);
  rec->key_len = meta & 0xffffffffu;
  rec->size =
      rec->kind == kKindGap ? kHeaderBytes : kHeaderBytes + Pad8(rec->key_len);
  return (meta >> 56) == kMetaTag &&
         ((meta >> 40) & 0xffff) == PositionBits(pos) &&
         (rec->kind == kKindPut || rec->kind == kKindErase ||
          rec->kind == kKindGap) &&
         rec->key_len <= kMaxKeySize && rec->size <= ring_bytes_;
}

ChangeLog::Fetched ChangeLog::Fetch(uint64_t pos, uint64_t head, Record* rec,
                                    std::string* key) const {
  bool valid = (pos & 7) == 0 && pos < head && head - pos >= kHeaderBytes;
  if (valid) {
    rec->seq = relaxed::Load64(At(pos));
    valid = ParseMeta(relaxed::Load64(At(pos + 8)), pos, rec) &&
            rec->seq != 0 && rec->size <= head - pos;
    if (valid && key != nullptr && rec->kind != kKindGap) {
      // The key may wrap the ring's end: at most two pieces, each starting
      // 8-aligned and readable to its next multiple of 8.
      key->resize(rec->key_len);
      const uint64_t at = (pos + kHeaderBytes) & ring_mask_;
      const uint64_t first = std::min(rec->key_len, ring_bytes_ - at);
      relaxed::CopyFromShared(&(*key)[0], ring_ + at, first);
      relaxed::CopyFromShared(&(*key)[first], ring_, rec->key_len - first);
    }
  }
  // Pairs with the writer's release fence after it moved the tail: if any
  // byte above came from a record written over this one, the tail load
  // below sees the tail past `pos`.
  std::atomic_thread_fence(std::memory_order_acquire);
  if (pos < header_->log_tail.load(std::memory_order_relaxed)) {
    return Fetched::kOverwritten;
  }
  return valid ? Fetched::kOk : Fetched::kInvalid;
}

void ChangeLog::WriteRecord(uint64_t pos, uint64_t seq, int kind,
                            uint64_t key_len, absl::string_view key) {
  const uint64_t at = pos & ring_mask_;
  char* p = ring_ + at;
  relaxed::Store64(p, seq);
  relaxed::Store64(At(pos + 8), Meta(kind, key_len, pos));
  if (kind == kKindGap || key.empty()) return;
  if (ABSL_PREDICT_TRUE(at + kHeaderBytes + key.size() <= ring_bytes_)) {
    relaxed::CopyToShared(p + kHeaderBytes, key.data(), key.size());
    return;
  }
  const uint64_t key_at = (pos + kHeaderBytes) & ring_mask_;
  const uint64_t first = std::min<uint64_t>(key.size(), ring_bytes_ - key_at);
  relaxed::CopyToShared(ring_ + key_at, key.data(), first);
  relaxed::CopyToShared(ring_, key.data() + first, key.size() - first);
}

void ChangeLog::EvictUntil(uint64_t end) {
  layout::Header& h = *header_;
  const uint64_t head = h.log_head.load(std::memory_order_relaxed);
  uint64_t tail = h.log_tail.load(std::memory_order_relaxed);
  const uint64_t old_tail = tail;
  if (end - tail <= ring_bytes_) return;
  // Free a sixteenth of the ring more than needed, so that the next writes
  // append without evicting: eviction runs once per ~ring/16 bytes of
  // changes, and the log retains at least 15/16 of its ring.
  const uint64_t goal = end + (ring_bytes_ >> 4);
  while (goal - tail > ring_bytes_ && tail < head) {
    // Only the writer changes the ring: the record's meta word suffices
    // (its tag, kind and length bound the step; readers validate the rest).
    Record rec;
    if (!ParseMeta(relaxed::Load64(At(tail + 8)), tail, &rec) ||
        rec.size > head - tail) {
      tail = head;  // corrupt: drop what is left (readers resync)
      break;
    }
    tail += rec.size;
  }
  if (end - tail > ring_bytes_) tail = head;  // (only if corrupt)
  if (tail == old_tail) return;
  h.log_tail.store(tail, std::memory_order_relaxed);
  // The tail moves before any byte of the records it frees is overwritten
  // (docs/DESIGN.md, "The change log": pairs with Fetch's acquire fence).
  std::atomic_thread_fence(std::memory_order_release);
}

uint64_t ChangeLog::Restart(uint64_t head) {
  layout::Header& h = *header_;
  // Positions only grow; one so close to 2^64 that it could wrap around
  // restarts at 0 (no log writes that much: a forged header).
  head = head > kPositionLimit ? 0 : Pad8(head);
  h.log_tail.store(head, std::memory_order_relaxed);
  h.log_head.store(head, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_release);
  ClearMarksFrom(head);
  return head;
}

void ChangeLog::ClearMarksFrom(uint64_t pos) {
  for (uint64_t m = 0; m < mark_count_; ++m) {
    if (marks_[m].load(std::memory_order_relaxed) >= pos) {
      marks_[m].store(kNoMark, std::memory_order_relaxed);
    }
  }
}

void ChangeLog::StageSlow(uint64_t seq, ChangeKind kind,
                          absl::string_view key) {
  layout::Header& h = *header_;
  uint64_t head = h.log_head.load(std::memory_order_relaxed);
  const uint64_t tail = h.log_tail.load(std::memory_order_relaxed);
  if (ABSL_PREDICT_FALSE(((head | tail) & 7) != 0 || tail > head ||
                         head - tail > ring_bytes_ || head > kPositionLimit)) {
    // Not a state this protocol leaves: start an empty log at the head.
    head = Restart(head);
  }
  int k = kind == ChangeKind::kErase ? kKindErase : kKindPut;
  uint64_t size = kHeaderBytes + Pad8(key.size());
  if (ABSL_PREDICT_FALSE(size > ring_bytes_)) {
    k = kKindGap;
    size = kHeaderBytes;
  }
  if (head + size - tail > ring_bytes_) EvictUntil(head + size);
  WriteRecord(head, seq, k, key.size(), key);
  if (seq % layout::kMarkStride == 0) Mark(seq, head);
  staged_seq_ = seq;
  staged_end_ = head + size;
}

void ChangeLog::Repair(uint64_t forward_seq) {
  if (!enabled()) return;
  layout::Header& h = *header_;
  uint64_t head = h.log_head.load(std::memory_order_relaxed);
  uint64_t tail = h.log_tail.load(std::memory_order_relaxed);
  if ((head & 7) != 0 || (tail & 7) != 0 || tail > head ||
      head - tail > ring_bytes_ || head > kPositionLimit) {
    head = Restart(head);
    tail = head;
  }
  // Keep the longest valid run of consecutive records from the tail.
  uint64_t pos = tail, last = 0;
  while (pos < head) {
    Record rec;
    if (Fetch(pos, head, &rec, nullptr) != Fetched::kOk ||
        (last != 0 && rec.seq != last + 1)) {
      break;
    }
    last = rec.seq;
    pos += rec.size;
  }
  if (pos != head) {
    head = pos;
    h.log_head.store(head, std::memory_order_release);
    // Marks of the records dropped here would point into the records
    // written there next.
    ClearMarksFrom(head);
  }
  if (forward_seq == 0 || (last != 0 && forward_seq <= last)) return;
  if (last != 0 && forward_seq != last + 1) {
    // The log does not lead up to this change: keep only what follows.
    h.log_tail.store(head, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  // The dead writer staged this change's record at the head before it
  // recorded its intent; commit it, or log a gap if it is not there.
  Record rec;
  if (Fetch(head, head + ring_bytes_, &rec, nullptr) == Fetched::kOk &&
      rec.seq == forward_seq && rec.kind != kKindGap) {
    EvictUntil(head + rec.size);
    staged_seq_ = forward_seq;
    staged_end_ = head + rec.size;
  } else {
    EvictUntil(head + kHeaderBytes);
    WriteRecord(head, forward_seq, kKindGap, 0, absl::string_view());
    staged_seq_ = forward_seq;
    staged_end_ = head + kHeaderBytes;
  }
  Commit(forward_seq);
}

absl::Status ChangeLog::CheckLocked() const {
  if (!enabled()) return absl::OkStatus();
  const layout::Header& h = *header_;
  const uint64_t head = h.log_head.load(std::memory_order_relaxed);
  const uint64_t tail = h.log_tail.load(std::memory_order_relaxed);
  if ((head & 7) != 0 || (tail & 7) != 0 || tail > head ||
      head - tail > ring_bytes_) {
    return internal::CorruptError(
        absl::StrCat("change log positions tail ", tail, " head ", head,
                     " do not fit a ring of ", ring_bytes_, " bytes"));
  }
  // Marks are hints (a reader checks the record's seq), but one pointing
  // into the retained log must point at the start of a record: sorted, they
  // are matched against the record starts of the walk below.
  std::vector<uint64_t> marks;
  for (uint64_t m = 0; m < mark_count_; ++m) {
    const uint64_t at = marks_[m].load(std::memory_order_relaxed);
    if (at >= tail && at < head) marks.push_back(at);
  }
  std::sort(marks.begin(), marks.end());
  size_t next_mark = 0;
  uint64_t pos = tail, last = 0;
  while (pos < head) {
    Record rec;
    if (Fetch(pos, head, &rec, nullptr) != Fetched::kOk) {
      return CorruptRecord(pos, "is not a valid record");
    }
    for (; next_mark < marks.size() && marks[next_mark] <= pos; ++next_mark) {
      if (marks[next_mark] != pos) {
        return internal::CorruptError(
            absl::StrCat("a change log checkpoint mark points at position ",
                         marks[next_mark], ", inside a record"));
      }
    }
    if (last != 0 && rec.seq != last + 1) {
      return CorruptRecord(
          pos, absl::StrCat("holds change ", rec.seq, " after change ", last));
    }
    last = rec.seq;
    pos += rec.size;
  }
  const uint64_t seq = h.change_seq.load(std::memory_order_relaxed);
  if (last != 0 && last != seq) {
    return internal::CorruptError(absl::StrCat("the change log ends at change ",
                                               last, " but the last change is ",
                                               seq));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ChangeLog::Read(
    uint64_t since, uint64_t last,
    absl::FunctionRef<void(const Change&)> fn) const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "the dict has no change log (created with change_log_bytes = 0)");
  }
  if (since >= last) return since;
  const layout::Header& h = *header_;
  // Loaded after `last` (acquire): covers the record of change `last`.
  uint64_t head = h.log_head.load(std::memory_order_acquire);
  const uint64_t target = since + 1;
  uint64_t delivered = since;
  std::string key;
  // Each retry follows a writer overwriting the records being read; the
  // tail moves every time, so a reader that keeps losing that race soon
  // finds `target` gone. The bound only guards against a corrupt tail.
  for (int attempt = 0; attempt < 100000; ++attempt) {
    // 1. A record at or before `target` to walk from: the checkpoint mark
    //    (a hint, validated like any record), else the tail.
    Record rec;
    uint64_t pos = 0;
    bool found = false;
    const uint64_t checkpoint = target - target % layout::kMarkStride;
    if (checkpoint != 0) {
      pos = marks_[(checkpoint / layout::kMarkStride) % mark_count_].load(
          std::memory_order_relaxed);
      found = Fetch(pos, head, &rec, nullptr) == Fetched::kOk &&
              rec.seq == checkpoint;
    }
    if (!found) {
      pos = h.log_tail.load(std::memory_order_acquire);
      if (pos >= head) {
        head = h.log_head.load(std::memory_order_acquire);
        if (pos >= head) return ChangesLost(target, 0);
        continue;
      }
      Fetched f = Fetch(pos, head, &rec, nullptr);
      if (f == Fetched::kOverwritten) continue;
      if (f == Fetched::kInvalid) return CorruptRecord(pos, "is not valid");
      if (rec.seq > target) {
        // A gap record retains nothing: the oldest retained change is the
        // one after it, if the log holds one.
        return ChangesLost(target, rec.kind != kKindGap    ? rec.seq
                                   : pos + rec.size < head ? rec.seq + 1
                                                           : 0);
      }
    }
    // 2. Walk to `target`, then deliver up to the head.
    bool retry = false;
    for (;;) {
      if (rec.seq >= target) {
        if (rec.kind == kKindGap) {
          if (delivered != since) return delivered;
          return ChangesLost(target, pos + rec.size < head ? rec.seq + 1 : 0);
        }
        Fetched f = Fetch(pos, head, &rec, &key);
        if (f == Fetched::kOverwritten) {
          if (delivered != since) return delivered;
          retry = true;
          break;
        }
        if (f == Fetched::kInvalid) return CorruptRecord(pos, "is not valid");
        fn(Change{
            rec.seq,
            rec.kind == kKindErase ? ChangeKind::kErase : ChangeKind::kPut,
            absl::string_view(key)});
        delivered = rec.seq;
      }
      const uint64_t prev = rec.seq;
      pos += rec.size;
      if (pos >= head) return delivered;
      Fetched f = Fetch(pos, head, &rec, nullptr);
      if (f == Fetched::kOverwritten) {
        if (delivered != since) return delivered;
        retry = true;
        break;
      }
      if (f == Fetched::kInvalid) return CorruptRecord(pos, "is not valid");
      if (rec.seq != prev + 1) {
        return CorruptRecord(
            pos, absl::StrCat("holds change ", rec.seq, " after ", prev));
      }
    }
    if (!retry) return delivered;
  }
  return ChangesLost(target, OldestRetained());
}

uint64_t ChangeLog::OldestRetained() const {
  if (!enabled()) return 0;
  const layout::Header& h = *header_;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint64_t head = h.log_head.load(std::memory_order_acquire);
    const uint64_t tail = h.log_tail.load(std::memory_order_acquire);
    if (tail >= head) return 0;
    Record rec;
    Fetched f = Fetch(tail, head, &rec, nullptr);
    if (f == Fetched::kOverwritten) continue;
    if (f == Fetched::kInvalid) return 0;
    if (rec.kind != kKindGap) return rec.seq;
    return tail + rec.size < head ? rec.seq + 1 : 0;
  }
  return 0;
}

}  // namespace changes
}  // namespace zcipc
