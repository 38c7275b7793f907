// docs/KNOWN-FAILURES.md, item 17 (the original Python package): The segment's
// size is not checked on attach.
//
// A real dict with entries is closed and its file cut short: one byte short
// of its heap's end, by 16 bytes, by one page, to where its heap starts, to
// its header alone, to 100 bytes, to nothing. Attach and OpenOrCreate answer
// DataLoss (promptly, naming the dict) without crashing; neither repairs,
// re-creates or resizes the file; Create still says AlreadyExists; Unlink
// removes it. A file longer than its heap's end is valid (growth extends the
// file before the header says so): it attaches with its entries intact, and
// attaching leaves its size alone.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::PatternBytes;
using ::zcipc_test::HasCode;
using ::zcipc_test::HasCodeAndName;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;

constexpr absl::StatusCode kDataLoss = absl::StatusCode::kDataLoss;

int64_t FileSize(const std::string& name) {
  struct stat st;
  if (stat(SegmentPath(name).c_str(), &st) != 0) return -1;
  return st.st_size;
}

bool Resize(const std::string& name, int64_t size) {
  const int fd = open(SegmentPath(name).c_str(), O_RDWR);
  if (fd < 0) return false;
  const bool ok = ftruncate(fd, static_cast<off_t>(size)) == 0;
  close(fd);
  return ok;
}

TEST(Kf17TruncatedSegmentTest, ResizedSegmentIsDataLossAndLeftAlone) {
  // The geometry of the dicts below, from a first one.
  uint64_t segment_size = 0, heap_offset = 0, heap_size = 0;
  {
    ScopedName probe("kf17");
    ASSERT_OK_AND_ASSIGN(
        ZeroCopyDict d,
        ZeroCopyDict::Create(probe.name(), MakeOptions(500, 1 << 20)));
    ASSERT_OK_AND_ASSIGN(Inspection in, Inspect(d));
    segment_size = in.stats.segment_size;
    heap_offset = in.heap_offset;
    heap_size = in.stats.heap_size;
  }
  const int64_t heap_end = static_cast<int64_t>(heap_offset + heap_size);
  ASSERT_LE(heap_end, static_cast<int64_t>(segment_size));
  const int64_t full = static_cast<int64_t>(segment_size);
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"one byte short of the heap's end", heap_end - 1},
      {"16 bytes short", full - 16},
      {"one page short", full - 4096},
      {"half", full / 2},
      {"up to the heap", static_cast<int64_t>(heap_offset)},
      {"header page only", 8192},
      {"100 bytes", 100},
      {"empty", 0},
  };
  for (const auto& [label, size] : cases) {
    SCOPED_TRACE(label);
    ScopedName name("kf17");
    {
      ASSERT_OK_AND_ASSIGN(
          ZeroCopyDict d,
          ZeroCopyDict::Create(name.name(), MakeOptions(500, 1 << 20)));
      for (int i = 0; i < 300; ++i) {
        ASSERT_OK(d.Put(absl::StrCat("k", i), PatternBytes(3000, i)));
      }
      ASSERT_EQ(d.GetStats().segment_size, segment_size);
    }  // closed: nothing maps the file while it is cut
    ASSERT_TRUE(Resize(name.name(), size));

    Options options;
    options.lock_timeout = absl::Milliseconds(200);  // for the empty file
    const absl::Time start = absl::Now();
    EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Attach(name.name(), options),
                               kDataLoss, name.name()));
    EXPECT_TRUE(
        HasCode(ZeroCopyDict::OpenOrCreate(name.name(), options), kDataLoss));
    EXPECT_TRUE(HasCode(ZeroCopyDict::Create(name.name(), options),
                        absl::StatusCode::kAlreadyExists));
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
    EXPECT_EQ(FileSize(name.name()), size) << "the file was changed";
    ASSERT_OK(ZeroCopyDict::Unlink(name.name()));
    EXPECT_EQ(FileSize(name.name()), -1);
  }
}

// A file longer than its heap's end (what a growth leaves when it dies after
// extending the file, before the header says so) is a valid dict: Attach and
// OpenOrCreate open it with every entry intact, Check passes, and the file
// keeps its size.
TEST(Kf17TruncatedSegmentTest, LongerSegmentAttachesIntact) {
  for (const int64_t extra : {int64_t{16}, int64_t{4096}, int64_t{1} << 20}) {
    SCOPED_TRACE(absl::StrCat(extra, " bytes longer"));
    ScopedName name("kf17c");
    {
      ASSERT_OK_AND_ASSIGN(
          ZeroCopyDict d,
          ZeroCopyDict::Create(name.name(), MakeOptions(500, 1 << 20)));
      for (int i = 0; i < 300; ++i) {
        ASSERT_OK(d.Put(absl::StrCat("k", i), PatternBytes(3000, i)));
      }
    }  // closed
    const int64_t longer = FileSize(name.name()) + extra;
    ASSERT_TRUE(Resize(name.name(), longer));
    Options options;
    options.lock_timeout = absl::Milliseconds(200);
    for (bool open_or_create : {false, true}) {
      absl::StatusOr<ZeroCopyDict> d =
          open_or_create ? ZeroCopyDict::OpenOrCreate(name.name(), options)
                         : ZeroCopyDict::Attach(name.name(), options);
      ASSERT_OK(d.status());
      EXPECT_EQ(d->Size(), 300u);
      for (int i = 0; i < 300; ++i) {
        ASSERT_OK_AND_ASSIGN(std::string v, d->Get(absl::StrCat("k", i)));
        ASSERT_TRUE(v == PatternBytes(3000, i)) << "k" << i;
      }
      EXPECT_OK(d->Check());
    }
    EXPECT_EQ(FileSize(name.name()), longer) << "the file was changed";
  }
}

// A segment extended while a handle has it open (as a growth in another
// process does before it records the larger heap): a new attacher opens it
// and sees what the old handle sees, and the old handle keeps working.
// (Shrinking a file under a live mapping makes that mapping SIGBUS, a
// documented hazard, so only extending is exercised here; a file shorter
// than its heap is DataLoss, above.)
TEST(Kf17TruncatedSegmentTest, ExtendedWhileOldHandleIsOpenStillAttaches) {
  ScopedName name("kf17b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict d,
      ZeroCopyDict::Create(name.name(), MakeOptions(500, 1 << 20)));
  ASSERT_OK(d.Put("k", "v"));
  const int64_t full = FileSize(name.name());
  ASSERT_GT(full, 8192);
  // Extending (not shrinking) keeps the old mapping valid.
  ASSERT_TRUE(Resize(name.name(), full + 65536));
  {
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict other, ZeroCopyDict::Attach(name.name()));
    ASSERT_OK_AND_ASSIGN(std::string got, other.Get("k"));
    EXPECT_EQ(got, "v");
    ASSERT_OK(other.Put("k2", "v2"));
  }
  // The old handle still works on its own mapping and sees the other's write.
  ASSERT_OK_AND_ASSIGN(std::string v, d.Get("k"));
  EXPECT_EQ(v, "v");
  ASSERT_OK_AND_ASSIGN(v, d.Get("k2"));
  EXPECT_EQ(v, "v2");
  EXPECT_EQ(FileSize(name.name()), full + 65536);
  ASSERT_TRUE(Resize(name.name(), full));
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict again, ZeroCopyDict::Attach(name.name()));
  ASSERT_OK_AND_ASSIGN(v, again.Get("k"));
  EXPECT_EQ(v, "v");
  EXPECT_OK(again.Check());
}

}  // namespace
}  // namespace zcipc
