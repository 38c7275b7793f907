// Online growth (docs/DESIGN.md, "Online growth"): a dict created small
// grows its table and heap while readers in other threads and processes
// keep reading; a writer killed at any step of growth is repaired with no
// acknowledged write lost; Reserve, max_segment_size and auto_grow = false
// behave as documented.

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "gtest/gtest.h"
#include "tests/engine/kill_at.h"
#include "tests/test_util.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SharedArray;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

Options Tiny() {
  Options o;
  o.max_items = 10;
  o.heap_size = 4096;
  o.lock_timeout = absl::Seconds(10);
  o.change_log_bytes = 1 << 22;
  return o;
}

std::string Key(uint64_t i) { return absl::StrCat("key-", i); }
// A value that names its key and version, so a torn or misdirected read
// shows: "<i>:<version>:" then filler up to a length that depends on both.
std::string Value(uint64_t i, uint64_t version) {
  std::string v = absl::StrCat(i, ":", version, ":");
  v.resize(v.size() + (i * 7 + version) % 40, static_cast<char>('a' + i % 26));
  return v;
}
bool ValueOk(uint64_t i, absl::string_view v) {
  const std::string prefix = absl::StrCat(i, ":");
  if (v.substr(0, prefix.size()) != prefix) return false;
  uint64_t version = 0;
  size_t at = prefix.size();
  while (at < v.size() && v[at] != ':') {
    if (v[at] < '0' || v[at] > '9') return false;
    version = version * 10 + (v[at] - '0');
    ++at;
  }
  return v == Value(i, version);
}

TEST(GrowTest, AutoGrowInsertsFarPastTheInitialCapacity) {
  ScopedName name("grow-auto");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
  ASSERT_TRUE(d.ok()) << d.status();
  const Stats before = d->GetStats();
  EXPECT_EQ(before.max_items, 10u);
  EXPECT_EQ(before.grows_total, 0u);
  EXPECT_GE(before.max_segment_size, before.segment_size);
  constexpr uint64_t kKeys = 20000;
  for (uint64_t i = 0; i < kKeys; ++i) {
    absl::Status s = d->Put(Key(i), Value(i, 0));
    ASSERT_TRUE(s.ok()) << i << ": " << s;
  }
  for (uint64_t i = 0; i < kKeys; ++i) {
    absl::StatusOr<std::string> v = d->Get(Key(i));
    ASSERT_TRUE(v.ok()) << i << ": " << v.status();
    ASSERT_EQ(*v, Value(i, 0));
  }
  ASSERT_TRUE(d->Check().ok()) << d->Check();
  const Stats after = d->GetStats();
  EXPECT_EQ(after.size, kKeys);
  EXPECT_GE(after.max_items, kKeys);
  EXPECT_GT(after.slot_count, before.slot_count);
  EXPECT_GT(after.heap_size, before.heap_size);
  EXPECT_GT(after.segment_size, before.segment_size);
  EXPECT_GT(after.grows_total, 10u);
  // The change feed kept every change across growth.
  uint64_t expect = 1;
  absl::StatusOr<uint64_t> last = d->ReadChanges(0, [&](const Change& c) {
    EXPECT_EQ(c.seq, expect);
    EXPECT_EQ(c.key, Key(expect - 1));
    ++expect;
  });
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, kKeys);
  // Erase most, then insert again: purges and tombstones after growth.
  for (uint64_t i = 0; i < kKeys; i += 1) {
    if (i % 10 != 0) {
      ASSERT_TRUE(d->Erase(Key(i)).ok()) << i;
    }
  }
  ASSERT_TRUE(d->Check().ok()) << d->Check();
  for (uint64_t i = 0; i < kKeys; ++i) {
    absl::StatusOr<bool> has = d->Contains(Key(i));
    ASSERT_TRUE(has.ok());
    ASSERT_EQ(*has, i % 10 == 0) << i;
  }
}

