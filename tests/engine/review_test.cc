// Review regressions: each test reproduces a defect found in review of the
// engine (crash repair, writer lock, allocator statistics) and now passes. They
// use the crash hook of the write protocol (engine/dict/write.cc) and forked
// processes; every dict name contains the pid and is unlinked at the end.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/dict/dict_impl.h"
#include "engine/layout/layout.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

const char* g_target_step = nullptr;

void KillAtTarget(const char* step) {
  if (strcmp(step, g_target_step) == 0) raise(SIGKILL);
}

using ::zcipc_test::ChildResult;
using ::zcipc_test::StartChild;
using ::zcipc_test::UniqueName;
using ::zcipc_test::WaitChild;

// Unlinks the dict when the test ends, whatever happened.
struct NameGuard {
  std::string name;
  ~NameGuard() { ZeroCopyDict::Unlink(name).IgnoreError(); }
};

std::string Key(int i) { return absl::StrCat("key-", i); }
std::string Value(int i) {
  return std::string(100, static_cast<char>('a' + i % 26));
}

// The start of every mapping of the dict's segment (at file offset 0) in
// this process.
std::vector<char*> SegmentMappings(const std::string& name) {
  const std::string path = absl::StrCat("/dev/shm/zcipc.", name);
  std::vector<char*> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() < path.size() ||
        line.compare(line.size() - path.size(), path.size(), path) != 0) {
      continue;
    }
    unsigned long start = 0, end = 0, offset = 0;
    char perms[8] = {0};
    if (sscanf(line.c_str(), "%lx-%lx %7s %lx", &start, &end, perms, &offset) !=
        4) {
      continue;
    }
    if (offset != 0 || end - start < 2 * layout::kPageSize) continue;
    out.push_back(reinterpret_cast<char*>(start));
  }
  return out;
}

// A read-only view of the segment's header, to look at the state a crash
// left behind without taking the lock.
class HeaderPeek {
 public:
  explicit HeaderPeek(const std::string& name) {
    fd_ = open(absl::StrCat("/dev/shm/zcipc.", name).c_str(), O_RDONLY);
    if (fd_ >= 0) {
      void* p = mmap(nullptr, layout::kHeaderRegionSize, PROT_READ, MAP_SHARED,
                     fd_, 0);
      if (p != MAP_FAILED) base_ = static_cast<const char*>(p);
    }
  }
  ~HeaderPeek() {
    if (base_ != nullptr) {
      munmap(const_cast<char*>(base_), layout::kHeaderRegionSize);
    }
    if (fd_ >= 0) close(fd_);
  }
  const layout::Header* operator->() const {
    return reinterpret_cast<const layout::Header*>(base_);
  }
  bool ok() const { return base_ != nullptr; }

 private:
  int fd_ = -1;
  const char* base_ = nullptr;
};

// ---------------------------------------------------------------------------
// Finding 2. Repair of a crashed purge is not idempotent.
//
// A writer dies inside Purge() (intent kPurge). The next lock holder runs
// Repair(): RebuildIndexFromHeap() (which first requires alloc_.Check() to
// pass), then RebuildAllocatorFromSlots() -> Allocator::Rebuild(), which
// starts by zeroing the bitmaps, the free-list heads and the free counters.
// If that repairer is itself killed inside Rebuild(), the intent is still
// kPurge (Repair only clears it at the very end and never records
// Op::kRepair), so every later repair calls RebuildIndexFromHeap() again,
// whose alloc_.Check() now fails on the half-rebuilt free lists: DataLoss on
// every lock acquisition, forever. The dict can never be written again.
//
// The repairer is killed at a real instruction inside Allocator::Rebuild():
// it write-protects the second page of the header (which holds only the tail
// of AllocatorControl::heads), so the first store to it -- the
// memset(ctl_->heads) in Rebuild() -- faults and the process dies.
static_assert(offsetof(layout::Header, allocator) +
                          offsetof(layout::AllocatorControl, heads) <
                      layout::kPageSize &&
                  offsetof(layout::Header, allocator) +
                          sizeof(layout::AllocatorControl) >
                      layout::kPageSize,
              "the heads array must straddle the first two header pages");

