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

absl::Status Index::CorruptTable() {
  return internal::Error(absl::StatusCode::kDataLoss, ErrorKind::kCorrupt,
                         "index corrupt: the table word is out of bounds");
}

Index::Index(char* base, const layout::Geometry& g, layout::Header* header,
             int fd)
    : base_(base),
      header_(header),
      fd_(fd),
      table_lo_(g.slots_offset),
      initial_slots_(g.slot_count),
      heap_lo_(g.heap_offset),
      heap_max_(g.max_segment_size) {
  // The view starts with the table as created, always in bounds; a lookup
  // that finds another word in the header validates it (ViewFor).
  const uint64_t word = layout::TableWord(g.slots_offset, g.slot_count);
  SetWriterTable(word);
  auto v = std::make_unique<View>();
  v->word = word;
  v->slots = slots_;
  v->mask = mask_;
  v->heap_hi = g.heap_offset + g.heap_size;
  v->heap_last = g.heap_size - layout::kMinBlock;
  v->older = nullptr;
  view_.store(v.release(), std::memory_order_release);
}

Index::~Index() {
  const View* v = view_.load(std::memory_order_acquire);
  while (v != nullptr) {
    const View* older = v->older;
    delete v;
    v = older;
  }
}

bool Index::PublishView(const View* expected, const View& next) const {
  auto v = std::make_unique<View>(next);
  v->older = expected;
  if (!view_.compare_exchange_strong(expected, v.get(),
                                     std::memory_order_acq_rel)) {
    return false;  // another thread published first: v is freed
  }
  v.release();
  return true;
}

bool Index::RefreshBounds() const {
  uint64_t now = header_->heap_size_now.load(std::memory_order_acquire);
  if (heap_max_ > heap_lo_ && now > heap_max_ - heap_lo_) {
    now = heap_max_ - heap_lo_;
  }
  uint64_t hi = (heap_lo_ + now) & ~uint64_t{15};
  const View* v = view_.load(std::memory_order_acquire);
  if (hi <= v->heap_hi) return false;
  // The header is trusted only as far as the file reaches: touching a page
  // past its end would fault (SIGBUS). The writer grows the file before it
  // publishes the heap's new size, so a true size always passes.
  absl::StatusOr<uint64_t> file = platform::FileSize(fd_, "fstat");
  if (!file.ok()) return false;
  if (hi > *file) hi = *file & ~uint64_t{15};
  for (;;) {
    if (hi <= v->heap_hi) return false;
    View next = *v;
    next.heap_hi = hi;
    next.heap_last = hi - heap_lo_ - layout::kMinBlock;
    if (PublishView(v, next)) return true;
    v = view_.load(std::memory_order_acquire);
  }
}

const View* Index::ViewFor(uint64_t word) const {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const View* v = view_.load(std::memory_order_acquire);
    if (v->word == word) return v;
    if (layout::TableWordValid(word, table_lo_, initial_slots_, heap_lo_,
                               v->heap_hi)) {
      View next = *v;
      next.word = word;
      next.slots = reinterpret_cast<const layout::Slot*>(
          base_ + layout::TableOffset(word));
      next.mask = (uint64_t{1} << layout::TableLog(word)) - 1;
      if (PublishView(v, next)) return view_.load(std::memory_order_acquire);
      attempt = -1;  // raced with another publisher: look again
      continue;
    }
    if (attempt == 0 && !RefreshBounds()) return nullptr;
  }
  return nullptr;
}

void Index::InsertNew(uint64_t hash, uint64_t block) {
  uint64_t j = hash & new_mask_;
  for (uint64_t probes = 0; probes <= new_mask_; ++probes) {
    layout::Slot& s = new_slots_[j];
    if (s.block.load(std::memory_order_relaxed) == layout::kEmptyBlock) {
      s.hash.store(hash, std::memory_order_relaxed);
      s.block.store(block, std::memory_order_relaxed);
      return;
    }
    j = (j + 1) & new_mask_;
  }
  mirror_ok_ = false;  // no empty slot: cannot happen in a consistent dict
}

void Index::Mirror(uint64_t i, uint64_t old_block, uint64_t hash,
                   uint64_t block) {
  if (i >= header_->migrate_copied.load(std::memory_order_relaxed)) return;
  const bool was_live = old_block > layout::kTombstoneBlock;
  const bool live = block > layout::kTombstoneBlock;
  if (!was_live) {
    if (live) InsertNew(hash, block);
    return;
  }
  // The key is in the new table under its old block: find it there.
  uint64_t j = hash & new_mask_;
  for (uint64_t probes = 0; probes <= new_mask_; ++probes) {
    layout::Slot& s = new_slots_[j];
    const uint64_t b = s.block.load(std::memory_order_relaxed);
    if (b == old_block) {
      s.hash.store(hash, std::memory_order_relaxed);
      s.block.store(live ? block : layout::kTombstoneBlock,
                    std::memory_order_relaxed);
      if (!live) layout::AddUnderLock(header_->migrate_tombstones, 1);
      return;
    }
    if (b == layout::kEmptyBlock) break;
    j = (j + 1) & new_mask_;
  }
  mirror_ok_ = false;
}

void Index::CopySlots(uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to && i <= mask_; ++i) {
    const layout::Slot& s = slots_[i];
    const uint64_t block = s.block.load(std::memory_order_relaxed);
    if (block > layout::kTombstoneBlock) {
      InsertNew(s.hash.load(std::memory_order_relaxed), block);
    }
  }
}

void Index::SwitchTo(uint64_t word) {
  header_->table.store(word, std::memory_order_release);
  const uint64_t ts = header_->table_seq.load(std::memory_order_relaxed);
  header_->table_seq.store(ts + 2, std::memory_order_release);
  // Nothing the caller writes next (into the old table's memory, once it
  // is freed) may become visible before the new table_seq.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  SetWriterTable(word);
  ViewFor(word);  // in bounds: the writer allocated it in the heap
  EndMigration();
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