TEST(GrowTest, ValuesLargerThanTheHeapGrowIt) {
  ScopedName name("grow-big");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string big(1 << 20, 'B');
  ASSERT_TRUE(d->Put("big", big).ok());
  ASSERT_TRUE(d->Put("small", "s").ok());
  const std::string bigger(3 << 20, 'C');
  ASSERT_TRUE(d->Put("big", bigger).ok());  // a relocation that grows
  EXPECT_EQ(*d->Get("big"), bigger);
  EXPECT_EQ(*d->Get("small"), "s");
  ASSERT_TRUE(d->Check().ok()) << d->Check();
}

TEST(GrowTest, AutoGrowOffAnswersResourceExhausted) {
  ScopedName name("grow-off");
  Options o = Tiny();
  o.auto_grow = false;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok()) << d.status();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(d->Put(Key(i), "v").ok());
  absl::Status s = d->Put(Key(10), "v");
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kTableFull);
  s = d->Put(Key(0), std::string(8192, 'x'));
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kHeapFull);
  EXPECT_EQ(d->GetStats().grows_total, 0u);
  // A handle with auto_grow on grows the same dict.
  Options on = o;
  on.auto_grow = true;
  absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name(), on);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h->Put(Key(10), "v").ok());
  // The first handle now sees the larger table.
  ASSERT_TRUE(d->Put(Key(11), "v").ok());
  EXPECT_EQ(*d->Get(Key(10)), "v");
  ASSERT_TRUE(d->Check().ok()) << d->Check();
}

TEST(GrowTest, ReserveGrowsAndNeverShrinks) {
  ScopedName name("grow-reserve");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
  ASSERT_TRUE(d.ok()) << d.status();
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(d->Put(Key(i), Value(i, 1)).ok());
  ASSERT_TRUE(d->Reserve(100000, 8 << 20).ok());
  Stats st = d->GetStats();
  EXPECT_GE(st.max_items, 100000u);
  EXPECT_GE(st.heap_size, 8u << 20);
  EXPECT_FALSE(st.growing);
  ASSERT_TRUE(d->Reserve(10, 4096).ok());  // smaller: no change
  Stats again = d->GetStats();
  EXPECT_EQ(again.max_items, st.max_items);
  EXPECT_EQ(again.heap_size, st.heap_size);
  EXPECT_EQ(again.grows_total, st.grows_total);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(*d->Get(Key(i)), Value(i, 1));
  // Reserve does not depend on auto_grow.
  Options off = Tiny();
  off.auto_grow = false;
  absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name(), off);
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Reserve(300000, 0).ok());
  EXPECT_GE(d->GetStats().max_items, 300000u);
  EXPECT_TRUE(absl::IsInvalidArgument(h->Reserve(kMaxItems + 1, 0)));
  // A figure the table's slots would hold but the capacity it was created
  // with does not: it grows all the same.
  ScopedName small("grow-reserve-small");
  absl::StatusOr<ZeroCopyDict> e = ZeroCopyDict::Create(small.name(), Tiny());
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->GetStats().max_items, 10u);
  ASSERT_TRUE(e->Reserve(12, 0).ok());
  EXPECT_GE(e->GetStats().max_items, 12u);
  // heap_size is the figure Stats reports.
  const uint64_t heap = e->GetStats().heap_size;
  ASSERT_TRUE(e->Reserve(0, heap).ok());
  EXPECT_EQ(e->GetStats().heap_size, heap);
  ASSERT_TRUE(e->Check().ok()) << e->Check();
  ASSERT_TRUE(d->Check().ok()) << d->Check();
}

TEST(GrowTest, MaxSegmentSizeBoundsGrowth) {
  ScopedName name("grow-bound");
  Options o = Tiny();
  o.change_log_bytes = 1 << 16;
  o.max_segment_size = 4 << 20;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->GetStats().max_segment_size, 4u << 20);
  absl::Status s;
  uint64_t stored = 0;
  for (uint64_t i = 0; i < 1000000; ++i) {
    s = d->Put(Key(i), std::string(200, 'v'));
    if (!s.ok()) break;
    ++stored;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_TRUE(GetErrorKind(s) == ErrorKind::kHeapFull ||
              GetErrorKind(s) == ErrorKind::kTableFull)
      << s;
  EXPECT_NE(s.message().find("max_segment_size"), std::string::npos) << s;
  EXPECT_GT(stored, 1000u);
  const Stats st = d->GetStats();
  EXPECT_LE(st.segment_size, 4u << 20);
  EXPECT_TRUE(absl::IsResourceExhausted(d->Reserve(10000000, 0)));
  ASSERT_TRUE(d->Check().ok()) << d->Check();
  for (uint64_t i = 0; i < stored; ++i) ASSERT_TRUE(*d->Contains(Key(i)));
  Options bad = Tiny();
  bad.max_segment_size = kMaxSegmentSize + 1;
  ScopedName other("grow-bad");
  EXPECT_TRUE(absl::IsInvalidArgument(
      ZeroCopyDict::Create(other.name(), bad).status()));
}

