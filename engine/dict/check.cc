// Check(): the full integrity check, run under the writer lock. It proves,
// or refutes with the first problem found:
//   - no intent is pending and no sequence (slot or table) is odd;
//   - every live slot's block parses, lies in the heap, holds a key whose
//     XXH3 equals the slot's hash, and is reachable from the key's home slot
//     without crossing an empty slot; no key is live twice;
//   - the size and tombstone counters equal the counts in the table, and
//     size <= max_items with at least one slot not live;
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
  if (live > geometry_.max_items || live >= n) {
    return internal::CorruptError(
        absl::StrCat(live, " live entries exceed ", geometry_.max_items));
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

}  // namespace internal
}  // namespace zcipc
