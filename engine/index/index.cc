#include "engine/index/index.h"

#include "absl/strings/str_cat.h"
#include "engine/status/status.h"

namespace zcipc {
namespace index {

absl::Status Backoff::WaitLong() {
  uint64_t now = platform::MonotonicNanos();
  if (since_ == 0) since_ = last_stall_ = now;
  if (now - last_stall_ >= kStallNanos) {
    last_stall_ = now;
    absl::Status s = on_stall_();
    if (!s.ok()) return s;
  }
  if (now - since_ >= timeout_nanos_) return on_timeout_();
  // The hooks bracket only the wait itself: none is active when the caller
  // goes on to read or to call a user callback.
  const WaitHooks* hooks = internal::ThreadWaitHooks();
  if (hooks != nullptr && hooks->begin != nullptr) hooks->begin(hooks->arg);
  if (now - since_ < kYieldNanos) {
    platform::YieldThread();
  } else {
    platform::SleepNanos(kSleepNanos);
  }
  if (hooks != nullptr && hooks->end != nullptr) hooks->end(hooks->arg);
  return absl::OkStatus();
}

absl::Status Index::Corrupt(uint64_t block) {
  return internal::Error(absl::StatusCode::kDataLoss, ErrorKind::kCorrupt,
                         absl::StrCat("index corrupt: a slot points at block ",
                                      block, " whose header is out of bounds"));
}

void Index::Publish(uint64_t i, uint64_t hash, uint64_t block) {
  layout::Slot& slot = slots_[i];
  seqlock::WriteBegin(slot.seq);
  slot.hash.store(hash, std::memory_order_relaxed);
  slot.block.store(block, std::memory_order_relaxed);
  seqlock::WriteEnd(slot.seq);
}

absl::Status Index::CollectLive(std::vector<Live>* live) const {
  live->clear();
  for (uint64_t i = 0; i <= mask_; ++i) {
    const layout::Slot& slot = slots_[i];
    uint64_t block = slot.block.load(std::memory_order_relaxed);
    if (block == layout::kEmptyBlock || block == layout::kTombstoneBlock) {
      continue;
    }
    uint64_t hash = slot.hash.load(std::memory_order_relaxed);
    Entry e;
    if (!ParseEntry(block, &e)) return Corrupt(block);
    live->push_back({i, hash, block});
  }
  if (live->size() > mask_) {
    return internal::Error(absl::StatusCode::kDataLoss, ErrorKind::kCorrupt,
                           "index corrupt: every slot is live");
  }
  return absl::OkStatus();
}

void Index::BeginRebuild() {
  seqlock::WriteBegin(header_->table_seq);
  // Readers wait while table_seq is odd, and a reader that started before
  // validates table_seq afterwards, so slots may change freely in here. Each
  // slot's own sequence still moves on, so no reader can mistake a slot's
  // new content for the version it read before the purge.
  for (uint64_t i = 0; i <= mask_; ++i) {
    layout::Slot& slot = slots_[i];
    uint64_t s = slot.seq.load(std::memory_order_relaxed);
    slot.seq.store((s | 1) + 1, std::memory_order_relaxed);
    slot.block.store(layout::kEmptyBlock, std::memory_order_relaxed);
    slot.hash.store(0, std::memory_order_relaxed);
  }
}

void Index::FinishRebuild(const std::vector<Live>& live) {
  for (const Live& e : live) {
    uint64_t i = e.hash & mask_;
    while (slots_[i].block.load(std::memory_order_relaxed) !=
           layout::kEmptyBlock) {
      i = (i + 1) & mask_;
    }
    slots_[i].hash.store(e.hash, std::memory_order_relaxed);
    slots_[i].block.store(e.block, std::memory_order_relaxed);
  }
  seqlock::WriteEnd(header_->table_seq);
}

uint64_t Index::CloseOpenSlots() {
  uint64_t closed = 0;
  for (uint64_t i = 0; i <= mask_; ++i) {
    if (seqlock::IsWriting(slots_[i].seq.load(std::memory_order_relaxed))) {
      seqlock::WriteEnd(slots_[i].seq);
      ++closed;
    }
  }
  return closed;
}

}  // namespace index
}  // namespace zcipc
