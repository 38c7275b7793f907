// docs/KNOWN-FAILURES.md, item 16 (the original Python package): Initialisation
// is not atomic.
//
// Many rounds: a child loops on Attach (NotFound until the name exists)
// while the parent creates the dict. Whenever the child's Attach succeeds,
// even mid-creation, it must see a finished, empty dict: Size() == 0,
// ForEach visits nothing, lookups miss, the geometry is the creator's, and
// Check() passes. The parent writes nothing until the child is done, so any
// entry the child sees is a half-built dict showing through.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::PipeSignal;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

enum ChildExit {
  kSawCompleteEmptyDict = 0,
  kAttachError = 10,
  kNonEmptySize = 11,
  kForEachVisited = 12,
  kLookupHit = 13,
  kWrongGeometry = 14,
  kCheckFailed = 15,
  kNeverAppeared = 16,
};

constexpr uint64_t kMaxItems = 5000;
constexpr uint64_t kHeap = 8 << 20;  // large enough that creating takes a while

int AttachLoop(const std::string& name, PipeSignal& ready) {
  ready.CloseRead();
  uint64_t not_found = 0;
  bool announced = false;
  for (;;) {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
    if (absl::IsNotFound(d.status())) {
      if (!announced) {
        ready.Fire();  // spinning: the parent may create now
        ready.CloseWrite();
        announced = true;
      }
      if (++not_found > 50000000) return kNeverAppeared;
      continue;
    }
    if (!d.ok()) return ChildFailure(kAttachError, "Attach", d.status());
    if (d->Size() != 0) return kNonEmptySize;
    uint64_t visits = 0;
    absl::Status s =
        d->ForEach([&](absl::string_view, absl::string_view) { ++visits; });
    if (!s.ok()) return ChildFailure(kForEachVisited, "ForEach", s);
    if (visits != 0) return kForEachVisited;
    for (int i = 0; i < 100; ++i) {
      std::string v;
      if (!absl::IsNotFound(d->Get(absl::StrCat("key-", i), &v))) {
        return kLookupHit;
      }
    }
    const Stats st = d->GetStats();
    if (st.max_items != kMaxItems || st.heap_size != kHeap ||
        st.size != 0 || st.tombstones != 0) {
      return kWrongGeometry;
    }
    s = d->Check();
    if (!s.ok()) return ChildFailure(kCheckFailed, "Check", s);
    return kSawCompleteEmptyDict;
  }
}

TEST(Kf16AtomicInitTest, AttacherRacingCreatorNeverSeesAHalfBuiltDict) {
  constexpr int kRounds = 60;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    ScopedName name("kf16");
    PipeSignal ready;
    ASSERT_TRUE(ready.valid());
    const pid_t pid =
        StartChild([&]() { return AttachLoop(name.name(), ready); }, 30);
    ASSERT_GT(pid, 0);
    ready.CloseWrite();
    ASSERT_TRUE(ready.Wait()) << "the child never started attaching";
    ASSERT_OK_AND_ASSIGN(
        ZeroCopyDict dict,
        ZeroCopyDict::Create(name.name(), MakeOptions(kMaxItems, kHeap)));
    const ChildResult r = WaitChild(pid);
    ASSERT_TRUE(r.ok()) << "attacher " << r.Describe()
                        << " (10 attach error, 11 size, 12 foreach, 13 "
                           "lookup hit, 14 geometry, 15 check, 16 never "
                           "appeared)";
    // Only now does the creator write; the dict works for both.
    ASSERT_OK(dict.Put("after", "x"));
    EXPECT_EQ(dict.Size(), 1u);
  }
}

}  // namespace
}  // namespace zcipc
