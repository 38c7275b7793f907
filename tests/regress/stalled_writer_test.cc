// A live writer that makes no progress (stopped with SIGSTOP mid-write, as
// under a debugger or in a frozen container) holds the writer lock and leaves
// one slot's sequence odd. Lock-free reads of that key must not wait forever:
// after Options::lock_timeout they answer DeadlineExceeded (kReadTimeout)
// naming the dict and the writer's pid; writers answer DeadlineExceeded
// (kLockTimeout) with the pid. A live writer is never "repaired" under its
// feet; once it is killed, the next reader repairs the entry as before.
// Long waits run inside the thread's wait hooks (zcipc/wait_hooks.h).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/dict/dict_impl.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/status.h"
#include "zcipc/wait_hooks.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ScopedName;

const std::string kOld(64, 'o');
const std::string kNew(64, 'n');

void StopHere(const char* step) {
  if (std::strcmp(step, "update.copied") == 0) raise(SIGSTOP);
}

// Forks a writer that stops itself halfway through overwriting "k" in place.
// Returns its pid once it is stopped.
pid_t StartStoppedWriter(const std::string& name) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(60);
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
    if (!d.ok()) _exit(3);
    internal::SetCrashHookForTesting(&StopHere);
    _exit(d->Put("k", kNew).ok() ? 0 : 4);
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, WUNTRACED);
  } while (r < 0 && errno == EINTR);
  EXPECT_EQ(r, pid);
  EXPECT_TRUE(WIFSTOPPED(status)) << "writer did not stop";
  return pid;
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

Options Short() {
  Options o;
  o.max_items = 64;
  o.heap_size = 1 << 16;
  o.lock_timeout = absl::Milliseconds(300);
  return o;
}

class StalledWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ZeroCopyDict> d =
        ZeroCopyDict::Create(name_.name(), Short());
    ASSERT_TRUE(d.ok()) << d.status();
    dict_.emplace(*std::move(d));
    ASSERT_TRUE(dict_->Put("k", kOld).ok());
    ASSERT_TRUE(dict_->Put("other", "v").ok());
    writer_ = StartStoppedWriter(name_.name());
  }
  void TearDown() override {
    if (writer_ > 0) KillAndReap(writer_);
  }

  void ExpectReadTimeout(const absl::Status& s, absl::string_view op) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_EQ(GetErrorKind(s), ErrorKind::kReadTimeout) << s;
    EXPECT_EQ(GetLockHolderPid(s), writer_) << s;
    EXPECT_TRUE(absl::StartsWith(
        s.message(), absl::StrCat("dict '", name_.name(), "': ", op, ": ")))
        << s;
    EXPECT_TRUE(absl::StrContains(s.message(), absl::StrCat("pid ", writer_)))
        << s;
  }

  ScopedName name_{"stall"};
  std::optional<ZeroCopyDict> dict_;
  pid_t writer_ = -1;
};

TEST_F(StalledWriterTest, ReadsOfTheHalfWrittenKeyTimeOutNamingThePid) {
  std::string value;
  ExpectReadTimeout(dict_->Get("k", &value), "Get");
  ExpectReadTimeout(dict_->Contains("k").status(), "Contains");
  ExpectReadTimeout(dict_->Read("k", [](absl::string_view) {}), "Read");
  ExpectReadTimeout(dict_->ForEach([](absl::string_view, absl::string_view) {}),
                    "ForEach");
}

TEST_F(StalledWriterTest, OtherKeysStayReadableAndTheWriterIsNotRobbed) {
  std::string value;
  ASSERT_TRUE(dict_->Get("other", &value).ok());
  EXPECT_EQ(value, "v");
  // A timed-out read must not have repaired (rolled forward or back) the
  // live writer's entry: it is still mid-write.
  EXPECT_FALSE(dict_->Get("k", &value).ok());
  EXPECT_EQ(dict_->GetStats().repairs_total, 0u);
  EXPECT_EQ(dict_->GetStats().writer_pid, writer_);
}

TEST_F(StalledWriterTest, WritersTimeOutWithTheLockHoldersPid) {
  absl::Status s = dict_->Put("x", "y");
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kLockTimeout) << s;
  EXPECT_EQ(GetLockHolderPid(s), writer_) << s;
  EXPECT_TRUE(absl::StartsWith(
      s.message(), absl::StrCat("dict '", name_.name(), "': Put: ")))
      << s;
}

TEST_F(StalledWriterTest, AfterTheWriterIsKilledTheReaderRepairs) {
  KillAndReap(writer_);
  writer_ = -1;
  std::string value;
  ASSERT_TRUE(dict_->Get("k", &value).ok());
  // The value was staged in the journal before the copy began: rolled
  // forward.
  EXPECT_EQ(value, kNew);
  EXPECT_EQ(dict_->GetStats().repairs_total, 1u);
  EXPECT_TRUE(dict_->Check().ok());
}

TEST_F(StalledWriterTest, ContinuedWriterFinishesAndReadsSeeIt) {
  kill(writer_, SIGCONT);
  int status = 0;
  ASSERT_EQ(waitpid(writer_, &status, 0), writer_);
  writer_ = -1;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string value;
  ASSERT_TRUE(dict_->Get("k", &value).ok());
  EXPECT_EQ(value, kNew);
}

struct HookCounts {
  std::atomic<int> begins{0};
  std::atomic<int> ends{0};
  std::atomic<int> depth{0};
  std::atomic<int> max_depth{0};
};

TEST_F(StalledWriterTest, LongWaitsRunInsideTheThreadsWaitHooks) {
  HookCounts counts;
  WaitHooks hooks;
  hooks.arg = &counts;
  hooks.begin = [](void* arg) {
    auto* c = static_cast<HookCounts*>(arg);
    c->begins++;
    int d = ++c->depth;
    if (d > c->max_depth) c->max_depth = d;
  };
  hooks.end = [](void* arg) {
    auto* c = static_cast<HookCounts*>(arg);
    c->ends++;
    c->depth--;
  };
  std::string value;
  {
    ScopedWaitHooks scoped(&hooks);
    EXPECT_TRUE(absl::IsDeadlineExceeded(dict_->Get("k", &value)));
    // Reads that do not wait never call the hooks.
    int begins = counts.begins;
    ASSERT_TRUE(dict_->Get("other", &value).ok());
    EXPECT_EQ(counts.begins, begins);
  }
  EXPECT_GT(counts.begins, 0);
  EXPECT_EQ(counts.begins, counts.ends);
  EXPECT_EQ(counts.depth, 0);
  EXPECT_EQ(counts.max_depth, 1);
  // Uninstalled: another wait does not call them.
  int begins = counts.begins;
  EXPECT_TRUE(absl::IsDeadlineExceeded(dict_->Get("k", &value)));
  EXPECT_EQ(counts.begins, begins);
}

}  // namespace
}  // namespace zcipc
