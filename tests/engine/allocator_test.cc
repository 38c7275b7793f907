// Unit tests of the TLSF allocator on a private buffer.

#include "engine/alloc/allocator.h"

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace zcipc {
namespace alloc {
namespace {

class AllocatorTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kHeapOffset = 4096;

  void Init(uint64_t heap_size) {
    heap_size_ = heap_size;
    memory_.reset(new uint64_t[(kHeapOffset + heap_size) / 8 + 1]());
    control_.reset(new layout::AllocatorControl());
    alloc_ = std::make_unique<Allocator>(base(), control_.get(), kHeapOffset,
                                         heap_size);
    alloc_->Format();
  }
  char* base() { return reinterpret_cast<char*>(memory_.get()); }

  void ExpectConsistent() {
    std::vector<Block> allocated;
    absl::Status s = alloc_->Check(&allocated);
    ASSERT_TRUE(s.ok()) << s;
  }

  uint64_t heap_size_ = 0;
  std::unique_ptr<uint64_t[]> memory_;
  std::unique_ptr<layout::AllocatorControl> control_;
  std::unique_ptr<Allocator> alloc_;
};

TEST_F(AllocatorTest, FormatMakesOneFreeBlock) {
  Init(1 << 20);
  AllocatorStats st = alloc_->Stats();
  EXPECT_EQ(st.free_blocks, 1u);
  EXPECT_EQ(st.free_bytes, 1u << 20);
  EXPECT_EQ(st.largest_free_block, 1u << 20);
  EXPECT_EQ(st.fragmentation, 0.0);
  ExpectConsistent();
}

TEST_F(AllocatorTest, BlockSizeForRoundsAndHasAMinimum) {
  EXPECT_EQ(Allocator::BlockSizeFor(0), layout::kMinBlock);
  EXPECT_EQ(Allocator::BlockSizeFor(8), layout::kMinBlock);
  EXPECT_EQ(Allocator::BlockSizeFor(24), 32u);
  EXPECT_EQ(Allocator::BlockSizeFor(25), 48u);
  EXPECT_EQ(Allocator::BlockSizeFor(1000) % layout::kAlign, 0u);
}

TEST_F(AllocatorTest, ClassRangesTileTheSizes) {
  uint64_t next = 0;
  for (int fl = 0; fl < 10; ++fl) {
    for (int sl = 0; sl < layout::kSLCount; ++sl) {
      auto [lo, hi] = Allocator::ClassRange(fl, sl);
      EXPECT_EQ(lo, next) << fl << "." << sl;
      EXPECT_GE(hi, lo);
      next = hi + 1;
    }
  }
}

// Seed failures 1-3: a reused block is never smaller than the request and
// keeps its true size.
TEST_F(AllocatorTest, ReusedBlocksAreNeverSmallerThanTheRequest) {
  Init(1 << 20);
  std::vector<uint64_t> blocks;
  for (uint64_t size :
       {48ull, 64ull, 256ull, 272ull, 1024ull, 4096ull, 4992ull}) {
    absl::StatusOr<uint64_t> b = alloc_->Allocate(size);
    ASSERT_TRUE(b.ok());
    blocks.push_back(*b);
    // A spacer keeps the freed blocks from coalescing.
    ASSERT_TRUE(alloc_->Allocate(32).ok());
  }
  for (uint64_t b : blocks) ASSERT_TRUE(alloc_->Free(b).ok());
  ExpectConsistent();
  for (uint64_t want = 32; want <= 8192; want += 16) {
    absl::StatusOr<uint64_t> b = alloc_->Allocate(want);
    ASSERT_TRUE(b.ok()) << want;
    EXPECT_GE(alloc_->AllocatedSize(*b), want);
    ASSERT_TRUE(alloc_->Free(*b).ok());
  }
  ExpectConsistent();
}

TEST_F(AllocatorTest, SplitsAndCoalescesBackToOneBlock) {
  Init(1 << 16);
  std::vector<uint64_t> blocks;
  for (;;) {
    absl::StatusOr<uint64_t> b = alloc_->Allocate(96);
    if (!b.ok()) {
      EXPECT_TRUE(absl::IsResourceExhausted(b.status()));
      break;
    }
    blocks.push_back(*b);
  }
  EXPECT_GT(blocks.size(), 600u);
  ExpectConsistent();
  // Free in an interleaved order so every coalescing case happens.
  for (size_t i = 0; i < blocks.size(); i += 2) {
    ASSERT_TRUE(alloc_->Free(blocks[i]).ok());
  }
  ExpectConsistent();
  for (size_t i = 1; i < blocks.size(); i += 2) {
    ASSERT_TRUE(alloc_->Free(blocks[i]).ok());
  }
  ExpectConsistent();
  AllocatorStats st = alloc_->Stats();
  EXPECT_EQ(st.free_blocks, 1u);
  EXPECT_EQ(st.free_bytes, heap_size_);
  EXPECT_EQ(st.used_blocks, 0u);
}

TEST_F(AllocatorTest, RandomWorkloadKeepsDataAndInvariants) {
  Init(1 << 20);
  std::mt19937_64 rng(42);
  std::map<uint64_t, std::pair<uint64_t, uint8_t>> live;  // block -> size, fill
  for (int op = 0; op < 20000; ++op) {
    if (live.empty() || rng() % 100 < 55) {
      uint64_t size = Allocator::BlockSizeFor(rng() % (rng() % 8 ? 200 : 9000));
      absl::StatusOr<uint64_t> b = alloc_->Allocate(size);
      if (!b.ok()) {
        ASSERT_TRUE(absl::IsResourceExhausted(b.status()));
        continue;
      }
      uint64_t real = alloc_->AllocatedSize(*b);
      ASSERT_GE(real, size);
      auto fill = static_cast<uint8_t>(rng());
      memset(base() + *b + 8, fill, real - 8);  // the whole payload
      live[*b] = {real, fill};
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      const auto& [size, fill] = it->second;
      for (uint64_t i = 8; i < size; ++i) {
        ASSERT_EQ(static_cast<uint8_t>(base()[it->first + i]), fill)
            << "block " << it->first << " overwritten at " << i;
      }
      ASSERT_TRUE(alloc_->Free(it->first).ok());
      live.erase(it);
    }
    if (op % 1000 == 0) ExpectConsistent();
  }
  ExpectConsistent();
  std::vector<Block> allocated;
  ASSERT_TRUE(alloc_->Check(&allocated).ok());
  ASSERT_EQ(allocated.size(), live.size());
}

TEST_F(AllocatorTest, RebuildFromLiveBlocks) {
  Init(1 << 18);
  std::vector<Block> keep;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<uint64_t> b = alloc_->Allocate(64 + 16 * (i % 7));
    ASSERT_TRUE(b.ok());
    if (i % 3 == 0) keep.push_back({*b, alloc_->AllocatedSize(*b)});
  }
  // Scribble over the free-list state as a crash might, then rebuild.
  control_->fl_bitmap = ~0ull;
  control_->heads[3][3] = 12345;
  ASSERT_TRUE(alloc_->Rebuild(keep).ok());
  std::vector<Block> allocated;
  ASSERT_TRUE(alloc_->Check(&allocated).ok());
  ASSERT_EQ(allocated.size(), keep.size());
  for (size_t i = 0; i < keep.size(); ++i) {
    EXPECT_EQ(allocated[i].offset, keep[i].offset);
    EXPECT_EQ(allocated[i].size, keep[i].size);
  }
}

TEST_F(AllocatorTest, RebuildRejectsOverlaps) {
  Init(1 << 16);
  std::vector<Block> bad = {{kHeapOffset, 64}, {kHeapOffset + 32, 64}};
  EXPECT_TRUE(absl::IsDataLoss(alloc_->Rebuild(bad)));
  std::vector<Block> outside = {{kHeapOffset + (1 << 16), 64}};
  EXPECT_TRUE(absl::IsDataLoss(alloc_->Rebuild(outside)));
}

TEST_F(AllocatorTest, CorruptLinksAreDataLossNotACrash) {
  Init(1 << 16);
  absl::StatusOr<uint64_t> a = alloc_->Allocate(64);
  absl::StatusOr<uint64_t> b = alloc_->Allocate(64);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(alloc_->Free(*a).ok());
  // Point the free block's next link far outside the heap.
  uint64_t wild = 1ull << 50;
  memcpy(base() + *a + 8, &wild, 8);
  std::vector<Block> allocated;
  EXPECT_TRUE(absl::IsDataLoss(alloc_->Check(&allocated)));
  // Freeing b coalesces with a, whose links are now wild.
  EXPECT_TRUE(absl::IsDataLoss(alloc_->Free(*b)));
  // Double free and wild free are rejected.
  EXPECT_TRUE(absl::IsDataLoss(alloc_->Free(kHeapOffset + 8)));
  EXPECT_TRUE(absl::IsDataLoss(alloc_->Free(1ull << 40)));
}

TEST_F(AllocatorTest, OversizedRequestIsExhaustedNotOverflow) {
  Init(1 << 16);
  EXPECT_TRUE(absl::IsResourceExhausted(alloc_->Allocate(1ull << 62).status()));
  EXPECT_TRUE(absl::IsResourceExhausted(alloc_->Allocate(1 << 17).status()));
  absl::StatusOr<uint64_t> all = alloc_->Allocate(1 << 16);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(alloc_->Allocate(32).status()));
  ASSERT_TRUE(alloc_->Free(*all).ok());
  ExpectConsistent();
}

}  // namespace
}  // namespace alloc
}  // namespace zcipc
