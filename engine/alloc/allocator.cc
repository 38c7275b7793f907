#include "engine/alloc/allocator.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/layout/relaxed.h"
#include "engine/status/status.h"

namespace zcipc {
namespace alloc {

using layout::kAlign;
using layout::kAlignLog;
using layout::kFLCount;
using layout::kFLShift;
using layout::kMinBlock;
using layout::kSLCount;
using layout::kSLLog;
using layout::kSmallBlock;

namespace {

constexpr uint64_t kFLMask = (1ull << kFLCount) - 1;
constexpr uint64_t kSLMask = (1ull << kSLCount) - 1;
// How many blocks of the request's own class to look at when the rounded-up
// search finds nothing (keeps Allocate O(1)).
constexpr int kExactClassScan = 8;

int Msb(uint64_t x) { return 63 - __builtin_clzll(x); }

// The class that holds blocks of exactly `size` bytes.
void Mapping(uint64_t size, int* fl, int* sl) {
  if (size < kSmallBlock) {
    *fl = 0;
    *sl = static_cast<int>(size >> kAlignLog);
  } else {
    int f = Msb(size);
    *sl = static_cast<int>((size >> (f - kSLLog)) ^ kSLCount);
    *fl = f - kFLShift + 1;
  }
}

absl::Status Corrupt(absl::string_view what, uint64_t offset) {
  return internal::CorruptError(
      absl::StrCat("heap corrupt: ", what, " at offset ", offset));
}

}  // namespace

Allocator::Allocator(char* base, layout::AllocatorControl* control,
                     uint64_t heap_offset, uint64_t heap_size)
    : base_(base),
      ctl_(control),
      lo_(heap_offset),
      hi_(heap_offset + heap_size) {}

uint64_t Allocator::BlockSizeFor(uint64_t payload) {
  uint64_t size = (payload + 8 + kAlign - 1) & ~(kAlign - 1);
  return std::max(size, kMinBlock);
}

std::pair<uint64_t, uint64_t> Allocator::ClassRange(int fl, int sl) {
  if (fl == 0) {
    uint64_t lo = static_cast<uint64_t>(sl) << kAlignLog;
    return {lo, lo + kAlign - 1};
  }
  int f = fl + kFLShift - 1;
  uint64_t step = 1ull << (f - kSLLog);
  uint64_t lo = (1ull << f) + static_cast<uint64_t>(sl) * step;
  return {lo, lo + step - 1};
}

bool Allocator::ValidOffset(uint64_t offset) const {
  return offset >= lo_ && offset < hi_ && offset % kAlign == 0 &&
         hi_ - offset >= kMinBlock;
}

// Relaxed atomics: a lock-free reader with a stale slot may be reading these
// words (as an entry's lengths) while they change (engine/layout/relaxed.h).
uint64_t Allocator::Load(uint64_t offset) const {
  return relaxed::Load64(base_ + offset);
}

void Allocator::Store(uint64_t offset, uint64_t value) {
  relaxed::Store64(base_ + offset, value);
}

uint64_t Allocator::AllocatedSize(uint64_t offset) const {
  if (!ValidOffset(offset)) return 0;
  uint64_t tag = Load(offset);
  uint64_t size = tag & ~kTagFlags;
  if ((tag & kFreeBit) || size < kMinBlock || size > hi_ - offset) return 0;
  return size;
}

void Allocator::WriteFree(uint64_t offset, uint64_t size) {
  // The block before a free block is never free (invariant 2).
  Store(offset, size | kFreeBit);
  Store(offset + size - 8, size);
}

absl::Status Allocator::InsertFree(uint64_t offset, uint64_t size) {
  int fl, sl;
  Mapping(size, &fl, &sl);
  uint64_t head = ctl_->heads[fl][sl];
  if (head != 0 && !ValidOffset(head)) return Corrupt("free-list head", head);
  Store(offset + 8, head);  // next
  Store(offset + 16, 0);    // prev
  if (head != 0) Store(head + 16, offset);
  ctl_->heads[fl][sl] = offset;
  ctl_->fl_bitmap |= 1ull << fl;
  ctl_->sl_bitmap[fl] |= 1ull << sl;
  layout::AddUnderLock(ctl_->free_bytes, size);
  layout::AddUnderLock(ctl_->free_blocks, 1);
  return absl::OkStatus();
}

absl::Status Allocator::RemoveFree(uint64_t offset, uint64_t size) {
  int fl, sl;
  Mapping(size, &fl, &sl);
  uint64_t next = Load(offset + 8);
  uint64_t prev = Load(offset + 16);
  if ((next != 0 && !ValidOffset(next)) || (prev != 0 && !ValidOffset(prev))) {
    return Corrupt("free-list link", offset);
  }
  if (prev == 0) {
    if (ctl_->heads[fl][sl] != offset) return Corrupt("free-list head", offset);
    ctl_->heads[fl][sl] = next;
  } else {
    if (Load(prev + 8) != offset) return Corrupt("free-list prev link", offset);
    Store(prev + 8, next);
  }
  if (next != 0) Store(next + 16, prev);
  if (ctl_->heads[fl][sl] == 0) {
    ctl_->sl_bitmap[fl] &= ~(1ull << sl);
    if (ctl_->sl_bitmap[fl] == 0) ctl_->fl_bitmap &= ~(1ull << fl);
  }
  layout::SubUnderLock(ctl_->free_bytes, size);
  layout::SubUnderLock(ctl_->free_blocks, 1);
  return absl::OkStatus();
}

void Allocator::Format() {
  ctl_->fl_bitmap = 0;
  memset(ctl_->sl_bitmap, 0, sizeof(ctl_->sl_bitmap));
  memset(ctl_->heads, 0, sizeof(ctl_->heads));
  ctl_->free_bytes.store(0, std::memory_order_relaxed);
  ctl_->free_blocks.store(0, std::memory_order_relaxed);
  ctl_->used_bytes.store(0, std::memory_order_relaxed);
  ctl_->used_blocks.store(0, std::memory_order_relaxed);
  WriteFree(lo_, hi_ - lo_);
  InsertFree(lo_, hi_ - lo_).IgnoreError();  // the lists were just emptied
  ctl_->tail_free = lo_;
}

uint64_t Allocator::FindFit(uint64_t size) const {
  // Round up to the next class boundary: every block of the class found
  // then fits.
  uint64_t search = size;
  if (search >= kSmallBlock) search += (1ull << (Msb(search) - kSLLog)) - 1;
  int fl, sl;
  Mapping(search, &fl, &sl);
  if (fl < kFLCount) {
    uint64_t sl_map = ctl_->sl_bitmap[fl] & kSLMask & (~0ull << sl);
    if (sl_map == 0) {
      uint64_t fl_map = ctl_->fl_bitmap & kFLMask & (~0ull << (fl + 1));
      if (fl_map != 0) {
        fl = __builtin_ctzll(fl_map);
        sl_map = ctl_->sl_bitmap[fl] & kSLMask;
      }
    }
    if (sl_map != 0) return ctl_->heads[fl][__builtin_ctzll(sl_map)];
  }
  // Nothing at or above the rounded class: look at a few blocks of the
  // request's own class, which may hold one large enough.
  Mapping(size, &fl, &sl);
  if (fl >= kFLCount) return 0;
  uint64_t b = ctl_->heads[fl][sl];
  for (int i = 0; i < kExactClassScan && b != 0 && ValidOffset(b); ++i) {
    uint64_t tag = Load(b);
    if ((tag & kFreeBit) && (tag & ~kTagFlags) >= size) return b;
    b = Load(b + 8);
  }
  return 0;
}

absl::StatusOr<uint64_t> Allocator::Allocate(uint64_t size) {
  if (size > hi_ - lo_) return absl::ResourceExhaustedError("");
  uint64_t b = FindFit(size);
  if (b == 0) return absl::ResourceExhaustedError("");
  if (!ValidOffset(b)) return Corrupt("free-list head", b);
  uint64_t tag = Load(b);
  uint64_t bsize = tag & ~kTagFlags;
  if (!(tag & kFreeBit) || bsize < size || bsize > hi_ - b ||
      bsize % kAlign != 0) {
    return Corrupt("free block tag", b);
  }
  absl::Status s = RemoveFree(b, bsize);
  if (!s.ok()) return s;
  const bool tail = b + bsize == hi_;
  if (bsize - size >= kMinBlock) {
    // Split: the tail stays free; the block after it keeps kPrevFreeBit.
    WriteFree(b + size, bsize - size);
    s = InsertFree(b + size, bsize - size);
    if (!s.ok()) return s;
    bsize = size;
    if (tail) ctl_->tail_free = b + size;
  } else if (b + bsize < hi_) {
    Store(b + bsize, Load(b + bsize) & ~kPrevFreeBit);
  } else {
    ctl_->tail_free = 0;
  }
  Store(b, bsize);  // allocated; the block before is allocated (invariant 2)
  layout::AddUnderLock(ctl_->used_bytes, bsize);
  layout::AddUnderLock(ctl_->used_blocks, 1);
  return b;
}

absl::Status Allocator::Free(uint64_t offset) {
  uint64_t size = AllocatedSize(offset);
  if (size == 0)
    return Corrupt("free of a block that is not allocated", offset);
  uint64_t tag = Load(offset);
  layout::SubUnderLock(ctl_->used_bytes, size);
  layout::SubUnderLock(ctl_->used_blocks, 1);
  uint64_t start = offset;
  uint64_t total = size;
  if (tag & kPrevFreeBit) {
    if (offset - lo_ < kMinBlock) return Corrupt("prev-free bit", offset);
    uint64_t psize = Load(offset - 8);
    if (psize < kMinBlock || psize % kAlign != 0 || psize > offset - lo_ ||
        Load(offset - psize) != (psize | kFreeBit)) {
      return Corrupt("footer of the previous block", offset);
    }
    absl::Status s = RemoveFree(offset - psize, psize);
    if (!s.ok()) return s;
    start -= psize;
    total += psize;
  }
  uint64_t next = offset + size;
  if (next < hi_) {
    uint64_t ntag = Load(next);
    uint64_t nsize = ntag & ~kTagFlags;
    if (nsize < kMinBlock || nsize > hi_ - next) {
      return Corrupt("tag of the next block", next);
    }
    if (ntag & kFreeBit) {
      absl::Status s = RemoveFree(next, nsize);
      if (!s.ok()) return s;
      total += nsize;
    }
  }
  WriteFree(start, total);
  if (start + total < hi_) {
    Store(start + total, Load(start + total) | kPrevFreeBit);
  } else {
    ctl_->tail_free = start;
  }
  return InsertFree(start, total);
}

absl::Status Allocator::Extend(uint64_t new_end) {
  if (new_end <= hi_ || (new_end - hi_) % kAlign != 0 ||
      new_end - hi_ < kMinBlock) {
    return Corrupt("heap extension to", new_end);
  }
  uint64_t start = hi_;
  const uint64_t t = ctl_->tail_free;
  if (t != 0) {
    // The free block that ends the heap joins the new bytes (invariant 2).
    if (!ValidOffset(t) || Load(t) != ((hi_ - t) | kFreeBit) ||
        Load(hi_ - 8) != hi_ - t) {
      return Corrupt("last free block", t);
    }
    absl::Status s = RemoveFree(t, hi_ - t);
    if (!s.ok()) return s;
    start = t;
  }
  hi_ = new_end;
  WriteFree(start, new_end - start);
  ctl_->tail_free = start;
  return InsertFree(start, new_end - start);
}

absl::StatusOr<uint64_t> Allocator::ExtendAllocated(uint64_t new_end) {
  if (new_end <= hi_ || (new_end - hi_) % kAlign != 0 ||
      new_end - hi_ < kMinBlock) {
    return Corrupt("heap extension to", new_end);
  }
  const uint64_t b = hi_;
  const uint64_t t = ctl_->tail_free;
  if (t != 0 && (!ValidOffset(t) || Load(t) != ((hi_ - t) | kFreeBit))) {
    return Corrupt("last free block", t);
  }
  hi_ = new_end;
  Store(b, (new_end - b) | (t != 0 ? kPrevFreeBit : 0));
  ctl_->tail_free = 0;
  layout::AddUnderLock(ctl_->used_bytes, new_end - b);
  layout::AddUnderLock(ctl_->used_blocks, 1);
  return b;
}

absl::Status Allocator::Rebuild(std::vector<Block> used) {
  std::sort(used.begin(), used.end(),
            [](const Block& a, const Block& b) { return a.offset < b.offset; });
  uint64_t cursor = lo_;
  for (const Block& b : used) {
    if (b.offset < cursor || !ValidOffset(b.offset) || b.size < kMinBlock ||
        b.size % kAlign != 0 || b.size > hi_ - b.offset) {
      return Corrupt("live block out of bounds or overlapping", b.offset);
    }
    if (b.offset != cursor && b.offset - cursor < kMinBlock) {
      return Corrupt("gap smaller than a block before", b.offset);
    }
    cursor = b.offset + b.size;
  }
  if (cursor != hi_ && hi_ - cursor < kMinBlock) {
    return Corrupt("tail gap smaller than a block", cursor);
  }
  ctl_->fl_bitmap = 0;
  memset(ctl_->sl_bitmap, 0, sizeof(ctl_->sl_bitmap));
  memset(ctl_->heads, 0, sizeof(ctl_->heads));
  ctl_->free_bytes.store(0, std::memory_order_relaxed);
  ctl_->free_blocks.store(0, std::memory_order_relaxed);
  uint64_t used_bytes = 0;
  cursor = lo_;
  bool prev_free = false;
  auto fill_gap = [&](uint64_t end) {
    // Gaps were checked above to hold at least kMinBlock.
    WriteFree(cursor, end - cursor);
    InsertFree(cursor, end - cursor).IgnoreError();  // lists emptied above
    prev_free = true;
  };
  for (const Block& b : used) {
    if (b.offset != cursor) fill_gap(b.offset);
    Store(b.offset, b.size | (prev_free ? kPrevFreeBit : 0));
    prev_free = false;
    used_bytes += b.size;
    cursor = b.offset + b.size;
  }
  ctl_->tail_free = 0;
  if (cursor < hi_) {
    ctl_->tail_free = cursor;
    fill_gap(hi_);
  }
  ctl_->used_bytes.store(used_bytes, std::memory_order_relaxed);
  ctl_->used_blocks.store(used.size(), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Allocator::Check(std::vector<Block>* allocated) const {
  allocated->clear();
  uint64_t free_blocks = 0, free_bytes = 0, used_bytes = 0;
  bool prev_free = false;
  uint64_t b = lo_, last = lo_;
  while (b < hi_) {
    last = b;
    uint64_t tag = Load(b);
    uint64_t size = tag & ~kTagFlags;
    if (size < kMinBlock || size % kAlign != 0 || size > hi_ - b) {
      return Corrupt(absl::StrCat("block size ", size), b);
    }
    if (((tag & kPrevFreeBit) != 0) != prev_free) {
      return Corrupt("prev-free bit disagrees with the previous block", b);
    }
    bool is_free = (tag & kFreeBit) != 0;
    if (is_free) {
      if (prev_free) return Corrupt("two adjacent free blocks", b);
      if (Load(b + size - 8) != size) return Corrupt("free block footer", b);
      ++free_blocks;
      free_bytes += size;
    } else {
      allocated->push_back({b, size});
      used_bytes += size;
    }
    prev_free = is_free;
    b += size;
  }
  if (b != hi_) return Corrupt("blocks overrun the heap end", b);
  if (ctl_->tail_free != (prev_free ? last : 0)) {
    return Corrupt("the last-free-block word disagrees with the blocks",
                   ctl_->tail_free);
  }
  if (free_bytes != ctl_->free_bytes.load(std::memory_order_relaxed) ||
      free_blocks != ctl_->free_blocks.load(std::memory_order_relaxed) ||
      used_bytes != ctl_->used_bytes.load(std::memory_order_relaxed) ||
      allocated->size() != ctl_->used_blocks.load(std::memory_order_relaxed)) {
    return internal::CorruptError(absl::StrCat(
        "heap counters disagree with the blocks: free ", free_blocks, "/",
        free_bytes, " counted vs ", ctl_->free_blocks.load(), "/",
        ctl_->free_bytes.load(), " recorded"));
  }
  if ((ctl_->fl_bitmap & ~kFLMask) != 0) {
    return internal::CorruptError("heap corrupt: first-level bitmap");
  }
  uint64_t listed = 0;
  for (int fl = 0; fl < kFLCount; ++fl) {
    if (((ctl_->fl_bitmap >> fl) & 1) != (ctl_->sl_bitmap[fl] != 0) ||
        (ctl_->sl_bitmap[fl] & ~kSLMask) != 0) {
      return internal::CorruptError(
          absl::StrCat("heap corrupt: bitmaps of class ", fl));
    }
    for (int sl = 0; sl < kSLCount; ++sl) {
      uint64_t head = ctl_->heads[fl][sl];
      if (((ctl_->sl_bitmap[fl] >> sl) & 1) != (head != 0)) {
        return internal::CorruptError(
            absl::StrCat("heap corrupt: bitmap of class ", fl, ".", sl));
      }
      uint64_t prev = 0;
      for (uint64_t f = head; f != 0; f = Load(f + 8)) {
        if (!ValidOffset(f) || ++listed > free_blocks) {
          return Corrupt("free list link", f);
        }
        uint64_t tag = Load(f);
        int cfl, csl;
        Mapping(tag & ~kTagFlags, &cfl, &csl);
        if (!(tag & kFreeBit) || cfl != fl || csl != sl) {
          return Corrupt("block on the wrong free list", f);
        }
        if (Load(f + 16) != prev) return Corrupt("free list back link", f);
        prev = f;
      }
    }
  }
  if (listed != free_blocks) {
    return internal::CorruptError(absl::StrCat("heap corrupt: ", free_blocks,
                                               " free blocks but ", listed,
                                               " on the free lists"));
  }
  return absl::OkStatus();
}

AllocatorStats Allocator::Stats() const {
  AllocatorStats st;
  st.heap_size = hi_ - lo_;
  st.used_blocks = ctl_->used_blocks.load(std::memory_order_relaxed);
  st.used_bytes = ctl_->used_bytes.load(std::memory_order_relaxed);
  // Bounded by the most blocks the heap can hold (not by a shared counter,
  // which may be corrupt): a cyclic list cannot make it loop.
  uint64_t budget = (hi_ - lo_) / kMinBlock + 1;
  for (int fl = 0; fl < kFLCount; ++fl) {
    for (int sl = 0; sl < kSLCount; ++sl) {
      SizeClassStats cs;
      std::tie(cs.min_block_size, cs.max_block_size) = ClassRange(fl, sl);
      for (uint64_t f = ctl_->heads[fl][sl];
           f != 0 && ValidOffset(f) && budget > 0; f = Load(f + 8), --budget) {
        uint64_t size = Load(f) & ~kTagFlags;
        ++cs.free_blocks;
        cs.free_bytes += size;
        st.largest_free_block = std::max(st.largest_free_block, size);
      }
      if (cs.free_blocks > 0) {
        st.free_blocks += cs.free_blocks;
        st.free_bytes += cs.free_bytes;
        st.size_classes.push_back(cs);
      }
    }
  }
  st.fragmentation = st.free_bytes == 0
                         ? 0.0
                         : 1.0 - static_cast<double>(st.largest_free_block) /
                                     static_cast<double>(st.free_bytes);
  st.exact = true;
  return st;
}

}  // namespace alloc
}  // namespace zcipc
