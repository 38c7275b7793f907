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

// A child that holds the writer lock. The public API has no "hold the lock"
// call, so the child takes the segment's flock directly, as a writer does.
pid_t HoldLockInChild(const std::string& name, int ready_fd) {
  return StartChild([&] {
    int fd = open(absl::StrCat("/dev/shm/zcipc.", name).c_str(), O_RDWR);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) return 2;
    char c = 1;
    if (write(ready_fd, &c, 1) != 1) return 2;
    pause();  // until killed
    return 0;
  });
}

TEST(WriterLockTest, TimesOutWithDeadlineExceededNamingTheDict) {
  std::string name = UniqueName("timeout");
  Options o;
  o.heap_size = 1 << 20;
  o.lock_timeout = absl::Milliseconds(150);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->Put("a", "1").ok());
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t holder = HoldLockInChild(name, p[1]);
  ASSERT_GT(holder, 0);
  char c;
  ASSERT_EQ(read(p[0], &c, 1), 1);

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
  kill(holder, SIGKILL);
  EXPECT_TRUE(WaitChild(holder).killed_by(SIGKILL));
  start = absl::Now();
  EXPECT_TRUE(d->Put("b", "2").ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(150));
  EXPECT_TRUE(d->Check().ok());
  close(p[0]);
  close(p[1]);
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