// A process that may not reserve max_segment_size bytes of address space
// is told so (and what to do), not crashed.
TEST(GrowTest, AnAddressSpaceLimitIsAClearError) {
  ScopedName name("grow-rlimit");
  Options o = Tiny();
  o.max_segment_size = uint64_t{8} << 30;
  {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
    ASSERT_TRUE(d.ok()) << d.status();
  }
  pid_t child = StartChild([&]() {
    // This process's address space now, plus 1 GiB: less than the dict
    // reserves.
    uint64_t vm_kib = 0;
    FILE* f = fopen("/proc/self/status", "r");
    if (f == nullptr) return 2;
    char line[256];
    while (fgets(line, sizeof(line), f) != nullptr) {
      if (sscanf(line, "VmSize: %lu kB", &vm_kib) == 1) break;
    }
    fclose(f);
    struct rlimit lim;
    lim.rlim_cur = lim.rlim_max = (vm_kib << 10) + (uint64_t{1} << 30);
    if (setrlimit(RLIMIT_AS, &lim) != 0) return 3;
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
    if (d.ok()) return 4;
    if (!absl::IsResourceExhausted(d.status())) return 5;
    if (d.status().message().find("ulimit -v") == absl::string_view::npos) {
      return 6;
    }
    return 0;
  });
  ChildResult r = WaitChild(child);
  EXPECT_TRUE(r.ok()) << r.Describe();
}

TEST(GrowTest, AnEarlierFormatIsRefusedWithWhatToDo) {
  ScopedName name("grow-format");
  {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
    ASSERT_TRUE(d.ok());
  }
  // Rewrite the version word as format 3 wrote it.
  const std::string path = absl::StrCat("/dev/shm/zcipc.", name.name());
  FILE* f = fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  const uint32_t v3 = 3;
  ASSERT_EQ(fseek(f, 8, SEEK_SET), 0);
  ASSERT_EQ(fwrite(&v3, 4, 1, f), 1u);
  fclose(f);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(d.status())) << d.status();
  EXPECT_EQ(GetErrorKind(d.status()), ErrorKind::kIncompatible);
  EXPECT_NE(d.status().message().find("zcipc dump"), std::string::npos)
      << d.status();
}

