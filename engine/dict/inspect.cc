// Inspect(): header fields, probe lengths and the lock holder, for tools.

#include "zcipc/inspect.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "engine/platform/platform.h"

namespace zcipc {
namespace internal {

namespace {

const char* OpName(uint64_t op) {
  switch (static_cast<layout::Op>(op)) {
    case layout::Op::kNone:
      return "none";
    case layout::Op::kInsert:
      return "insert";
    case layout::Op::kUpdateInPlace:
      return "update-in-place";
    case layout::Op::kRelocate:
      return "relocate";
    case layout::Op::kErase:
      return "erase";
    case layout::Op::kPurge:
      return "purge";
    case layout::Op::kRepair:
      return "repair";
    case layout::Op::kGrowHeap:
      return "grow-heap";
    case layout::Op::kGrowTable:
      return "grow-table";
    default:
      return "unknown";
  }
}

const char* PhaseName(uint64_t phase) {
  switch (phase) {
    case layout::kPhaseStarted:
      return "started";
    case layout::kPhaseStaged:
      return "staged";
    case layout::kPhasePublished:
      return "published";
    default:
      return "unknown";
  }
}

}  // namespace

absl::StatusOr<Inspection> DictImpl::Inspect() const {
  Inspection in;
  in.stats = GetStats();
  const layout::Header& h = *header_;
  in.magic = h.magic.load(std::memory_order_acquire);
  in.fingerprint = h.fingerprint;
  in.build_fingerprint = layout::LayoutFingerprint();
  in.header_size = h.header_size;
  in.journal_offset = h.journal_offset;
  in.slots_offset =
      layout::TableOffset(h.table.load(std::memory_order_acquire));
  in.heap_offset = geometry_.heap_offset;
  in.created_unix_nanos = h.created_unix_nanos;
  in.table_seq = h.table_seq.load(std::memory_order_acquire);
  uint64_t op = h.intent.op.load(std::memory_order_acquire);
  if (op != 0) {
    in.intent = absl::StrCat(
        OpName(op), " slot=", h.intent.slot.load(std::memory_order_relaxed),
        " phase=", PhaseName(h.intent.phase.load(std::memory_order_relaxed)));
  }
  in.lock_held = lock_.HeldByAnyone(&in.lock_holder_pid);
  if (!in.lock_held) in.lock_abandoned = lock_.Abandoned(&in.dead_holder_pid);

  // Hit probes: distance of each live entry from its home slot. Miss probes:
  // from every home slot, the slots read up to the first empty one.
  // Lock-free, like a reader: the table in use now.
  index::Table table;
  if (!index_.LoadTable(&table)) {
    return Annotate("Inspect", CorruptError("the table word is out of bounds"));
  }
  const uint64_t n = table.slot_count(), mask = n - 1;
  ProbeStats& p = in.probes;
  uint64_t live = 0, total = 0;
  uint64_t first_empty = n;
  for (uint64_t i = 0; i < n; ++i) {
    const layout::Slot& slot = table.slot(i);
    uint64_t block = slot.block.load(std::memory_order_relaxed);
    if (block == layout::kEmptyBlock) {
      if (first_empty == n) first_empty = i;
      continue;
    }
    if (block == layout::kTombstoneBlock) continue;
    uint64_t d = (i - slot.hash.load(std::memory_order_relaxed)) & mask;
    if (p.histogram.size() <= d) p.histogram.resize(d + 1);
    ++p.histogram[d];
    p.max = std::max(p.max, d);
    total += d;
    ++live;
  }
  p.mean = live ? static_cast<double>(total) / live : 0.0;
  if (first_empty == n) {
    p.max_miss = n;  // no empty slot: a miss reads every slot
    p.mean_miss = static_cast<double>(n);
  } else {
    // Walk backwards from an empty slot: `run` = slots until the next empty.
    uint64_t run = 0, miss_total = 0;
    for (uint64_t k = 0; k < n; ++k) {
      uint64_t i = (first_empty - k) & mask;
      bool empty = table.slot(i).block.load(std::memory_order_relaxed) ==
                   layout::kEmptyBlock;
      run = empty ? 1 : run + 1;
      p.max_miss = std::max(p.max_miss, run);
      miss_total += run;
    }
    p.mean_miss = static_cast<double>(miss_total) / n;
  }
  return in;
}

}  // namespace internal

std::vector<std::string> ListDicts() {
  std::vector<std::string> names;
  for (const std::string& file : platform::ListShm(layout::kShmPrefix)) {
    std::string name = file.substr(sizeof(layout::kShmPrefix) - 1);
    if (layout::ValidateName(name).ok()) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<Inspection> Inspect(const ZeroCopyDict& dict) {
  if (!dict.impl_) {
    return absl::FailedPreconditionError(
        "zcipc::Inspect: use of a moved-from handle");
  }
  return dict.impl_->Inspect();
}

}  // namespace zcipc
