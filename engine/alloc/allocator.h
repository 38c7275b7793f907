// The heap allocator: segregated free lists with O(1) allocate and free
// (TLSF, "Two-Level Segregated Fit"), over the heap region of a segment.
//
// Blocks. The heap is tiled by blocks; each starts with a tag word:
//   tag = size | kFreeBit | kPrevFreeBit
// `size` is the block's true size (a multiple of kAlign, >= kMinBlock), so a
// block reused for a smaller request still knows how big it is, and a
// request is only ever served by a block at least as large. A free block
// also holds its free-list links after the tag and repeats its size in its
// last word (the footer); kPrevFreeBit in the next block's tag says the
// footer before it is valid, so an allocated block needs no footer.
//
// Invariants (checked by Check()):
//   1. Blocks tile [heap_offset, heap_offset + heap_size) exactly.
//   2. No two free blocks are adjacent (free coalesces with both neighbours).
//   3. Every free block is on exactly the list of its size class; a class's
//      bitmap bit is set iff its list is non-empty.
//   4. kPrevFreeBit of a block equals the free bit of the block before it.
//   5. The counters equal the sums over the blocks.
//
// Classes. Sizes below kSmallBlock (256) map to first-level class 0, split
// into 16 classes of 16 bytes; above, each power of two [2^f, 2^(f+1)) is a
// first-level class split into 16 second-level classes. Allocation rounds
// the request up to the next class boundary and takes the head of the first
// non-empty class at or above it, found with two find-first-set operations on
// the bitmaps; every block there fits. (If none does, it also looks at a few
// blocks of the request's own class before reporting the heap full.)
//
// Untrusted input: every tag, link and footer read from the heap is checked
// (in bounds, aligned, consistent) before use; a violation is DataLoss and
// the operation stops. The dict then repairs by Rebuild() from the slots.
//
// Thread safety: thread-compatible; the caller holds the writer lock.

#ifndef ZCIPC_ENGINE_ALLOC_ALLOCATOR_H_
#define ZCIPC_ENGINE_ALLOC_ALLOCATOR_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/layout/layout.h"
#include "zcipc/options.h"

namespace zcipc {
namespace alloc {

inline constexpr uint64_t kFreeBit = 1;
inline constexpr uint64_t kPrevFreeBit = 2;
inline constexpr uint64_t kTagFlags = layout::kAlign - 1;
inline constexpr uint64_t kTagSize = 8;

// A block: its offset in the segment and its true size.
struct Block {
  uint64_t offset;
  uint64_t size;
};

class Allocator {
 public:
  // `base` is the mapped segment; the heap is [heap_offset, +heap_size).
  Allocator(char* base, layout::AllocatorControl* control, uint64_t heap_offset,
            uint64_t heap_size);

  // The block size that holds `payload` bytes after the tag: the payload
  // plus the tag, rounded up to kAlign, at least kMinBlock.
  static uint64_t BlockSizeFor(uint64_t payload);

  // Makes the whole heap one free block.
  void Format();

  // A block of at least `size` bytes (a BlockSizeFor result). Its offset, or
  // ResourceExhausted (empty message) when no free block fits, or DataLoss.
  absl::StatusOr<uint64_t> Allocate(uint64_t size);

  // Whether Allocate(size) would find a block (no change).
  bool HasFit(uint64_t size) const {
    return size <= hi_ - lo_ && FindFit(size) != 0;
  }

  // Frees an allocated block, coalescing with free neighbours.
  absl::Status Free(uint64_t offset);

  // Growth (docs/DESIGN.md, "Online growth"): the heap's end moves from
  // end() to new_end. Extend makes the new bytes free (one block with the
  // free block before them, if any); ExtendAllocated makes them one
  // allocated block and returns its offset (the old end). The caller has
  // made the file long enough and records the new end in the header.
  absl::Status Extend(uint64_t new_end);
  absl::StatusOr<uint64_t> ExtendAllocated(uint64_t new_end);
  // Another process grew the heap: adopt its end (never shrinks).
  void SetEnd(uint64_t end) {
    if (end > hi_) hi_ = end;
  }
  uint64_t end() const { return hi_; }

  // The true size of the allocated block at `offset`, or 0 when `offset` is
  // not the start of a plausible allocated block (bounds, alignment, flags).
  uint64_t AllocatedSize(uint64_t offset) const;

  // Rewrites every free block, list and counter so that exactly `used` is
  // allocated (the crash repair: the slots say which blocks are live).
  // DataLoss if the blocks are out of bounds or overlap.
  absl::Status Rebuild(std::vector<Block> used);

  // Checks invariants 1-5; fills `allocated` with the allocated blocks in
  // address order. DataLoss describing the first violation.
  absl::Status Check(std::vector<Block>* allocated) const;

  // Walks the free lists (bounded, so a corrupt list cannot loop).
  AllocatorStats Stats() const;

  // Lower and upper bound of the block sizes class (fl, sl) holds.
  static std::pair<uint64_t, uint64_t> ClassRange(int fl, int sl);

 private:
  bool ValidOffset(uint64_t offset) const;
  uint64_t Load(uint64_t offset) const;
  void Store(uint64_t offset, uint64_t value);
  void WriteFree(uint64_t offset, uint64_t size);
  absl::Status InsertFree(uint64_t offset, uint64_t size);
  absl::Status RemoveFree(uint64_t offset, uint64_t size);
  uint64_t FindFit(uint64_t size) const;

  char* base_;
  layout::AllocatorControl* ctl_;
  uint64_t lo_;  // heap start
  uint64_t hi_;  // heap end
};

}  // namespace alloc
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_ALLOC_ALLOCATOR_H_