TEST(ReviewTest, RepairerKilledDuringPurgeRepairIsRepairedByTheNext) {
  Options o;
  o.max_items = 48;  // 64 slots: the 9th erase triggers a purge
  o.heap_size = 1 << 20;
  NameGuard guard{UniqueName("purge")};
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(guard.name, o);
  ASSERT_TRUE(d.ok()) << d.status();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(d->Put(Key(i), Value(i)).ok());

  // 1. A writer dies in the middle of the purge.
  pid_t writer = StartChild([&] {
    absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(guard.name, o);
    if (!c.ok()) return 2;
    g_target_step = "purge.cleared";
    internal::SetCrashHookForTesting(&KillAtTarget);
    for (int i = 20; i < 40; ++i) (void)c->Erase(Key(i));
    return 3;
  });
  ASSERT_GT(writer, 0);
  ChildResult result = WaitChild(writer);
  ASSERT_TRUE(result.killed_by(SIGKILL)) << "writer " << result.Describe();

  // 2. The process that repairs it dies inside Allocator::Rebuild().
  pid_t repairer = StartChild([&] {
    signal(SIGSEGV, SIG_DFL);  // the expected fault: no backtrace
    absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(guard.name, o);
    if (!c.ok()) return 2;
    std::vector<char*> maps = SegmentMappings(guard.name);
    if (maps.empty()) return 4;
    for (char* base : maps) {
      if (mprotect(base + layout::kPageSize, layout::kPageSize, PROT_READ) !=
          0) {
        return 5;
      }
    }
    (void)c->Check();  // takes the lock: Repair() runs first
    return 3;
  });
  ASSERT_GT(repairer, 0);
  result = WaitChild(repairer);
  ASSERT_TRUE(result.killed_by(SIGSEGV)) << "repairer " << result.Describe();
  {
    HeaderPeek h(guard.name);
    ASSERT_TRUE(h.ok());
    // The repairer got past RebuildIndexFromHeap (the table is closed) and
    // died in the allocator rebuild; the intent says the op-specific step is
    // done (kRepair), so the next repair does not redo it.
    EXPECT_EQ(h->intent.op.load(), static_cast<uint64_t>(layout::Op::kRepair));
    EXPECT_EQ(h->table_seq.load() % 2, 0u);
  }

  // 3. A dead repairer must itself be repaired by the next lock holder
  // (repair.cc: "Every step is idempotent").
  absl::Status check = d->Check();
  EXPECT_TRUE(check.ok()) << check;
  absl::Status put = d->Put("after", "x");
  EXPECT_TRUE(put.ok()) << put;
  // The live entries are all still there (readers do not need the lock).
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::string> v = d->Get(Key(i));
    EXPECT_TRUE(v.ok() && *v == Value(i)) << Key(i) << ": " << v.status();
  }
}

// ---------------------------------------------------------------------------
// Finding 1. A dead writer's flock is pinned by any fork()ed child.
//
// The writer lock is flock() on the open file description (OFD) that the
// handle also mmap()s. flock locks are released when the last reference to
// the OFD goes away, and both the descriptor and the mapping (vma->vm_file)
// of a handle are inherited by fork(). ReopenIfInherited() only runs when the
// child itself locks, and even then the child's inherited *mapping* still
// references the parent's OFD. So when a process that has a forked child
// (a worker pool, a prefork server, a helper) is killed while holding the
// writer lock, the kernel does not release the lock: every other writer gets
// DeadlineExceeded, and every lock-free reader that meets the dead writer's
// odd sequence spins forever (its TryLock never succeeds), until the
// unrelated child exits.
// helper_locks_first: the helper child first takes and releases the lock
// through its inherited handle, so ReopenIfInherited() has replaced its
// inherited descriptor -- it then holds the parent's open file description
// only through its inherited mapping, which is enough to pin the flock.
void RunDeadWriterWithForkedHelper(bool helper_locks_first) {
  Options o;
  o.heap_size = 1 << 20;
  o.lock_timeout = absl::Seconds(1);
  NameGuard guard{UniqueName("fork")};
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(guard.name, o);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("k", std::string(200, 'o')).ok());

  int release[2], alive[2];
  ASSERT_EQ(pipe(release), 0);
  ASSERT_EQ(pipe(alive), 0);
  pid_t writer = StartChild([&] {
    absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(guard.name, o);
    if (!c.ok()) return 2;
    int ready[2];
    if (pipe(ready) != 0) return 4;
    pid_t helper = StartChild(
        [&] {
          close(release[1]);
          close(ready[0]);
          if (helper_locks_first && !c->Check().ok()) return 5;
          close(ready[1]);  // "ready"
          char b;
          while (read(release[0], &b, 1) < 0 && errno == EINTR) {
          }
          return 0;  // exiting closes alive[1]: the test sees EOF
        },
        /*alarm_seconds=*/60);
    if (helper < 0) return 4;
    close(ready[1]);
    char b;
    while (read(ready[0], &b, 1) < 0 && errno == EINTR) {
    }
    // The writer dies holding the lock, with the slot's sequence odd.
    g_target_step = "update.copied";
    internal::SetCrashHookForTesting(&KillAtTarget);
    (void)c->Put("k", std::string(150, 'n'));
    return 3;
  });
  ASSERT_GT(writer, 0);
  close(release[0]);
  close(alive[1]);
  ChildResult result = WaitChild(writer);
  ASSERT_TRUE(result.killed_by(SIGKILL)) << "writer " << result.Describe();

  // The writer is dead; the next lock holder should repair and proceed.
  absl::Time start = absl::Now();
  absl::Status put = d->Put("other", "x");
  EXPECT_TRUE(put.ok()) << put << " after " << (absl::Now() - start);

  // A lock-free reader meeting the dead writer's odd slot must not hang.
  pid_t reader = StartChild(
      [&] {
        absl::StatusOr<std::string> v = d->Get("k");
        return v.ok() && *v == std::string(150, 'n') ? 0 : 1;
      },
      /*alarm_seconds=*/5);
  ASSERT_GT(reader, 0);
  result = WaitChild(reader);
  EXPECT_TRUE(result.ok()) << "reader " << result.Describe()
                           << " (SIGALRM = hung for 5 s)";

  // The cause: once the helper exits, the last reference to the dead
  // writer's open file description goes and the kernel drops its flock.
  close(release[1]);
  char b;
  while (read(alive[0], &b, 1) != 0 && errno == EINTR) {
  }
  close(alive[0]);
  absl::Status after = d->Put("after-helper", "y");
  EXPECT_TRUE(after.ok()) << after;
  absl::StatusOr<std::string> v = d->Get("k");
  EXPECT_TRUE(v.ok() && *v == std::string(150, 'n')) << v.status();
  EXPECT_TRUE(d->Check().ok());
}