// Readers in other processes, attached before the growth, read keys that
// are present throughout (self-checking values) while a writer grows the
// dict many times over: no read is torn, no such key is ever missed.
TEST(GrowTest, ReaderProcessesNeverMissOrTearDuringGrowth) {
  ScopedName name("grow-readers");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
  ASSERT_TRUE(d.ok()) << d.status();
  constexpr uint64_t kStable = 8;  // present throughout
  for (uint64_t i = 0; i < kStable; ++i) {
    ASSERT_TRUE(d->Put(Key(i), Value(i, 0)).ok());
  }
  struct Shared {
    std::atomic<int> ready;
    std::atomic<bool> stop;
    std::atomic<uint64_t> reads[2], missed[2], torn[2];
  };
  SharedArray<Shared> shared(1);
  Shared& sh = shared[0];
  std::vector<pid_t> readers;
  for (int r = 0; r < 2; ++r) {
    readers.push_back(StartChild([&, r]() {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) return 2;
      sh.ready.fetch_add(1);
      uint64_t n = 0;
      std::string v;
      while (!sh.stop.load()) {
        const uint64_t i = n++ % (kStable * 4);
        // Stable keys must be there; the writer's other keys may be.
        absl::Status s = h->Read(Key(i), [&](absl::string_view value) {
          v.assign(value.data(), value.size());
        });
        if (s.ok()) {
          if (!ValueOk(i, v)) sh.torn[r].fetch_add(1);
        } else if (absl::IsNotFound(s)) {
          if (i < kStable) sh.missed[r].fetch_add(1);
        } else {
          return 3;
        }
        sh.reads[r].fetch_add(1, std::memory_order_relaxed);
      }
      return 0;
    }));
  }
  while (sh.ready.load() < 2) usleep(1000);
  // Grow from 10 to 200,000 keys, rewriting the stable keys as we go.
  for (uint64_t i = kStable; i < 200000; ++i) {
    ASSERT_TRUE(d->Put(Key(i), Value(i, 1)).ok()) << i;
    if (i % 97 == 0) {
      const uint64_t k = i % kStable;
      ASSERT_TRUE(d->Put(Key(k), Value(k, i)).ok());
    }
  }
  sh.stop.store(true);
  for (pid_t p : readers) {
    ChildResult r = WaitChild(p);
    EXPECT_TRUE(r.ok()) << r.Describe();
  }
  for (int r = 0; r < 2; ++r) {
    EXPECT_GT(sh.reads[r].load(), 1000u);
    EXPECT_EQ(sh.missed[r].load(), 0u) << "reader " << r;
    EXPECT_EQ(sh.torn[r].load(), 0u) << "reader " << r;
  }
  EXPECT_GT(d->GetStats().grows_total, 10u);
  ASSERT_TRUE(d->Check().ok()) << d->Check();
}

