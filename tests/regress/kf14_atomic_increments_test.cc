// docs/KNOWN-FAILURES.md, item 14 (the original Python package): No atomic
// read-modify-write.
//
// 8 processes x 1000 Add(+1) of one counter end at exactly 8000, and the
// values Add returned are exactly 1..8000, each once (every increment saw
// the one before it). The same holds for increments built from
// CompareAndSwap retry loops and from Update.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::SharedArray;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::ToString;
using ::zcipc_test::WaitChild;

constexpr int kProcesses = 8;
constexpr int kAdds = 1000;
constexpr int kCasIncrements = 200;
constexpr int kUpdateIncrements = 200;
constexpr int kTotal = kProcesses * kAdds;

int64_t Decode(absl::string_view v) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(v[i]);
  return static_cast<int64_t>(n);
}

int Worker(ZeroCopyDict& dict, std::atomic<uint32_t>* seen) {
  for (int i = 0; i < kAdds; ++i) {
    absl::StatusOr<int64_t> v = dict.Add("hits", 1);
    if (!v.ok()) return ChildFailure(10, "Add", v.status());
    if (*v < 1 || *v > kTotal) return 11;
    seen[*v].fetch_add(1);
  }
  // Increment "cas" as text with a CompareAndSwap retry loop.
  for (int i = 0; i < kCasIncrements; ++i) {
    for (;;) {
      absl::StatusOr<std::string> cur = dict.Get("cas");
      if (!cur.ok()) return ChildFailure(12, "Get", cur.status());
      int64_t n = 0;
      if (!absl::SimpleAtoi(*cur, &n)) return 13;
      absl::StatusOr<bool> swapped = dict.CompareAndSwap(
          "cas", absl::string_view(*cur), absl::StrCat(n + 1));
      if (!swapped.ok()) return ChildFailure(14, "CAS", swapped.status());
      if (*swapped) break;
    }
  }
  for (int i = 0; i < kUpdateIncrements; ++i) {
    absl::Status s = dict.Update(
        "upd", [](std::optional<absl::string_view> old, std::string* out) {
          int64_t n = 0;
          if (old.has_value() && !absl::SimpleAtoi(*old, &n)) {
            return absl::DataLossError("not a number");
          }
          *out = absl::StrCat(n + 1);
          return absl::OkStatus();
        });
    if (!s.ok()) return ChildFailure(15, "Update", s);
  }
  return 0;
}

TEST(Kf14AtomicIncrementsTest, EightProcessesTimesAThousandAdds) {
  ScopedName name("kf14");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK(dict.Put("cas", "0"));
  SharedArray<std::atomic<uint32_t>> seen(kTotal + 1);
  ASSERT_TRUE(seen.valid());
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(StartChild(
        [&]() {
          absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
          if (!d.ok()) return ChildFailure(9, "Attach", d.status());
          return Worker(*d, seen.get());
        },
        60));
    ASSERT_GT(pids.back(), 0);
  }
  for (pid_t pid : pids) {
    const ChildResult r = WaitChild(pid);
    EXPECT_TRUE(r.ok()) << "child " << r.Describe()
                        << " (9 attach, 10 add, 11 add result out of range, "
                           "12-14 cas, 15 update)";
  }
  std::string hits;
  ASSERT_OK(dict.Get("hits", &hits));
  ASSERT_EQ(hits.size(), 8u);
  EXPECT_EQ(Decode(hits), kTotal);
  int missing = 0, repeated = 0;
  for (int v = 1; v <= kTotal; ++v) {
    const uint32_t n = seen[v].load();
    if (n == 0) ++missing;
    if (n > 1) ++repeated;
  }
  EXPECT_EQ(missing, 0) << "values Add never returned";
  EXPECT_EQ(repeated, 0) << "values Add returned more than once";
  ASSERT_OK_AND_ASSIGN(std::string cas, dict.Get("cas"));
  EXPECT_EQ(cas, absl::StrCat(kProcesses * kCasIncrements));
  ASSERT_OK_AND_ASSIGN(std::string upd, dict.Get("upd"));
  EXPECT_EQ(upd, absl::StrCat(kProcesses * kUpdateIncrements));
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