TEST(ReviewTest, ForkedChildOfDeadWriterDoesNotPinTheWriterLock) {
  RunDeadWriterWithForkedHelper(/*helper_locks_first=*/false);
}

TEST(ReviewTest, ForkedChildsMappingDoesNotPinDeadWritersLock) {
  RunDeadWriterWithForkedHelper(/*helper_locks_first=*/true);
}

// ---------------------------------------------------------------------------
// Finding 4. UpdateInPlace() calls memcpy(journal_, value.data(), 0) with a
// null source when the new value is an empty default-constructed view
// (absl::string_view() has data() == nullptr). memcpy's arguments are
// declared nonnull: undefined behaviour, and under the project's own
// `--config=asan` (-fsanitize=undefined -fno-sanitize-recover=all) the
// process aborts with "null pointer passed as argument 2". Passes in the
// default build; fails with `bazel test --config=asan
// //tests/engine:review_test`.
TEST(ReviewTest, InPlaceUpdateToEmptyDefaultView) {
  NameGuard guard{UniqueName("empty")};
  Options o;
  o.heap_size = 1 << 20;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(guard.name, o);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("k", "abc").ok());
  ASSERT_TRUE(d->Put("k", absl::string_view()).ok());  // in place: fits
  absl::StatusOr<std::string> v = d->Get("k");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "");
  EXPECT_TRUE(d->Check().ok());
}

// ---------------------------------------------------------------------------
// Finding 3. Allocator::Stats() (GetAllocatorStats) bounds its free-list walk
// by the *shared, untrusted* counter free_blocks + 1 ("Bounded walk: a
// corrupt list cannot make it loop"). A segment whose free_blocks counter is
// garbage and whose free list has a cycle makes GetAllocatorStats spin
// (practically) forever while holding the writer lock, so every writer then
// times out too. Allocator::Check() does it right: it bounds the walk by the
// count it computed itself from the tile walk. Fix: bound by
// (hi_ - lo_) / kMinBlock, or by a locally counted tile walk.
TEST(ReviewTest, CorruptFreeListCycleDoesNotHangGetAllocatorStats) {
  NameGuard guard{UniqueName("stats")};
  Options o;
  o.max_items = 100;
  o.heap_size = 1 << 20;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(guard.name, o);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("k", "v").ok());

  // Corrupt the segment as another process (or a bad disk image) could:
  // the one free block links to itself, and free_blocks is garbage.
  int fd = open(absl::StrCat("/dev/shm/zcipc.", guard.name).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const uint64_t size = d->GetStats().segment_size;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  char* base = static_cast<char*>(p);
  auto* h = reinterpret_cast<layout::Header*>(base);
  uint64_t free_block = 0;
  for (int fl = 0; fl < layout::kFLCount && free_block == 0; ++fl) {
    for (int sl = 0; sl < layout::kSLCount && free_block == 0; ++sl) {
      free_block = h->allocator.heads[fl][sl];
    }
  }
  ASSERT_NE(free_block, 0u);
  *reinterpret_cast<uint64_t*>(base + free_block + 8) = free_block;  // next
  h->allocator.free_blocks.store(uint64_t{1} << 62);
  munmap(p, size);
  close(fd);

  pid_t child = StartChild(
      [&] {
        AllocatorStats st = d->GetAllocatorStats();
        return st.exact ? 0 : 1;
      },
      /*alarm_seconds=*/5);
  ASSERT_GT(child, 0);
  ChildResult result = WaitChild(child);
  EXPECT_TRUE(result.exited)
      << "GetAllocatorStats " << result.Describe()
      << " (SIGALRM = still walking the free list after 5 s)";
  // Check() reports the corruption instead of looping.
  absl::Status check = d->Check();
  EXPECT_TRUE(absl::IsDataLoss(check)) << check;
}

}  // namespace
}  // namespace zcipc
