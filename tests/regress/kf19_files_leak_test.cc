// docs/KNOWN-FAILURES.md, item 19 (the original Python package): Files are left
// behind by a process that dies without closing.
//
// zcipc's answer is a design decision (README "Lifetime", DESIGN.md): a dict
// is like a file. It lives until Unlink() removes its name, not until its
// last handle closes; a process that dies leaves it in place on purpose, so
// that the others keep using it. What must not leak is anything else: a dict
// is exactly one file (/dev/shm/zcipc.<name>, no lock or side files), Unlink
// removes it, and a handle gives back its descriptors and mappings when
// destroyed. These tests pin that down:
//   - a creator killed (SIGKILL, no destructors), even in the middle of a
//     locked batch, leaves a dict the others can attach, read and write
//     at once; Unlink then removes the one file and the name is gone;
//   - attaching and destroying handles many times leaves no descriptor and
//     no mapping behind in the process.

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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
using ::zcipc_test::HasCode;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

// Entries of /dev/shm whose name contains `name`.
std::set<std::string> ShmEntriesWith(const std::string& name) {
  std::set<std::string> out;
  DIR* d = opendir("/dev/shm");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    if (absl::StrContains(e->d_name, name)) out.insert(e->d_name);
  }
  closedir(d);
  return out;
}

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the DIR's own descriptor
}

// Lines of /proc/self/maps that map the dict's file.
int CountMappings(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  const std::string needle = absl::StrCat("zcipc.", name);
  while (std::getline(maps, line)) {
    if (absl::StrContains(line, needle)) ++n;
  }
  return n;
}

struct Progress {
  std::atomic<int> stage{0};  // 1: data written; 2: inside a locked batch
};

TEST(Kf19FilesLeakTest, DictOutlivesAKilledCreatorAndUnlinkRemovesIt) {
  ScopedName name("kf19a");
  SharedArray<Progress> progress(1);
  ASSERT_TRUE(progress.valid());
  const pid_t pid = StartChild([&]() {
    absl::StatusOr<ZeroCopyDict> d =
        ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20));
    if (!d.ok()) return ChildFailure(10, "Create", d.status());
    for (int i = 0; i < 10; ++i) {
      absl::Status s = d->Put(absl::StrCat("k", i), absl::StrCat("v", i));
      if (!s.ok()) return ChildFailure(11, "Put", s);
    }
    progress->stage.store(1);
    // Die holding the writer lock: inside a batch, after one more write.
    absl::Status s = d->Write([&](Batch& batch) {
      absl::Status st = batch.Put("in-batch", "done");
      progress->stage.store(2);
      pause();  // SIGKILLed here
      return st;
    });
    return ChildFailure(12, "Write returned", s);
  });
  ASSERT_GT(pid, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (progress->stage.load() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(progress->stage.load(), 2);
  kill(pid, SIGKILL);
  const ChildResult r = WaitChild(pid);
  ASSERT_EQ(r.signal, SIGKILL) << r.Describe();

  // The dict is still there, as one file, and usable at once.
  EXPECT_EQ(ShmEntriesWith(name.name()),
            std::set<std::string>{"zcipc." + name.name()});
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict, ZeroCopyDict::Attach(name.name()));
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string v, dict.Get(absl::StrCat("k", i)));
    EXPECT_EQ(v, absl::StrCat("v", i));
  }
  // The batch's operation returned OK before the kill: it is kept.
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get("in-batch"));
  EXPECT_EQ(v, "done");
  const absl::Time start = absl::Now();
  ASSERT_OK(dict.Put("after", "x"));  // the dead holder's lock is free
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_OK(dict.Check());
  EXPECT_EQ(dict.Size(), 12u);

  // Another process sees the same, and its handle going away leaves the
  // dict in place too.
  const pid_t other = StartChild([&]() {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
    if (!d.ok()) return ChildFailure(20, "Attach", d.status());
    if (d->Size() != 12) return 21;
    absl::Status s = d->Put("other", "y");
    if (!s.ok()) return ChildFailure(22, "Put", s);
    return 0;  // _exit without destructors
  });
  ASSERT_GT(other, 0);
  const ChildResult o = WaitChild(other);
  EXPECT_TRUE(o.ok()) << o.Describe() << " (20 attach, 21 size, 22 put)";
  EXPECT_EQ(dict.Size(), 13u);

  // Unlink removes the one file; the name is gone for new attachers; the
  // open handle keeps working until destroyed.
  ASSERT_OK(ZeroCopyDict::Unlink(name.name()));
  EXPECT_TRUE(ShmEntriesWith(name.name()).empty());
  struct stat st;
  EXPECT_NE(stat(SegmentPath(name.name()).c_str(), &st), 0);
  EXPECT_TRUE(HasCode(ZeroCopyDict::Attach(name.name()),
                      absl::StatusCode::kNotFound));
  EXPECT_TRUE(HasCode(ZeroCopyDict::Unlink(name.name()),
                      absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(v, dict.Get("other"));
  EXPECT_EQ(v, "y");
}

TEST(Kf19FilesLeakTest, DestroyedHandlesLeaveNoDescriptorsOrMappings) {
  ScopedName name("kf19b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict owner,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK(owner.Put("k", "v"));
  const int fds_before = CountOpenFds();
  const int maps_before = CountMappings(name.name());
  ASSERT_GT(fds_before, 0);
  ASSERT_GT(maps_before, 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict d, ZeroCopyDict::Attach(name.name()));
    ASSERT_OK(d.Put("k", absl::StrCat(i)));  // opens the lock descriptor
    if (i == 0) {
      EXPECT_GT(CountOpenFds(), fds_before);
      EXPECT_GT(CountMappings(name.name()), maps_before);
    }
    // Moved-from handles hold nothing either.
    ZeroCopyDict moved = std::move(d);
    ASSERT_OK_AND_ASSIGN(std::string v, moved.Get("k"));
  }
  // Refused attaches leave nothing open either.
  ScopedName missing("kf19-missing");
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(HasCode(ZeroCopyDict::Attach(missing.name()),
                        absl::StatusCode::kNotFound));
    ASSERT_TRUE(HasCode(ZeroCopyDict::Create(name.name()),
                        absl::StatusCode::kAlreadyExists));
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  EXPECT_EQ(CountMappings(name.name()), maps_before);
  EXPECT_TRUE(ShmEntriesWith(missing.name()).empty());
  EXPECT_EQ(ShmEntriesWith(name.name()),
            std::set<std::string>{"zcipc." + name.name()});
}

}  // namespace
}  // namespace zcipc
