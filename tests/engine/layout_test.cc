// Unit tests of the layout: names, geometry, header validation, parsing.

#include "engine/layout/layout.h"

#include <cstring>
#include <memory>

#include "engine/index/index.h"
#include "gtest/gtest.h"

namespace zcipc {
namespace layout {
namespace {

TEST(LayoutTest, NameRules) {
  for (const char* ok : {"a", "A-b_c.d", "x.y.z", "0", "..."}) {
    EXPECT_TRUE(ValidateName(ok).ok()) << ok;
  }
  EXPECT_TRUE(ValidateName(std::string(200, 'n')).ok());
  for (std::string bad : {std::string(""), std::string("."), std::string(".."),
                          std::string("a/b"), std::string("../../x"),
                          std::string("a b"), std::string("caf\xc3\xa9"),
                          std::string("a\0b", 3), std::string(201, 'n')}) {
    absl::Status s = ValidateName(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << bad << " " << s;
  }
  EXPECT_EQ(ShmName("abc"), "/zcipc.abc");
}

TEST(LayoutTest, GeometryKeepsLoadAtMostThreeQuarters) {
  for (uint64_t items : {1ull, 12ull, 13ull, 100ull, 10000ull, 1000000ull}) {
    Geometry g;
    ASSERT_TRUE(ComputeGeometry(items, 1 << 20, &g).ok());
    EXPECT_EQ(g.slot_count & (g.slot_count - 1), 0u);
    EXPECT_LE(items * 4, g.slot_count * 3) << items;
    if (g.slot_count > 16) {
      EXPECT_GT(items * 4, g.slot_count / 2 * 3)
          << "not the smallest power of two for " << items;
    }
    EXPECT_EQ(g.slots_offset % kPageSize, 0u);
    EXPECT_EQ(g.heap_offset % kPageSize, 0u);
    EXPECT_GE(g.heap_offset, g.slots_offset + g.slot_count * sizeof(Slot));
    EXPECT_GE(g.segment_size, g.heap_offset + g.heap_size);
  }
  Geometry g;
  EXPECT_TRUE(absl::IsInvalidArgument(ComputeGeometry(0, 1 << 20, &g)));
  EXPECT_TRUE(absl::IsInvalidArgument(ComputeGeometry(10, 100, &g)));
  EXPECT_TRUE(
      absl::IsInvalidArgument(ComputeGeometry(10, kMaxHeapSize + 1, &g)));
}

class HeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ComputeGeometry(100, 1 << 16, &g_).ok());
    memory_.reset(new uint64_t[kHeaderRegionSize / 8]());
    h_ = new (memory_.get()) Header;
    h_->version = kVersion;
    h_->header_size = sizeof(Header);
    h_->fingerprint = LayoutFingerprint();
    h_->segment_size = g_.segment_size;
    h_->max_items = g_.max_items;
    h_->slot_count = g_.slot_count;
    h_->slots_offset = g_.slots_offset;
    h_->heap_offset = g_.heap_offset;
    h_->heap_size = g_.heap_size;
    h_->journal_offset = kJournalOffset;
    h_->max_segment_size = g_.segment_size * 4;
    h_->heap_size_now.store(g_.heap_size);
    h_->table.store(TableWord(g_.slots_offset, g_.slot_count));
    h_->magic.store(kMagic);
  }
  absl::Status Validate() {
    Geometry out;
    return ValidateHeader(*h_, g_.segment_size, &out);
  }
  Geometry g_;
  std::unique_ptr<uint64_t[]> memory_;
  Header* h_;
};

TEST_F(HeaderTest, ValidHeaderPasses) { EXPECT_TRUE(Validate().ok()); }

TEST_F(HeaderTest, EachFieldIsChecked) {
  h_->magic.store(123);
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->version = kVersion + 1;
  EXPECT_TRUE(absl::IsFailedPrecondition(Validate()));
  SetUp();
  h_->fingerprint ^= 1;
  EXPECT_TRUE(absl::IsFailedPrecondition(Validate()));
  SetUp();
  h_->heap_offset += 4096;
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->max_items = 0;
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  Geometry out;
  EXPECT_TRUE(
      absl::IsDataLoss(ValidateHeader(*h_, g_.segment_size - 4096, &out)));
  // Growth: the bound, the heap now, the table word.
  SetUp();
  h_->max_segment_size = g_.segment_size - 4096;
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->max_segment_size = kMaxSegmentSize * 2;
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->heap_size_now.store(g_.heap_size - 16);
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->heap_size_now.store(g_.heap_size + 4096);  // past the file's end
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  EXPECT_TRUE(ValidateHeader(*h_, g_.segment_size + 4096, &out).ok());
  SetUp();
  h_->table.store(TableWord(g_.slots_offset - 4096, g_.slot_count));
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->table.store(TableWord(g_.slots_offset, g_.slot_count * 1024));
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  h_->table.store(g_.slots_offset);  // log 0: one slot
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
  SetUp();
  // The created table's region with another slot count (it fits there
  // with half as many).
  h_->table.store(TableWord(g_.slots_offset, g_.slot_count / 2));
  EXPECT_TRUE(absl::IsDataLoss(Validate()));
}

TEST(EntryTest, ParseRejectsEveryOutOfBoundsField) {
  Geometry g;
  ASSERT_TRUE(ComputeGeometry(16, 1 << 16, &g).ok());
  std::unique_ptr<uint64_t[]> mem(new uint64_t[g.segment_size / 8]());
  char* base = reinterpret_cast<char*>(mem.get());
  auto* header = new (base) Header;
  index::Index idx(base, g, header, /*fd=*/-1);
  uint64_t b = g.heap_offset;
  auto put = [&](uint64_t off, uint64_t v) { memcpy(base + b + off, &v, 8); };
  put(0, 64);  // tag: allocated, 64 bytes
  put(kEntryValueLenOffset, 10);
  put(kEntryKeyLenOffset, 5);
  index::Entry e;
  ASSERT_TRUE(idx.ParseEntry(b, &e));
  EXPECT_EQ(e.key_len, 5u);
  EXPECT_EQ(e.value_len, 10u);
  EXPECT_EQ(e.value - e.key, 8);
  EXPECT_EQ(e.value_room, 64u - 32u);
  put(kEntryValueLenOffset, 33);  // past the block
  EXPECT_FALSE(idx.ParseEntry(b, &e));
  put(kEntryValueLenOffset, ~0ull);  // overflow
  EXPECT_FALSE(idx.ParseEntry(b, &e));
  put(kEntryValueLenOffset, 1);
  put(kEntryKeyLenOffset, 1ull << 40);
  EXPECT_FALSE(idx.ParseEntry(b, &e));
  put(kEntryKeyLenOffset, 1);
  put(0, 64 | 1);  // free block
  EXPECT_FALSE(idx.ParseEntry(b, &e));
  put(0, 1ull << 30);  // larger than the heap
  EXPECT_FALSE(idx.ParseEntry(b, &e));
  put(0, 64);
  EXPECT_FALSE(idx.ParseEntry(b + 8, &e));               // misaligned
  EXPECT_FALSE(idx.ParseEntry(g.heap_offset - 16, &e));  // before the heap
  EXPECT_FALSE(idx.ParseEntry(g.heap_offset + g.heap_size, &e));
  EXPECT_FALSE(idx.ParseEntry(~0ull - 15, &e));
}

}  // namespace
}  // namespace layout
}  // namespace zcipc
