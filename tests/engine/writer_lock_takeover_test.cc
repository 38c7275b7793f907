// The writer lock's liveness rule (docs/DESIGN.md, "The writer lock"): the
// lock word names the owner's registration, and the kernel's OFD byte lock
// on that registration says whether the owner lives. So a dead owner is
// always taken over, whatever pids say, and a live one (even stopped) never.

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/dict/dict_impl.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/inspect.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ChildResult;
using ::zcipc_test::PipeSignal;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

Options Small(absl::Duration timeout = absl::Seconds(5)) {
  Options o;
  o.max_items = 64;
  o.heap_size = 1 << 16;
  o.lock_timeout = timeout;
  return o;
}

// A Put that must get the lock soon after its holder died.
void ExpectPutSoon(ZeroCopyDict& d, absl::string_view key) {
  absl::Time start = absl::Now();
  absl::Status s = d.Put(key, "after");
  EXPECT_TRUE(s.ok()) << s;
  // Generous: the rule is "within one check period (5 ms) of waiting".
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(d.Check().ok());
}

TEST(WriterLockTakeoverTest, ForkedChildDoesNotKeepADeadParentAlive) {
  ScopedName name("fork");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok()) << d.status();
  PipeSignal ready;
  zcipc_test::SharedArray<pid_t> grandchild(1);
  // The holder takes the lock, then forks a child that inherits the
  // handle (and its registration's descriptor) and lives on; then the
  // holder dies with the lock held.
  pid_t holder = StartChild([&]() {
    absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
    if (!h.ok()) return 2;
    absl::Status s = h->Write([&](Batch& b) {
      absl::Status put = b.Put("k", "held");
      pid_t g = fork();
      if (g == 0) {
        // Keeps the inherited handle open until killed.
        for (;;) pause();
      }
      grandchild.get()[0] = g;
      ready.Fire();
      for (;;) pause();  // killed while holding the lock
      return put;
    });
    return s.ok() ? 0 : 3;
  });
  ASSERT_TRUE(ready.Wait());
  kill(holder, SIGKILL);
  WaitChild(holder);
  ExpectPutSoon(*d, "k");
  kill(grandchild.get()[0], SIGKILL);
}

TEST(WriterLockTakeoverTest, StoppedHolderIsNeverRobbed) {
  ScopedName name("stopped");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), Small(absl::Milliseconds(300)));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("k", "before").ok());
  zcipc_test::LockHolderProcess holder(name.name());
  ASSERT_TRUE(holder.held());
  kill(holder.pid(), SIGSTOP);
  // Two seconds of writers timing out: none takes the lock over.
  absl::Time until = absl::Now() + absl::Seconds(2);
  int timeouts = 0;
  while (absl::Now() < until) {
    absl::Status s = d->Put("k", "robbed");
    ASSERT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_EQ(GetErrorKind(s), ErrorKind::kLockTimeout);
    EXPECT_EQ(GetLockHolderPid(s), holder.pid());
    ++timeouts;
  }
  EXPECT_GE(timeouts, 3);
  kill(holder.pid(), SIGCONT);
  EXPECT_TRUE(holder.Release().ok());
  std::string v;
  ASSERT_TRUE(d->Get("k", &v).ok());
  EXPECT_EQ(v, "before");
  EXPECT_EQ(d->GetStats().repairs_total, 0u);
  ExpectPutSoon(*d, "k");
}

// A holder in another PID namespace (pid 1 there, as the namespace's init)
// records a pid that means a live, unrelated process here. Liveness never
// looks at pids, so its death is still seen.
TEST(WriterLockTakeoverTest, HolderInAnotherPidNamespaceIsSeenToDie) {
  if (geteuid() != 0) GTEST_SKIP() << "unshare(CLONE_NEWPID) needs root";
  ScopedName name("pidns");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok()) << d.status();
  PipeSignal ready;
  // [0]: the holder's pid in its namespace; [1]: the same process's pid here.
  zcipc_test::SharedArray<int64_t> seen_pid(2);
  pid_t outer = StartChild([&]() {
    if (unshare(CLONE_NEWPID) != 0) return 10;
    pid_t inner = fork();  // pid 1 of the new namespace
    if (inner == 0) {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) _exit(2);
      absl::Status s = h->Write([&](Batch&) {
        seen_pid.get()[0] = getpid();
        ready.Fire();
        for (;;) pause();
        return absl::OkStatus();
      });
      _exit(s.ok() ? 0 : 3);
    }
    seen_pid.get()[1] = inner;
    int status = 0;
    waitpid(inner, &status, 0);
    return 0;
  });
  ASSERT_TRUE(ready.Wait()) << "the holder in the new namespace never locked";
  EXPECT_EQ(seen_pid.get()[0], 1);
  // The pid it recorded is 1 (init here: alive).
  EXPECT_EQ(d->GetStats().writer_pid, 1);
  // Kill the holder (its pid here is not 1; the recorded pid 1 stays a live
  // process here).
  while (seen_pid.get()[1] == 0) absl::SleepFor(absl::Milliseconds(1));
  kill(static_cast<pid_t>(seen_pid.get()[1]), SIGKILL);
  WaitChild(outer);
  ExpectPutSoon(*d, "k");
}

TEST(WriterLockTakeoverTest, InspectTellsALiveHolderFromADeadOne) {
  ScopedName name("inspect");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok()) << d.status();
  zcipc_test::LockHolderProcess holder(name.name());
  ASSERT_TRUE(holder.held());
  absl::StatusOr<Inspection> in = Inspect(*d);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_TRUE(in->lock_held);
  EXPECT_EQ(in->lock_holder_pid, holder.pid());
  EXPECT_FALSE(in->lock_abandoned);
  const pid_t pid = holder.pid();
  holder.Kill();
  in = Inspect(*d);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_FALSE(in->lock_held);
  EXPECT_TRUE(in->lock_abandoned);
  EXPECT_EQ(in->dead_holder_pid, pid);
  ExpectPutSoon(*d, "k");  // takes it over
  in = Inspect(*d);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_FALSE(in->lock_held);
  EXPECT_FALSE(in->lock_abandoned);
}

const char* g_kill_at = nullptr;
void KillAt(const char* step) {
  if (std::strcmp(step, g_kill_at) == 0) raise(SIGKILL);
}

// A writer killed at each step of registering, acquiring, taking over and
// releasing the lock leaves a dict the next writer gets into at once.
TEST(WriterLockTakeoverTest, KilledAtEveryStepOfTheLock) {
  for (const char* step :
       {"lock.registering", "lock.registered", "lock.acquired",
        "lock.releasing", "lock.took_over"}) {
    SCOPED_TRACE(step);
    ScopedName name("steps");
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_TRUE(d->Put("k", "v0").ok());
    if (std::strcmp(step, "lock.took_over") == 0) {
      // A dead holder to take over from.
      zcipc_test::LockHolderProcess dead(name.name());
      ASSERT_TRUE(dead.held());
      dead.Kill();
    }
    pid_t victim = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) return 2;
      g_kill_at = step;
      internal::SetCrashHookForTesting(&KillAt);
      absl::Status s = h->Put("k", "v1");
      return s.ok() ? 4 : 3;  // never reached: killed at the step
    });
    ChildResult r = WaitChild(victim);
    EXPECT_EQ(r.signal, SIGKILL) << r.Describe();
    ExpectPutSoon(*d, "k");
    std::string v;
    ASSERT_TRUE(d->Get("k", &v).ok());
    EXPECT_EQ(v, "after");
  }
}

}  // namespace
}  // namespace zcipc
