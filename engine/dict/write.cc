// The write protocol's steps (docs/DESIGN.md, "The write protocol", has the
// protocol as a whole; repair.cc what happens when a writer dies between two
// of them).

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "engine/platform/platform.h"

namespace zcipc {
namespace internal {

namespace {

// Marks a step of the write protocol for the crash-point tests.
inline void Step(const char* step) { CrashPoint(step); }

}  // namespace

using layout::Op;

void DictImpl::BeginIntent(Op op, uint64_t slot, uint64_t old_block,
                           uint64_t hash, absl::string_view key) {
  layout::Intent& in = header_->intent;
  const uint64_t seq =
      op == Op::kPurge
          ? 0
          : header_->change_seq.load(std::memory_order_relaxed) + 1;
  // The change's log record first: once the op below is recorded, repair
  // may roll the operation forward and commit the record with it.
  if (seq != 0) {
    changes_.Stage(
        seq, op == Op::kErase ? ChangeKind::kErase : ChangeKind::kPut, key);
    Step("log.staged");
  }
  in.phase.store(layout::kPhaseStarted, std::memory_order_relaxed);
  in.slot.store(slot, std::memory_order_relaxed);
  in.old_block.store(old_block, std::memory_order_relaxed);
  in.new_block.store(0, std::memory_order_relaxed);
  in.hash.store(hash, std::memory_order_relaxed);
  in.change_seq.store(seq, std::memory_order_relaxed);
  // Release: a repairer that sees the op sees its fields.
  in.op.store(static_cast<uint64_t>(op), std::memory_order_release);
}

void DictImpl::SetPhase(uint64_t phase) {
  // Release: the staged bytes are complete before the phase says so.
  header_->intent.phase.store(phase, std::memory_order_release);
}

void DictImpl::EndIntent() {
  layout::AddUnderLock(header_->writes_total, 1);
  const uint64_t seq =
      header_->intent.change_seq.load(std::memory_order_relaxed);
  changes_.Commit(seq);
  Step("log.committed");
  PublishChange(seq);
  AbortIntent();
}

void DictImpl::PublishChange(uint64_t seq) {
  // Idempotent (repair may publish the same change again): the feed only
  // moves forward. See docs/DESIGN.md, "The change feed", for why the
  // seq_cst store and load below cannot lose a waiter's wake-up.
  if (seq <= header_->change_seq.load(std::memory_order_relaxed)) return;
  header_->change_seq.store(seq, std::memory_order_release);
  header_->change_word.store(static_cast<uint32_t>(seq),
                             std::memory_order_seq_cst);
  if (ABSL_PREDICT_FALSE(
          header_->change_waiters.load(std::memory_order_seq_cst) != 0)) {
    platform::FutexWakeAll(&header_->change_word);
  }
}

void DictImpl::AbortIntent() {
  header_->intent.op.store(static_cast<uint64_t>(Op::kNone),
                           std::memory_order_release);
}

void DictImpl::WriteEntry(uint64_t block, absl::string_view key,
                          absl::string_view value, ValueType type) {
  char* p = base_ + block;
  relaxed::Store64(p + layout::kEntryValueLenOffset, value.size());
  relaxed::Store64(p + layout::kEntryKeyLenOffset,
                   layout::EntryKeyWord(key.size(), type));
  char* k = p + layout::kEntryHeaderSize;
  relaxed::CopyToShared(k, key.data(), key.size());
  relaxed::CopyToShared(k + index::Pad8(key.size()), value.data(),
                        value.size());
}

absl::StatusOr<uint64_t> DictImpl::StageEntry(const char* step_allocated,
                                              absl::string_view key,
                                              absl::string_view value,
                                              ValueType type) {
  uint64_t size = alloc::Allocator::BlockSizeFor(
      index::EntryPayload(key.size(), value.size()));
  absl::StatusOr<uint64_t> block = alloc_.Allocate(size);
  if (!block.ok()) {
    if (absl::IsResourceExhausted(block.status())) return HeapFull(size);
    return block.status();  // DataLoss: the intent stays, repair follows
  }
  header_->intent.new_block.store(*block, std::memory_order_relaxed);
  Step(step_allocated);
  WriteEntry(*block, key, value, type);
  SetPhase(layout::kPhaseStaged);
  return *block;
}

absl::Status DictImpl::Insert(uint64_t slot, uint64_t hash,
                              absl::string_view key, absl::string_view value,
                              ValueType type) {
  uint64_t old = index_.slot(slot).block.load(std::memory_order_relaxed);
  BeginIntent(Op::kInsert, slot, old, hash, key);
  Step("insert.begin");
  absl::StatusOr<uint64_t> block =
      StageEntry("insert.allocated", key, value, type);
  if (!block.ok()) {
    if (GetErrorKind(block.status()) == ErrorKind::kHeapFull) AbortIntent();
    return block.status();
  }
  Step("insert.staged");
  index_.Publish(slot, hash, *block);
  SetPhase(layout::kPhasePublished);
  Step("insert.published");
  layout::AddUnderLock(header_->size, 1);
  if (old == layout::kTombstoneBlock) {
    layout::SubUnderLock(header_->tombstones, 1);
  }
  EndIntent();
  return absl::OkStatus();
}

absl::Status DictImpl::UpdateInPlace(uint64_t slot, uint64_t block,
                                     const index::Entry& e,
                                     absl::string_view key,
                                     absl::string_view value, ValueType type) {
  BeginIntent(Op::kUpdateInPlace, slot, block, 0, key);
  // Redo copy first: if we die while overwriting the value, repair copies
  // it again from here.
  if (!value.empty()) memcpy(journal_, value.data(), value.size());
  header_->intent.value_len.store(
      value.size() | (static_cast<uint64_t>(type) << layout::kIntentTypeShift),
      std::memory_order_relaxed);
  SetPhase(layout::kPhaseStaged);
  Step("update.staged");
  layout::Slot& s = index_.slot(slot);
  seqlock::WriteBegin(s.seq);
  char* p = base_ + block;
  relaxed::Store64(p + layout::kEntryValueLenOffset, value.size());
  if (type != e.type) {
    relaxed::Store64(p + layout::kEntryKeyLenOffset,
                     layout::EntryKeyWord(e.key_len, type));
  }
  relaxed::CopyToShared(const_cast<char*>(e.value), value.data(), value.size());
  Step("update.copied");
  seqlock::WriteEnd(s.seq);
  SetPhase(layout::kPhasePublished);
  Step("update.published");
  EndIntent();
  return absl::OkStatus();
}

absl::Status DictImpl::Relocate(uint64_t slot, uint64_t old_block,
                                uint64_t hash, absl::string_view key,
                                absl::string_view value, ValueType type) {
  BeginIntent(Op::kRelocate, slot, old_block, hash, key);
  Step("relocate.begin");
  // Allocate before freeing: if the heap is full the old value stays.
  absl::StatusOr<uint64_t> block =
      StageEntry("relocate.allocated", key, value, type);
  if (!block.ok()) {
    if (GetErrorKind(block.status()) == ErrorKind::kHeapFull) AbortIntent();
    return block.status();
  }
  Step("relocate.staged");
  index_.Publish(slot, hash, *block);
  SetPhase(layout::kPhasePublished);
  Step("relocate.published");
  absl::Status s = alloc_.Free(old_block);
  if (!s.ok()) return s;  // the intent stays: repair rebuilds the heap
  Step("relocate.freed");
  EndIntent();
  return absl::OkStatus();
}

absl::Status DictImpl::EraseSlot(uint64_t slot, uint64_t block,
                                 absl::string_view key) {
  uint64_t hash = index_.slot(slot).hash.load(std::memory_order_relaxed);
  BeginIntent(Op::kErase, slot, block, hash, key);
  Step("erase.begin");
  index_.Publish(slot, hash, layout::kTombstoneBlock);
  SetPhase(layout::kPhasePublished);
  Step("erase.published");
  absl::Status s = alloc_.Free(block);
  if (!s.ok()) return s;
  Step("erase.freed");
  layout::SubUnderLock(header_->size, 1);
  layout::AddUnderLock(header_->tombstones, 1);
  uint64_t tombstones = header_->tombstones.load(std::memory_order_relaxed);
  EndIntent();
  // No purge while a larger table is being built: the migration leaves
  // the tombstones behind anyway.
  if (tombstones > index_.slot_count() / layout::kPurgeDivisor &&
      !index_.migrating()) {
    return Purge();
  }
  return absl::OkStatus();
}

absl::Status DictImpl::Purge() {
  std::vector<index::Index::Live> live;
  absl::Status s = index_.CollectLive(&live);
  if (!s.ok()) return s;
  BeginIntent(Op::kPurge, 0, 0, 0, absl::string_view());
  Step("purge.begin");
  index_.BeginRebuild();
  Step("purge.cleared");
  index_.FinishRebuild(live);
  Step("purge.rebuilt");
  header_->tombstones.store(0, std::memory_order_relaxed);
  layout::AddUnderLock(header_->purges_total, 1);
  AbortIntent();
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace zcipc