// The same with reader threads of this process (also run under TSan).
TEST(GrowTest, ReaderThreadsNeverMissOrTearDuringGrowth) {
  ScopedName name("grow-threads");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
  ASSERT_TRUE(d.ok()) << d.status();
  constexpr uint64_t kStable = 8;
  for (uint64_t i = 0; i < kStable; ++i) {
    ASSERT_TRUE(d->Put(Key(i), Value(i, 0)).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> missed{0}, torn{0}, reads{0}, failed{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      uint64_t n = 0;
      std::string v;
      while (!stop.load()) {
        const uint64_t i = n++ % kStable;
        absl::Status s = d->Get(Key(i), &v, nullptr);
        if (s.ok()) {
          if (!ValueOk(i, v)) torn.fetch_add(1);
        } else if (absl::IsNotFound(s)) {
          missed.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
        // ForEach across growth: every stable key exactly once.
        if (n % 5000 == 0) {
          uint64_t seen = 0;
          absl::Status fs =
              d->ForEach([&](absl::string_view key, absl::string_view) {
                for (uint64_t k = 0; k < kStable; ++k) {
                  if (key == Key(k)) ++seen;
                }
              });
          if (!fs.ok() || seen != kStable) missed.fetch_add(1);
        }
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (uint64_t i = kStable; i < 30000; ++i) {
    ASSERT_TRUE(d->Put(Key(i), Value(i, 1)).ok()) << i;
    if (i % 13 == 0) {
      const uint64_t k = i % kStable;
      ASSERT_TRUE(d->Put(Key(k), Value(k, i)).ok());
    }
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_GT(reads.load(), 100u);
  EXPECT_EQ(missed.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(failed.load(), 0u);
  ASSERT_TRUE(d->Check().ok()) << d->Check();
}

// Writers in two processes insert into one dict that grows many times: each
// continues the migrations and heap steps the other began (after reloading
// its view), and every key of both ends up there.
TEST(GrowTest, WriterProcessesShareTheGrowth) {
  ScopedName name("grow-writers");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
  ASSERT_TRUE(d.ok()) << d.status();
  constexpr uint64_t kPerWriter = 40000;
  std::vector<pid_t> writers;
  for (uint64_t w = 0; w < 2; ++w) {
    writers.push_back(StartChild([&, w]() {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) return 2;
      for (uint64_t i = 0; i < kPerWriter; ++i) {
        const uint64_t k = w * kPerWriter + i;
        if (!h->Put(Key(k), Value(k, w)).ok()) return 3;
        // Read back one of the other writer's keys now and then.
        if (i % 1000 == 999) {
          const uint64_t other = (1 - w) * kPerWriter + i / 2;
          std::string v;
          absl::Status s = h->Get(Key(other), &v, nullptr);
          if (s.ok() && !ValueOk(other, v)) return 4;
          if (!s.ok() && !absl::IsNotFound(s)) return 5;
        }
      }
      return 0;
    }));
  }
  for (pid_t p : writers) {
    ChildResult r = WaitChild(p);
    EXPECT_TRUE(r.ok()) << r.Describe();
  }
  ASSERT_TRUE(d->Check().ok()) << d->Check();
  EXPECT_EQ(d->Size(), 2 * kPerWriter);
  for (uint64_t k = 0; k < 2 * kPerWriter; ++k) {
    std::string v;
    ASSERT_TRUE(d->Get(Key(k), &v, nullptr).ok()) << k;
    ASSERT_TRUE(ValueOk(k, v)) << k;
  }
  EXPECT_GE(d->GetStats().max_items, 2 * kPerWriter);
}

// A writer killed at each step of growth: the next writer repairs, every
// acknowledged write is there, the change log matches the dict, and growth
// goes on to completion afterwards.
TEST(GrowTest, KilledAtEveryStepOfGrowthLosesNoAcknowledgedWrite) {
  struct Case {
    const char* step;
    int occurrence;
  };
  const Case kCases[] = {
      {"grow.heap.begin", 1},       {"grow.heap.file", 1},
      {"grow.heap.published", 1},   {"grow.heap.begin", 3},
      {"grow.table.begin", 1},      {"grow.table.file", 1},
      {"grow.table.allocated", 1},  {"grow.table.zeroed", 1},
      {"grow.table.copied", 1},     {"grow.table.begin", 3},
      {"grow.table.copied", 7},     {"grow.switch.begin", 1},
      {"grow.switch.published", 1}, {"grow.switch.freed", 1},
      {"grow.switch.published", 3}, {"insert.staged", 300},
      {"insert.published", 500},    {"relocate.published", 2},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(absl::StrCat(c.step, " #", c.occurrence));
    ScopedName name("grow-crash");
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Tiny());
    ASSERT_TRUE(d.ok()) << d.status();
    SharedArray<std::atomic<uint64_t>> acked(1);
    pid_t victim = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) return 2;
      zcipc_test::KillAtStep(c.step, c.occurrence);
      for (uint64_t i = 0; i < 5000; ++i) {
        // Every 50th key gets a value too large for its block (relocate).
        const std::string v =
            i % 50 == 49 ? std::string(3000, 'r') : Value(i, 0);
        if (!h->Put(Key(i), v).ok()) return 3;
        if (i % 50 == 49 && !h->Put(Key(i - 1), std::string(5000, 'R')).ok()) {
          return 3;
        }
        acked[0].store(i + 1);
      }
      return 4;  // never killed
    });
    ChildResult r = WaitChild(victim);
    ASSERT_EQ(r.signal, SIGKILL) << r.Describe();
    absl::Status check = d->Check();  // takes the lock: repairs
    ASSERT_TRUE(check.ok()) << check;
    const uint64_t n = acked[0].load();
    for (uint64_t i = 0; i < n; ++i) {
      absl::StatusOr<bool> has = d->Contains(Key(i));
      ASSERT_TRUE(has.ok() && *has) << "acknowledged key " << i << " lost";
    }
    // The change log replays to the dict's keys.
    std::vector<std::string> keys;
    absl::StatusOr<uint64_t> read =
        d->ReadChanges(0, [&](const Change& ch) { keys.emplace_back(ch.key); });
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(keys.size(), d->ChangeSeq());
    // Growth goes on: many more keys, then everything checks.
    for (uint64_t i = 5000; i < 12000; ++i) {
      ASSERT_TRUE(d->Put(Key(i), Value(i, 2)).ok()) << i;
    }
    ASSERT_TRUE(d->Check().ok()) << d->Check();
    EXPECT_GE(d->GetStats().max_items, d->Size());
  }
}

}  // namespace
}  // namespace zcipc
