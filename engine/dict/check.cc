// Check(): the full integrity check, run under the writer lock. It proves,
// or refutes with the first problem found:
//   - no intent is pending and no sequence (slot or table) is odd;
//   - every live slot's block parses, lies in the heap, holds a key whose
//     XXH3 equals the slot's hash, and is reachable from the key's home slot
//     without crossing an empty slot; no key is live twice;
//   - the size and tombstone counters equal the counts in the table, and
//     at least one slot not live; a table being built holds exactly the
//     copied part of the old one (CheckMigrationLocked);
//   - the heap satisfies every allocator invariant (alloc::Allocator::Check)
//     and its allocated blocks are exactly the blocks the live slots use.

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "engine/status/status.h"

namespace zcipc {
namespace internal {

absl::Status DictImpl::CheckLocked() const {
  if (header_->intent.op.load(std::memory_order_acquire) != 0) {
    return internal::CorruptError("an intent is still pending");
  }
  if (seqlock::IsWriting(header_->table_seq.load(std::memory_order_relaxed))) {
    return internal::CorruptError("the table sequence is odd");
  }
  const uint64_t n = index_.slot_count();
  const uint64_t mask = n - 1;
  uint64_t live = 0, tombstones = 0;
  std::vector<alloc::Block> used;
  absl::flat_hash_set<absl::string_view> keys;
  for (uint64_t i = 0; i < n; ++i) {
    const layout::Slot& slot = index_.slot(i);
    if (seqlock::IsWriting(slot.seq.load(std::memory_order_relaxed))) {
      return internal::CorruptError(
          absl::StrCat("slot ", i, " sequence is odd"));
    }
    uint64_t block = slot.block.load(std::memory_order_relaxed);
    if (block == layout::kEmptyBlock) continue;
    if (block == layout::kTombstoneBlock) {
      ++tombstones;
      continue;
    }
    ++live;
    index::Entry e;
    if (!index_.ParseEntry(block, &e)) {
      return internal::CorruptError(
          absl::StrCat("slot ", i, ": block ", block, " is not an entry"));
    }
    absl::string_view key(e.key, e.key_len);
    uint64_t hash = index::HashKey(key);
    if (hash != slot.hash.load(std::memory_order_relaxed)) {
      return internal::CorruptError(
          absl::StrCat("slot ", i, ": stored hash differs from the key's"));
    }
    for (uint64_t j = hash & mask; j != i; j = (j + 1) & mask) {
      if (index_.slot(j).block.load(std::memory_order_relaxed) ==
          layout::kEmptyBlock) {
        return internal::CorruptError(absl::StrCat("slot ", i,
                                                   ": unreachable (empty slot ",
                                                   j, " on its probe path)"));
      }
    }
    if (!keys.insert(key).second) {
      return internal::CorruptError(
          absl::StrCat("slot ", i, ": key '",
                       absl::CHexEscape(key.substr(0, 64)), "' is live twice"));
    }
    used.push_back({block, e.block_size});
  }
  if (live != header_->size.load(std::memory_order_relaxed) ||
      tombstones != header_->tombstones.load(std::memory_order_relaxed)) {
    return internal::CorruptError(
        absl::StrCat("counters say ", header_->size.load(), " live and ",
                     header_->tombstones.load(), " tombstones; the table has ",
                     live, " and ", tombstones));
  }
  // Capacity is where growth starts, not a bound: inserts go on into the
  // old table while a larger one is built (or after a repair dropped it).
  if (live >= n) {
    return internal::CorruptError(
        absl::StrCat(live, " live entries fill the table of ", n, " slots"));
  }
  // Growth: the capacity follows from the table in use; the table's block
  // and a table being built are heap blocks (docs/DESIGN.md, "Online
  // growth").
  const uint64_t table_block = header_->table_block.load();
  const uint64_t capacity =
      table_block == 0 ? geometry_.max_items : layout::CapacityOf(n);
  if (Capacity() != capacity) {
    return internal::CorruptError(absl::StrCat(
        "capacity ", Capacity(), " disagrees with the table's ", capacity));
  }
  if (table_block != 0) {
    used.push_back({table_block, alloc_.AllocatedSize(table_block)});
  }
  const uint64_t migrate_block = header_->migrate_block.load();
  if (migrate_block != 0) {
    used.push_back({migrate_block, alloc_.AllocatedSize(migrate_block)});
    absl::Status s = CheckMigrationLocked();
    if (!s.ok()) return s;
  }
  std::vector<alloc::Block> allocated;
  absl::Status s = alloc_.Check(&allocated);
  if (!s.ok()) return s;
  std::sort(used.begin(), used.end(),
            [](const alloc::Block& a, const alloc::Block& b) {
              return a.offset < b.offset;
            });
  if (used.size() != allocated.size()) {
    return internal::CorruptError(
        absl::StrCat(allocated.size(), " allocated blocks but ", used.size(),
                     " live entries (a leak or a shared block)"));
  }
  for (size_t k = 0; k < used.size(); ++k) {
    if (used[k].offset != allocated[k].offset ||
        used[k].size != allocated[k].size) {
      return internal::CorruptError(absl::StrCat(
          "block ", allocated[k].offset,
          " is allocated but no live slot owns it, or owned twice"));
    }
  }
  return changes_.CheckLocked();
}

absl::Status DictImpl::CheckMigrationLocked() const {
  const layout::Header& h = *header_;
  const uint64_t word = h.migrate_table.load();
  const uint64_t block = h.migrate_block.load();
  if (!index_.migrating() ||
      !layout::TableInBlock(word, block, alloc_.AllocatedSize(block))) {
    return internal::CorruptError(
        absl::StrCat("the table being built (0x", absl::Hex(word),
                     ") is not inside its block ", block));
  }
  const uint64_t offset = layout::TableOffset(word);
  const uint64_t bytes = sizeof(layout::Slot) << layout::TableLog(word);
  const uint64_t copied = h.migrate_copied.load();
  if (copied == 0) return absl::OkStatus();
  if (h.migrate_zeroed.load() != bytes || copied > index_.slot_count()) {
    return internal::CorruptError("the migration's progress is inconsistent");
  }
  // The new table holds exactly the live entries of old slots [0, copied).
  const auto* slots = reinterpret_cast<const layout::Slot*>(base_ + offset);
  const uint64_t mask = (bytes / sizeof(layout::Slot)) - 1;
  uint64_t expected = 0, found = 0, tombstones = 0;
  for (uint64_t i = 0; i < copied; ++i) {
    const uint64_t b = index_.slot(i).block.load(std::memory_order_relaxed);
    if (b <= layout::kTombstoneBlock) continue;
    ++expected;
    const uint64_t hash = index_.slot(i).hash.load(std::memory_order_relaxed);
    uint64_t j = hash & mask, probes = 0;
    while (
        probes <= mask && slots[j].block.load(std::memory_order_relaxed) != b &&
        slots[j].block.load(std::memory_order_relaxed) != layout::kEmptyBlock) {
      j = (j + 1) & mask;
      ++probes;
    }
    if (probes > mask || slots[j].block.load(std::memory_order_relaxed) != b) {
      return internal::CorruptError(absl::StrCat(
          "old slot ", i, " was copied but the new table lacks its entry"));
    }
  }
  for (uint64_t j = 0; j <= mask; ++j) {
    const uint64_t b = slots[j].block.load(std::memory_order_relaxed);
    if (b == layout::kTombstoneBlock) ++tombstones;
    if (b > layout::kTombstoneBlock) ++found;
  }
  if (found != expected || tombstones != h.migrate_tombstones.load()) {
    return internal::CorruptError(
        absl::StrCat("the new table holds ", found, " entries and ", tombstones,
                     " tombstones; expected ", expected, " and ",
                     h.migrate_tombstones.load()));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace zcipc
