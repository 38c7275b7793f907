// docs/KNOWN-FAILURES.md, item 15 (the original Python package): Creating an
// existing name wipes it.
//
// While a parent process uses a dict, other processes call Create on its
// name with the same, smaller and larger options, and OpenOrCreate with other
// options. Each Create is AlreadyExists; nothing is wiped or resized: the
// file keeps its inode and size, every entry keeps its value, the parent's
// handle keeps working (a shrunk file would SIGBUS it), and the parent sees
// the other processes' later writes.

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::MatchesModelAndDisjoint;
using ::zcipc_regress::PatternBytes;
using ::zcipc_regress::StatSegment;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

TEST(Kf15CreateExistingTest, CreateFromOtherProcessesNeverWipesOrResizes) {
  ScopedName name("kf15");
  const Options original = MakeOptions(1000, 2 << 20);
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name.name(), original));
  std::map<std::string, std::string> model;
  for (int i = 0; i < 200; ++i) {
    const std::string key = absl::StrCat("k", i);
    model[key] = PatternBytes(100 + i * 37 % 5000, i);
    ASSERT_OK(dict.Put(key, model[key]));
  }
  struct stat before;
  ASSERT_TRUE(StatSegment(name.name(), &before));
  const Stats stats_before = dict.GetStats();
  ASSERT_OK_AND_ASSIGN(Inspection in_before, Inspect(dict));

  const std::vector<Options> attempts = {
      original, MakeOptions(1, 4096), MakeOptions(10, 64 << 10),
      MakeOptions(100000, 64 << 20)};
  for (size_t a = 0; a < attempts.size(); ++a) {
    SCOPED_TRACE(absl::StrCat("attempt ", a));
    const Options options = attempts[a];
    const pid_t pid = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> d =
          ZeroCopyDict::Create(name.name(), options);
      if (d.ok()) return 10;
      if (!absl::IsAlreadyExists(d.status())) {
        return ChildFailure(11, "Create", d.status());
      }
      // OpenOrCreate with other options attaches to the existing dict.
      d = ZeroCopyDict::OpenOrCreate(name.name(), options);
      if (!d.ok()) return ChildFailure(12, "OpenOrCreate", d.status());
      if (d->GetStats().max_items != 1000) return 13;
      if (d->Size() != 200 + a) return 14;
      absl::Status s = d->Put(absl::StrCat("from-child-", a), "c");
      if (!s.ok()) return ChildFailure(15, "Put", s);
      return 0;
    });
    ASSERT_GT(pid, 0);
    // The parent keeps using its handle meanwhile.
    for (int i = 0; i < 50; ++i) {
      const std::string key = absl::StrCat("k", i);
      ASSERT_OK_AND_ASSIGN(std::string v, dict.Get(key));
      ASSERT_TRUE(v == model[key]);
    }
    const ChildResult r = WaitChild(pid);
    ASSERT_TRUE(r.ok()) << "child " << r.Describe()
                        << " (10 Create succeeded over an existing dict, 11 "
                           "wrong error, 12 OpenOrCreate, 13 geometry, 14 "
                           "size, 15 put)";
    model[absl::StrCat("from-child-", a)] = "c";
  }

  struct stat after;
  ASSERT_TRUE(StatSegment(name.name(), &after));
  EXPECT_EQ(after.st_ino, before.st_ino) << "the file was replaced";
  EXPECT_EQ(after.st_size, before.st_size) << "the file was resized";
  const Stats stats_after = dict.GetStats();
  EXPECT_EQ(stats_after.segment_size, stats_before.segment_size);
  EXPECT_EQ(stats_after.max_items, stats_before.max_items);
  EXPECT_EQ(stats_after.heap_size, stats_before.heap_size);
  // A wipe re-initialises the header, with a new creation time.
  ASSERT_OK_AND_ASSIGN(Inspection in_after, Inspect(dict));
  EXPECT_EQ(in_after.created_unix_nanos, in_before.created_unix_nanos);
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  // The parent's handle still writes (its mapping still covers the file).
  ASSERT_OK(dict.Put("k0", PatternBytes(3000, 7)));
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
