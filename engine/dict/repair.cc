// Crash repair: the rules per operation and phase, and why each step is
// idempotent, are in docs/DESIGN.md ("The write protocol and crash repair").
// Repair() runs with the writer lock held, when a writer or a reader finds a
// pending intent record or an odd sequence left by a dead writer.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "engine/platform/platform.h"
#include "engine/status/status.h"

namespace zcipc {
namespace internal {

using layout::Op;

absl::Status DictImpl::RebuildIndexFromHeap() {
  std::vector<alloc::Block> blocks;
  absl::Status s = alloc_.Check(&blocks);
  if (!s.ok()) return s;
  // The heap also holds the table (and a table being built): not entries.
  const uint64_t table_block = header_->table_block.load();
  const uint64_t migrate_block = header_->migrate_block.load();
  blocks.erase(std::remove_if(blocks.begin(), blocks.end(),
                              [&](const alloc::Block& b) {
                                return b.offset == table_block ||
                                       b.offset == migrate_block;
                              }),
               blocks.end());
  if (blocks.size() >= index_.slot_count()) {
    return internal::CorruptError(
        absl::StrCat(blocks.size(), " allocated blocks exceed max_items"));
  }
  std::vector<index::Index::Live> live;
  live.reserve(blocks.size());
  for (const alloc::Block& b : blocks) {
    index::Entry e;
    if (!index_.ParseEntry(b.offset, &e)) {
      return internal::CorruptError(
          absl::StrCat("allocated block ", b.offset, " is not an entry"));
    }
    live.push_back(
        {0, index::HashKey(absl::string_view(e.key, e.key_len)), b.offset});
  }
  index_.BeginRebuild();
  index_.FinishRebuild(live);
  return absl::OkStatus();
}

absl::Status DictImpl::RebuildAllocatorFromSlots() {
  std::vector<index::Index::Live> live;
  absl::Status s = index_.CollectLive(&live);
  if (!s.ok()) return s;
  std::vector<alloc::Block> used;
  used.reserve(live.size());
  for (const auto& l : live) {
    uint64_t size = alloc_.AllocatedSize(l.block);
    index::Entry e;
    if (size == 0 || !index_.ParseEntry(l.block, &e)) {
      return internal::CorruptError(
          absl::StrCat("slot ", l.slot, " points at block ", l.block,
                       " which is not an allocated entry"));
    }
    used.push_back({l.block, size});
  }
  // A grown table is a block of the heap.
  const uint64_t table_block = header_->table_block.load();
  if (table_block != 0) {
    const uint64_t size = alloc_.AllocatedSize(table_block);
    if (!layout::TableInBlock(header_->table.load(), table_block, size)) {
      return internal::CorruptError(absl::StrCat(
          "the table's block ", table_block, " does not hold the table"));
    }
    used.push_back({table_block, size});
  }
  s = alloc_.Rebuild(std::move(used));
  if (!s.ok()) return s;
  uint64_t tombstones = 0;
  for (uint64_t i = 0; i < index_.slot_count(); ++i) {
    if (index_.slot(i).block.load(std::memory_order_relaxed) ==
        layout::kTombstoneBlock) {
      ++tombstones;
    }
  }
  header_->size.store(live.size(), std::memory_order_relaxed);
  header_->tombstones.store(tombstones, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status DictImpl::Repair() {
  // The view again from the header, whatever the epoch says: this handle's
  // own growth step may have stopped half-way (an error), leaving the
  // allocator's end behind the heap's.
  absl::Status refreshed = RefreshView();
  if (!refreshed.ok()) return refreshed;
  layout::Intent& in = header_->intent;
  auto op = static_cast<Op>(in.op.load(std::memory_order_acquire));
  uint64_t phase = in.phase.load(std::memory_order_acquire);
  uint64_t slot = in.slot.load(std::memory_order_relaxed);
  uint64_t old_block = in.old_block.load(std::memory_order_relaxed);
  uint64_t new_block = in.new_block.load(std::memory_order_relaxed);
  uint64_t hash = in.hash.load(std::memory_order_relaxed);
  bool staged = phase >= layout::kPhaseStaged;
  bool slot_op = op == Op::kInsert || op == Op::kUpdateInPlace ||
                 op == Op::kRelocate || op == Op::kErase;
  if (slot_op && slot >= index_.slot_count()) {
    return internal::CorruptError(
        absl::StrCat("intent names slot ", slot, " out of range"));
  }
  if (op != Op::kNone) {
    layout::AddUnderLock(header_->repairs_total, 1);
  }

  switch (op) {
    case Op::kNone:
      break;
    case Op::kInsert:
      if (staged) {
        index_.Publish(slot, hash, new_block);
      } else {
        layout::Slot& s = index_.slot(slot);
        index_.Publish(slot, s.hash.load(std::memory_order_relaxed), old_block);
      }
      break;
    case Op::kUpdateInPlace:
      if (staged) {
        const uint64_t word = in.value_len.load(std::memory_order_relaxed);
        const uint64_t len =
            word & ((uint64_t{1} << layout::kIntentTypeShift) - 1);
        const auto type =
            static_cast<ValueType>(word >> layout::kIntentTypeShift);
        index::Entry e;
        if (len > layout::kJournalBytes || !index_.ParseEntry(old_block, &e) ||
            len > e.value_room) {
          return internal::CorruptError("journal does not fit its block");
        }
        layout::Slot& s = index_.slot(slot);
        seqlock::WriteBegin(s.seq);
        relaxed::Store64(base_ + old_block + layout::kEntryValueLenOffset, len);
        relaxed::Store64(base_ + old_block + layout::kEntryKeyLenOffset,
                         layout::EntryKeyWord(e.key_len, type));
        relaxed::CopyToShared(const_cast<char*>(e.value), journal_, len);
        seqlock::WriteEnd(s.seq);
      }
      break;
    case Op::kRelocate: {
      layout::Slot& s = index_.slot(slot);
      index_.Publish(slot, s.hash.load(std::memory_order_relaxed),
                     staged ? new_block : old_block);
      break;
    }
    case Op::kErase: {
      layout::Slot& s = index_.slot(slot);
      index_.Publish(slot, s.hash.load(std::memory_order_relaxed),
                     layout::kTombstoneBlock);
      break;
    }
    case Op::kPurge: {
      absl::Status s = RebuildIndexFromHeap();
      if (!s.ok()) return s;
      break;
    }
    case Op::kRepair:
      break;  // the op-specific step finished; the rest follows
    case Op::kGrowHeap:
      // The heap's size in the header is the truth (the file is at least
      // that long); the allocator is rebuilt over it below.
      break;
    case Op::kGrowTable: {
      // Published: the switch happened when the table word is the new one;
      // then the new block is the table's. Otherwise the new table is
      // dropped (the allocator rebuild frees its block).
      // Either way table_block is set again from the intent (old_block is
      // the table's block when the step began), so that the rebuild below
      // keeps the block of the table in use and frees the other.
      const uint64_t word = hash;
      const bool switched = word != 0 && header_->table.load() == word;
      header_->table_block.store(switched ? new_block : old_block,
                                 std::memory_order_relaxed);
      if (!switched) {
        // The dropped table's block may hold pages never reserved (a new
        // table at the heap's end is reserved as it is zeroed), and it
        // becomes free space for entries: reserve the heap first. Pages
        // already reserved cost little; if the file system is full this
        // fails and the pages stay as they are (docs/DESIGN.md).
        platform::ReserveRange(fd_, geometry_.heap_offset,
                               alloc_.end() - geometry_.heap_offset,
                               "reserve the heap")
            .IgnoreError();
      }
      break;
    }
    default:
      return internal::CorruptError(absl::StrCat(
          "intent record holds unknown op ", static_cast<uint64_t>(op)));
  }
  // An operation rolled forward took effect: its change is published now
  // (idempotent, so a repairer killed after this and before kRepair below
  // publishes nothing twice). One rolled back never happened: no change.
  const bool forward =
      (op == Op::kErase) ||
      (staged &&
       (op == Op::kInsert || op == Op::kUpdateInPlace || op == Op::kRelocate));
  if (slot_op) {
    // The log goes forward or back with the operation: its staged record
    // is committed exactly when the change is published.
    changes_.Repair(forward ? in.change_seq.load(std::memory_order_relaxed)
                            : 0);
  }
  if (forward) {
    PublishChange(in.change_seq.load(std::memory_order_relaxed));
  }
  // The op-specific step is done. Say so before the steps below, which
  // rewrite state it relied on (RebuildIndexFromHeap needs the free lists
  // that the allocator rebuild resets): a repairer killed from here on is
  // followed by one that only redoes the rest.
  if (op != Op::kNone && op != Op::kRepair) {
    in.op.store(static_cast<uint64_t>(Op::kRepair), std::memory_order_release);
  }

  // Leftover odd sequences without an intent are corruption, not a crash,
  // but closing them is still the only way forward for readers.
  uint64_t closed = index_.CloseOpenSlots();
  if (seqlock::IsWriting(header_->table_seq.load(std::memory_order_relaxed))) {
    seqlock::WriteEnd(header_->table_seq);
    ++closed;
  }
  if (op == Op::kNone && closed == 0) return absl::OkStatus();
  if (op == Op::kNone) {
    layout::AddUnderLock(header_->repairs_total, 1);
  }
  // A migration in progress is dropped (the next insert past capacity
  // starts another): its table may miss what the dead writer did.
  if (index_.migrating() || header_->migrate_table.load() != 0 ||
      header_->migrate_block.load() != 0) {
    DropMigrationRecord();  // the rebuild below frees its block
  }
  {
    // Capacity follows from the table in use.
    const uint64_t table = header_->table.load();
    header_->capacity.store(
        header_->table_block.load() == 0
            ? geometry_.max_items
            : layout::CapacityOf(uint64_t{1} << layout::TableLog(table)),
        std::memory_order_relaxed);
    index_.SetWriterTable(table);
  }
  absl::Status s = RebuildAllocatorFromSlots();
  if (!s.ok()) return s;
  AbortIntent();  // counted in repairs_total above, not as a write
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace zcipc
