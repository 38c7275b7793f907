// Online growth: the heap grows at the file's end, the index migrates to a
// larger table a few slots per write. The protocol, its crash repair and
// why a reader racing it is never wrong are in docs/DESIGN.md, "Online
// growth".

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "engine/platform/platform.h"

namespace zcipc {
namespace internal {

namespace {

using layout::Op;

inline void Step(const char* step) { CrashPoint(step); }

constexpr uint64_t RoundUp(uint64_t x, uint64_t to) {
  return (x + to - 1) / to * to;
}

// The slots a table needs for `items` entries at load <= 3/4.
uint64_t SlotsFor(uint64_t items) {
  const uint64_t needed =
      (items * layout::kMaxLoadDen + layout::kMaxLoadNum - 1) /
      layout::kMaxLoadNum;
  uint64_t slots = 2;
  while (slots < needed) slots <<= 1;
  return slots;
}

// Bytes of a table of `slots` slots, and the block that holds it (room to
// align the table to a cache line after the block's tag).
uint64_t TableBytes(uint64_t slots) { return slots * sizeof(layout::Slot); }
uint64_t TableBlockSize(uint64_t slots) {
  return alloc::Allocator::BlockSizeFor(TableBytes(slots) +
                                        layout::kTableAlign);
}

}  // namespace

void DictImpl::BeginGrowIntent(Op op, uint64_t arg, uint64_t old_block,
                               uint64_t new_block, uint64_t word) {
  layout::Intent& in = header_->intent;
  in.phase.store(layout::kPhaseStarted, std::memory_order_relaxed);
  in.slot.store(arg, std::memory_order_relaxed);
  in.old_block.store(old_block, std::memory_order_relaxed);
  in.new_block.store(new_block, std::memory_order_relaxed);
  in.hash.store(word, std::memory_order_relaxed);
  in.change_seq.store(0, std::memory_order_relaxed);
  in.op.store(static_cast<uint64_t>(op), std::memory_order_release);
  // Every process's writer reloads its view after this: whatever state the
  // growth stops in (done, or a crash repaired), the header describes it.
  layout::AddUnderLock(header_->grow_epoch, 1);
  view_epoch_ = header_->grow_epoch.load(std::memory_order_relaxed);
}

absl::Status DictImpl::RefreshView() {
  const layout::Header& h = *header_;
  const uint64_t epoch = h.grow_epoch.load(std::memory_order_acquire);
  const uint64_t heap_now = h.heap_size_now.load(std::memory_order_acquire);
  const uint64_t heap_end = geometry_.heap_offset + heap_now;
  if (heap_now < geometry_.heap_size || heap_end > geometry_.max_segment_size) {
    return CorruptError(absl::StrCat("heap size ", heap_now,
                                     " is out of range (growth record)"));
  }
  index_.RefreshBounds();
  if (index_.heap_end() < heap_end) {
    return CorruptError(absl::StrCat("the heap ends at ", heap_end,
                                     " but the segment file is shorter"));
  }
  alloc_.SetEnd(heap_end);
  const uint64_t table = h.table.load(std::memory_order_acquire);
  if (!layout::TableWordValid(table, geometry_.slots_offset,
                              geometry_.slot_count, geometry_.heap_offset,
                              heap_end)) {
    return CorruptError(
        absl::StrCat("table word 0x", absl::Hex(table), " is out of bounds"));
  }
  index_.SetWriterTable(table);
  const uint64_t migrate = h.migrate_table.load(std::memory_order_relaxed);
  if (migrate == 0 || migrate == table) {
    // (The second: a switch that died before clearing the record; the
    // repair that follows clears it.)
    index_.EndMigration();
  } else {
    // The record must name a table inside its own allocated block, apart
    // from the table in use: the migration writes into it.
    const uint64_t block = h.migrate_block.load(std::memory_order_relaxed);
    if (!layout::TableInBounds(migrate, geometry_.heap_offset, heap_end) ||
        layout::TableLog(migrate) <= layout::TableLog(table) ||
        !layout::TableInBlock(migrate, block, alloc_.AllocatedSize(block)) ||
        block == h.table_block.load(std::memory_order_relaxed)) {
      return CorruptError(absl::StrCat(
          "migration table word 0x", absl::Hex(migrate), " is out of bounds"));
    }
    index_.BeginMigration(migrate);
  }
  view_epoch_ = epoch;
  return absl::OkStatus();
}

uint64_t DictImpl::Capacity() const {
  return header_->capacity.load(std::memory_order_relaxed);
}

uint64_t DictImpl::HeapSizeNow() const {
  return header_->heap_size_now.load(std::memory_order_relaxed);
}

absl::Status DictImpl::SegmentFull(absl::string_view what,
                                   uint64_t needed) const {
  return Error(absl::StatusCode::kResourceExhausted,
               what == "table" ? ErrorKind::kTableFull : ErrorKind::kHeapFull,
               absl::StrCat(what, " full: growing by ", needed,
                            " bytes would pass max_segment_size (",
                            geometry_.max_segment_size, " bytes; the heap is ",
                            HeapSizeNow(), " bytes, the table ",
                            index_.slot_count(), " slots)"));
}

absl::Status DictImpl::GrowHeap(uint64_t needed) {
  const uint64_t heap_now = HeapSizeNow();
  const uint64_t end = geometry_.heap_offset + heap_now;
  // Double, but reserve at most kMaxHeapStep at once (reserving pages costs
  // about 0.1 ms per MiB, all of it inside one write), and always enough
  // for the block that asked.
  uint64_t step =
      std::max(std::min(heap_now, kMaxHeapStep), needed + layout::kMinBlock);
  uint64_t new_end = RoundUp(end + step, layout::kPageSize);
  if (new_end > geometry_.max_segment_size) {
    new_end = geometry_.max_segment_size;
    if (new_end < end + needed + layout::kMinBlock) {
      return SegmentFull("heap", needed);
    }
  }
  BeginGrowIntent(Op::kGrowHeap, new_end - geometry_.heap_offset, 0, 0, 0);
  Step("grow.heap.begin");
  absl::Status s = platform::GrowFile(fd_, new_end, "grow the file");
  if (s.ok()) {
    s = platform::ReserveRange(fd_, end, new_end - end,
                               "reserve the grown heap");
  }
  if (!s.ok()) {
    AbortIntent();  // nothing a reader sees changed
    return s;
  }
  Step("grow.heap.file");
  header_->heap_size_now.store(new_end - geometry_.heap_offset,
                               std::memory_order_release);
  index_.RefreshBounds();
  Step("grow.heap.published");
  s = alloc_.Extend(new_end);
  if (!s.ok()) return s;  // DataLoss: the intent stays, repair rebuilds
  layout::AddUnderLock(header_->grows_total, 1);
  AbortIntent();
  return absl::OkStatus();
}

absl::Status DictImpl::StartMigration(uint64_t new_slots) {
  if (index_.migrating()) return absl::OkStatus();
  if (layout::CapacityOf(new_slots) > kMaxItems * 2) {
    return Error(
        absl::StatusCode::kResourceExhausted, ErrorKind::kTableFull,
        absl::StrCat("table full: ", new_slots,
                     " slots would pass the limit of ", kMaxItems, " items"));
  }
  const uint64_t size = TableBlockSize(new_slots);
  BeginGrowIntent(Op::kGrowTable, new_slots,
                  header_->table_block.load(std::memory_order_relaxed), 0, 0);
  Step("grow.table.begin");
  {
    // Always a new block at the heap's end, so that the heap for keys and
    // values (what Stats reports) never shrinks. Not reserved yet: the
    // migration reserves its pages as it zeroes them, so no write waits
    // for all of them at once.
    const uint64_t end = alloc_.end();
    const uint64_t new_end = RoundUp(end + size, layout::kPageSize);
    if (new_end > geometry_.max_segment_size) {
      AbortIntent();
      return SegmentFull("table", size);
    }
    absl::Status s = platform::GrowFile(fd_, new_end, "grow the file");
    // The block's tag is written now, its last word when it is freed; the
    // rest as the table is zeroed.
    if (s.ok()) {
      s = platform::ReserveRange(fd_, end, alloc::kTagSize,
                                 "reserve the new table");
    }
    if (s.ok()) {
      s = platform::ReserveRange(fd_, new_end - layout::kPageSize,
                                 layout::kPageSize, "reserve the new table");
    }
    if (!s.ok()) {
      AbortIntent();
      return s;
    }
    Step("grow.table.file");
    header_->heap_size_now.store(new_end - geometry_.heap_offset,
                                 std::memory_order_release);
    index_.RefreshBounds();
    absl::StatusOr<uint64_t> block = alloc_.ExtendAllocated(new_end);
    if (!block.ok()) return block.status();  // repair rebuilds
    header_->migrate_block.store(*block, std::memory_order_relaxed);
  }
  Step("grow.table.allocated");
  const uint64_t block = header_->migrate_block.load(std::memory_order_relaxed);
  const uint64_t word =
      layout::TableWord(RoundUp(block + 8, layout::kTableAlign), new_slots);
  header_->migrate_zeroed.store(0, std::memory_order_relaxed);
  header_->migrate_copied.store(0, std::memory_order_relaxed);
  header_->migrate_tombstones.store(0, std::memory_order_relaxed);
  header_->migrate_table.store(word, std::memory_order_release);
  index_.BeginMigration(word);
  // Counted when it begins: from here on the dict takes the inserts the
  // new table is for (Stats reports its capacity).
  layout::AddUnderLock(header_->grows_total, 1);
  AbortIntent();
  return absl::OkStatus();
}

absl::Status DictImpl::MigrateStep(uint64_t zero_bytes, uint64_t copy_slots,
                                   bool* done) {
  *done = false;
  layout::Header& h = *header_;
  const uint64_t word = h.migrate_table.load(std::memory_order_relaxed);
  if (!index_.mirror_ok()) {
    // The old table changed in a way the new one could not follow: only a
    // corrupt dict does that. Drop the new table; Check() says more.
    return AbandonMigration();
  }
  const uint64_t offset = layout::TableOffset(word);
  const uint64_t bytes = sizeof(layout::Slot) << layout::TableLog(word);
  uint64_t zeroed = h.migrate_zeroed.load(std::memory_order_relaxed);
  if (zeroed < bytes) {
    // Nobody reads the new table before the switch: plain stores.
    const uint64_t n = std::min(zero_bytes, bytes - zeroed);
    absl::Status s = platform::ReserveRange(fd_, offset + zeroed, n,
                                            "reserve the new table");
    if (!s.ok()) return s;
    memset(base_ + offset + zeroed, 0, n);
    h.migrate_zeroed.store(zeroed + n, std::memory_order_relaxed);
    Step("grow.table.zeroed");
    return absl::OkStatus();
  }
  const uint64_t copied = h.migrate_copied.load(std::memory_order_relaxed);
  const uint64_t old_slots = index_.slot_count();
  if (copied < old_slots) {
    const uint64_t to = std::min(old_slots, copied + copy_slots);
    index_.CopySlots(copied, to);
    h.migrate_copied.store(to, std::memory_order_relaxed);
    Step("grow.table.copied");
    if (to < old_slots) return absl::OkStatus();
  }
  if (!index_.mirror_ok()) return AbandonMigration();
  *done = true;
  return SwitchTable();
}

absl::Status DictImpl::SwitchTable() {
  layout::Header& h = *header_;
  const uint64_t word = h.migrate_table.load(std::memory_order_relaxed);
  const uint64_t block = h.migrate_block.load(std::memory_order_relaxed);
  const uint64_t old_block = h.table_block.load(std::memory_order_relaxed);
  BeginGrowIntent(Op::kGrowTable, 0, old_block, block, word);
  SetPhase(layout::kPhasePublished);
  Step("grow.switch.begin");
  index_.SwitchTo(word);
  Step("grow.switch.published");
  h.table_block.store(block, std::memory_order_relaxed);
  h.capacity.store(layout::CapacityOf(index_.slot_count()),
                   std::memory_order_relaxed);
  h.tombstones.store(h.migrate_tombstones.load(std::memory_order_relaxed),
                     std::memory_order_relaxed);
  h.migrate_table.store(0, std::memory_order_relaxed);
  h.migrate_block.store(0, std::memory_order_relaxed);
  if (old_block != 0) {
    // Readers still probing the old table fail validation (SwitchTo).
    absl::Status s = alloc_.Free(old_block);
    if (!s.ok()) return s;  // DataLoss: the intent stays, repair rebuilds
  }
  Step("grow.switch.freed");
  AbortIntent();
  return absl::OkStatus();
}

void DictImpl::DropMigrationRecord() {
  layout::Header& h = *header_;
  const uint64_t word = h.migrate_table.load(std::memory_order_relaxed);
  const uint64_t zeroed = h.migrate_zeroed.load(std::memory_order_relaxed);
  // The table's block may hold pages never reserved (a table is reserved
  // as it is zeroed): reserve them before the heap reuses them for
  // entries. When that fails (the file system is full) the pages stay as
  // they are, and a later write into them may fault; nothing better is
  // possible here.
  if (word != 0 &&
      layout::TableInBounds(word, geometry_.heap_offset, alloc_.end())) {
    const uint64_t bytes = sizeof(layout::Slot) << layout::TableLog(word);
    if (zeroed < bytes) {
      platform::ReserveRange(fd_, layout::TableOffset(word) + zeroed,
                             bytes - zeroed, "reserve an abandoned table")
          .IgnoreError();
    }
  }
  index_.EndMigration();
  h.migrate_table.store(0, std::memory_order_relaxed);
  h.migrate_block.store(0, std::memory_order_relaxed);
}

absl::Status DictImpl::AbandonMigration() {
  layout::Header& h = *header_;
  const uint64_t block = h.migrate_block.load(std::memory_order_relaxed);
  BeginGrowIntent(Op::kGrowTable, 0,
                  h.table_block.load(std::memory_order_relaxed), block, 0);
  DropMigrationRecord();
  if (block != 0) {
    absl::Status s = alloc_.Free(block);
    if (!s.ok()) return s;  // DataLoss: the intent stays, repair rebuilds
  }
  AbortIntent();
  return absl::OkStatus();
}

absl::Status DictImpl::FinishMigration() {
  bool done = !index_.migrating();
  while (!done) {
    absl::Status s = MigrateStep(uint64_t{1} << 20, uint64_t{1} << 16, &done);
    if (!s.ok()) return s;
    if (!index_.migrating()) done = true;  // abandoned
  }
  return absl::OkStatus();
}

absl::Status DictImpl::MakeRoomForInsert(bool* retable) {
  *retable = false;
  const uint64_t slots = index_.slot_count();
  if (!index_.migrating()) {
    if (Size() < Capacity()) return absl::OkStatus();
    if (!options_.auto_grow) return TableFull();
    absl::Status s = StartMigration(slots * 2);
    if (!s.ok()) return s;
  }
  // The old table serves until the new one is complete; it takes inserts
  // up to 7/8 full (the migration normally ends long before).
  if (Size() + 1 < slots - slots / 8) return absl::OkStatus();
  *retable = true;
  return FinishMigration();
}

absl::Status DictImpl::Reserve(uint64_t max_items, uint64_t heap_size) {
  if (max_items > kMaxItems || heap_size > kMaxHeapSize) {
    return Annotate(
        "Reserve",
        Error(absl::StatusCode::kInvalidArgument, ErrorKind::kBadOptions,
              absl::StrCat("max_items ", max_items, " or heap_size ", heap_size,
                           " is out of range ([0, ", kMaxItems, "] and [0, ",
                           kMaxHeapSize, "])")));
  }
  return WithLock("Reserve", [&]() -> absl::Status {
    absl::Status s = FinishMigration();
    if (!s.ok()) return s;
    if (max_items > Capacity()) {
      // (A table created for fewer items than its slots hold still takes
      // a larger one: the capacity of a created table is what it was
      // created for.)
      const uint64_t slots =
          std::max(SlotsFor(max_items), index_.slot_count() * 2);
      s = StartMigration(slots);
      if (s.ok()) s = FinishMigration();
      if (!s.ok()) return s;
    }
    // The figure Stats reports: bytes for keys and values (a grown table's
    // block is not counted).
    const uint64_t have = EntryHeapSize();
    if (heap_size > have) {
      s = GrowHeap(heap_size - have);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

}  // namespace internal
}  // namespace zcipc
