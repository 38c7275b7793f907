// The writer lock across processes: timeouts, a dead holder, wake-ups.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::StartChild;
using ::zcipc_test::UniqueName;
using ::zcipc_test::WaitChild;

TEST(WriterLockTest, TimesOutWithDeadlineExceededNamingTheDict) {
  std::string name = UniqueName("timeout");
  Options o;
  o.heap_size = 1 << 20;
  o.lock_timeout = absl::Milliseconds(150);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->Put("a", "1").ok());
  zcipc_test::LockHolderProcess holder(name);
  ASSERT_TRUE(holder.held());

  absl::Time start = absl::Now();
  absl::Status s = d->Put("b", "2");
  absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), name)) << s;
  EXPECT_GE(took, absl::Milliseconds(140));
  EXPECT_LT(took, absl::Seconds(2));
  // Reads never take the lock: they answer while it is held.
  absl::StatusOr<std::string> v = d->Get("a");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "1");
  EXPECT_TRUE(absl::IsNotFound(d->Get("b").status()));

  // The holder dies without unlocking or waking anyone: the next writer
  // gets the lock within the bounded sleep.
  holder.Kill();
  start = absl::Now();
  EXPECT_TRUE(d->Put("b", "2").ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(150));
  EXPECT_TRUE(d->Check().ok());
  ASSERT_TRUE(ZeroCopyDict::Unlink(name).ok());
}

TEST(WriterLockTest, WaitingWriterIsWokenWhenTheHolderReleases) {
  // Two processes alternate many writes on one key: if a waiter slept in
  // fixed steps, 2000 contended writes would take seconds.
  std::string name = UniqueName("wake");
  Options o;
  o.heap_size = 1 << 20;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->Put("n", "0").ok());
  pid_t pid = StartChild([&] {
    absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(name);
    if (!c.ok()) return 2;
    for (int i = 0; i < 2000; ++i) {
      if (!c->Put(absl::StrCat("c", i % 50), "x").ok()) return 3;
    }
    return 0;
  });
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(d->Put(absl::StrCat("p", i % 50), "y").ok());
  }
  zcipc_test::ChildResult child = WaitChild(pid);
  ASSERT_TRUE(child.ok()) << child.Describe();
  EXPECT_EQ(d->Size(), 101u);
  EXPECT_TRUE(d->Check().ok());
  ASSERT_TRUE(ZeroCopyDict::Unlink(name).ok());
}

}  // namespace
}  // namespace zcipc
