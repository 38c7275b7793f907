// The change log (ReadChanges): what each operation records, the ring
// wrapping, keys larger than the ring, crash repair at every step keeping
// the log equal to the dict, lock-free readers racing a writer that
// overwrites the records they read, and followers in other processes.

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/dict/dict_impl.h"
#include "gtest/gtest.h"
#include "tests/engine/kill_at.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SharedArray;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

struct Logged {
  uint64_t seq;
  ChangeKind kind;
  std::string key;
  bool operator==(const Logged& o) const {
    return seq == o.seq && kind == o.kind && key == o.key;
  }
};

std::ostream& operator<<(std::ostream& os, const Logged& l) {
  return os << "{" << l.seq << ", "
            << (l.kind == ChangeKind::kPut ? "put" : "erase") << ", '"
            << l.key.substr(0, 40) << "'}";
}

absl::StatusOr<uint64_t> ReadAll(const ZeroCopyDict& d, uint64_t since,
                                 std::vector<Logged>* out) {
  return d.ReadChanges(since, [out](const Change& c) {
    out->push_back({c.seq, c.kind, std::string(c.key)});
  });
}

Options WithLog(uint64_t log_bytes) {
  Options o;
  o.max_items = 1000;
  o.heap_size = 1 << 20;
  o.lock_timeout = absl::Seconds(5);
  o.change_log_bytes = log_bytes;
  return o;
}

// Replays the whole log over an empty dict's key set and compares it with
// the dict's keys; the log must hold change 1..ChangeSeq() without gaps.
::testing::AssertionResult ReplayMatchesDict(const ZeroCopyDict& d) {
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> last = ReadAll(d, 0, &log);
  if (!last.ok()) {
    return ::testing::AssertionFailure() << "ReadChanges: " << last.status();
  }
  if (*last != d.ChangeSeq()) {
    return ::testing::AssertionFailure()
           << "log ends at " << *last << ", ChangeSeq " << d.ChangeSeq();
  }
  std::set<std::string> keys;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].seq != i + 1) {
      return ::testing::AssertionFailure()
             << "change " << i + 1 << " logged as " << log[i];
    }
    if (log[i].kind == ChangeKind::kPut) {
      keys.insert(log[i].key);
    } else {
      keys.erase(log[i].key);
    }
  }
  std::set<std::string> in_dict;
  absl::Status s = d.ForEach([&](absl::string_view k, absl::string_view) {
    in_dict.insert(std::string(k));
  });
  if (!s.ok()) return ::testing::AssertionFailure() << "ForEach: " << s;
  if (keys != in_dict) {
    return ::testing::AssertionFailure()
           << "replaying " << log.size() << " changes gives " << keys.size()
           << " keys, the dict has " << in_dict.size();
  }
  return ::testing::AssertionSuccess();
}

TEST(ChangeLogTest, EveryOperationIsLoggedInOrderWithItsKind) {
  ScopedName name("log-ops");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), WithLog(1 << 16));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("a", "1").ok());                        // 1 insert
  ASSERT_TRUE(d->Put("a", "2").ok());                        // 2 in place
  ASSERT_TRUE(d->Put("a", std::string(500, 'x')).ok());      // 3 relocate
  ASSERT_TRUE(d->Add("n", 5).ok());                          // 4 add
  ASSERT_TRUE(*d->CompareAndSwap("c", std::nullopt, "v"));   // 5 cas
  ASSERT_FALSE(*d->CompareAndSwap("c", std::nullopt, "w"));  // no change
  ASSERT_TRUE(absl::IsNotFound(d->Erase("missing")));        // no change
  ASSERT_TRUE(d->Erase("a").ok());                           // 6 erase
  ASSERT_TRUE(d->Write([](Batch& b) {
                 if (!b.Put("b1", "x").ok()) return absl::InternalError("");
                 if (!b.Erase("c").ok()) return absl::InternalError("");
                 return absl::OkStatus();
               }).ok());  // 7, 8
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> last = ReadAll(*d, 0, &log);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 8u);
  const std::vector<Logged> want = {
      {1, ChangeKind::kPut, "a"},  {2, ChangeKind::kPut, "a"},
      {3, ChangeKind::kPut, "a"},  {4, ChangeKind::kPut, "n"},
      {5, ChangeKind::kPut, "c"},  {6, ChangeKind::kErase, "a"},
      {7, ChangeKind::kPut, "b1"}, {8, ChangeKind::kErase, "c"},
  };
  EXPECT_EQ(log, want);
  // `since` filters; reading at the end delivers nothing.
  log.clear();
  last = ReadAll(*d, 5, &log);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 8u);
  EXPECT_EQ(log, std::vector<Logged>(want.begin() + 5, want.end()));
  log.clear();
  last = ReadAll(*d, 8, &log);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 8u);
  EXPECT_TRUE(log.empty());
  last = ReadAll(*d, 100, &log);  // ahead of the dict: nothing, not an error
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 100u);
  Stats st = d->GetStats();
  EXPECT_EQ(st.change_seq, 8u);
  EXPECT_EQ(st.oldest_retained_change, 1u);
  EXPECT_EQ(st.change_log_bytes, uint64_t{1} << 16);
  EXPECT_TRUE(d->Check().ok());
  // A second handle (another mapping) reads the same log.
  absl::StatusOr<ZeroCopyDict> other = ZeroCopyDict::Attach(name.name());
  ASSERT_TRUE(other.ok());
  log.clear();
  ASSERT_TRUE(ReadAll(*other, 0, &log).ok());
  EXPECT_EQ(log, want);
}

TEST(ChangeLogTest, DisabledLogIsFailedPreconditionAndWaitStillWorks) {
  ScopedName name("log-off");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), WithLog(0));
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->Put("k", "v").ok());
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> r = ReadAll(*d, 0, &log);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find(name.name()), std::string::npos);
  EXPECT_EQ(*d->WaitForChange(0, absl::ZeroDuration()), 1u);
  EXPECT_EQ(d->GetStats().oldest_retained_change, 0u);
  EXPECT_EQ(d->GetStats().change_log_bytes, 0u);
  EXPECT_TRUE(d->Check().ok());
}

TEST(ChangeLogTest, OptionRangeIsChecked) {
  ScopedName name("log-range");
  for (uint64_t bad :
       {uint64_t{1}, kMinChangeLogBytes - 1, kMaxChangeLogBytes + 1}) {
    absl::StatusOr<ZeroCopyDict> d =
        ZeroCopyDict::Create(name.name(), WithLog(bad));
    EXPECT_TRUE(absl::IsInvalidArgument(d.status())) << bad;
    EXPECT_EQ(GetErrorKind(d.status()), ErrorKind::kBadOptions);
  }
  // Rounded up to a multiple of 4096.
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), WithLog(5000));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->GetStats().change_log_bytes, 8192u);
}

TEST(ChangeLogTest, WrappedRingReportsTheOldestRetainedChange) {
  ScopedName name("log-wrap");
  Options o = WithLog(kMinChangeLogBytes);
  o.max_items = 2000;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok());
  // Keys of 10..40 bytes: records of 32..56 bytes; the ring holds ~100.
  for (int i = 0; i < 2000; ++i) {
    std::string key = absl::StrCat("key-", i, std::string(i % 31, 'k'));
    ASSERT_TRUE(d->Put(key, "v").ok());
  }
  const uint64_t oldest = d->GetStats().oldest_retained_change;
  ASSERT_GT(oldest, 1800u);
  ASSERT_LT(oldest, 2000u);
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> r = ReadAll(*d, oldest - 2, &log);
  EXPECT_TRUE(absl::IsOutOfRange(r.status())) << r.status();
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kChangesLost);
  EXPECT_TRUE(log.empty());
  EXPECT_NE(r.status().message().find(absl::StrCat(oldest)), std::string::npos)
      << r.status();
  EXPECT_TRUE(absl::IsOutOfRange(ReadAll(*d, 0, &log).status()));
  // From the oldest retained on, every change, with its key.
  r = ReadAll(*d, oldest - 1, &log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 2000u);
  ASSERT_EQ(log.size(), 2000 - oldest + 1);
  for (const Logged& l : log) {
    int i = static_cast<int>(l.seq) - 1;
    EXPECT_EQ(l.key, absl::StrCat("key-", i, std::string(i % 31, 'k')));
  }
  // Every `since` in the retained range starts at the right change (the
  // checkpoint marks and the walk from the tail agree).
  for (uint64_t since = oldest - 1; since <= 2000; ++since) {
    log.clear();
    r = ReadAll(*d, since, &log);
    ASSERT_TRUE(r.ok()) << since << ": " << r.status();
    ASSERT_EQ(log.size(), 2000 - since) << since;
    if (!log.empty()) {
      EXPECT_EQ(log.front().seq, since + 1);
    }
  }
  EXPECT_TRUE(d->Check().ok());
}

TEST(ChangeLogTest, KeysThatWrapTheRingAndKeysLargerThanTheRing) {
  ScopedName name("log-big");
  Options o = WithLog(kMinChangeLogBytes);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok());
  // Keys of 1..4000 bytes, each record split at the ring's end at some
  // point: every key comes back whole.
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    std::string key(1 + (i * 977) % 4000, static_cast<char>('A' + i % 26));
    key += absl::StrCat(i);
    keys.push_back(key);
    ASSERT_TRUE(d->Put(key, "v").ok());
    std::vector<Logged> log;
    absl::StatusOr<uint64_t> r = ReadAll(*d, d->ChangeSeq() - 1, &log);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].key, key) << i;
  }
  // A key larger than the ring: its change is not retained. A reader that
  // needs it is told the changes are lost; the changes after it are read.
  const std::string huge(kMinChangeLogBytes + 100, 'H');
  ASSERT_TRUE(d->Put(huge, "v").ok());
  const uint64_t huge_seq = d->ChangeSeq();
  ASSERT_TRUE(d->Put("after", "v").ok());
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> r = ReadAll(*d, huge_seq - 2, &log);
  ASSERT_TRUE(r.ok()) << r.status();  // delivers up to the gap
  EXPECT_EQ(*r, huge_seq - 1);
  r = ReadAll(*d, huge_seq - 1, &log);
  EXPECT_TRUE(absl::IsOutOfRange(r.status())) << r.status();
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kChangesLost);
  log.clear();
  r = ReadAll(*d, huge_seq, &log);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].key, "after");
  EXPECT_TRUE(d->Check().ok());
}

// Corrupt shared memory: the segment's bytes changed behind the engine's
// back through a second mapping.
struct RawMapping {
  char* base = nullptr;
  uint64_t size = 0;
  RawMapping(const std::string& name, uint64_t segment_size)
      : size(segment_size) {
    int fd = open(absl::StrCat("/dev/shm/zcipc.", name).c_str(), O_RDWR);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p != MAP_FAILED) base = static_cast<char*>(p);
  }
  ~RawMapping() {
    if (base != nullptr) munmap(base, size);
  }
  layout::Header* h() { return reinterpret_cast<layout::Header*>(base); }
};

// A checkpoint mark pointing into a key that imitates a record: the record
// does not carry its own position, so readers reject it and walk from the
// tail (delivering the real change), and Check reports the bad mark.
TEST(ChangeLogTest, AMarkIntoAKeyThatImitatesARecordIsRejected) {
  ScopedName name("log-mark");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), WithLog(1 << 16));
  ASSERT_TRUE(d.ok()) << d.status();
  for (int i = 1; i < 64; ++i) {
    ASSERT_TRUE(d->Put(absl::StrCat("k", i), "v").ok());
  }
  // Change 64's key holds a lookalike record of change 64 with key "bad".
  char fake[24] = {};
  const uint64_t seq = 64;
  const uint64_t meta = (uint64_t{0xc7} << 56) | (uint64_t{1} << 32) | 3;
  memcpy(fake, &seq, 8);
  memcpy(fake + 8, &meta, 8);
  memcpy(fake + 16, "bad", 3);
  const std::string key(fake, sizeof fake);
  ASSERT_TRUE(d->Put(key, "v").ok());
  ASSERT_TRUE(d->Put("k65", "v").ok());
  ASSERT_TRUE(d->Check().ok());
  RawMapping m(name.name(), d->GetStats().segment_size);
  ASSERT_NE(m.base, nullptr);
  auto* marks = reinterpret_cast<uint64_t*>(m.base + m.h()->change_log_offset);
  marks[1] += 16;  // into change 64's key
  absl::Status check = d->Check();
  EXPECT_TRUE(absl::IsDataLoss(check)) << check;
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> last = ReadAll(*d, 63, &log);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].seq, 64u);
  EXPECT_EQ(log[0].key, key);
  EXPECT_EQ(log[1].key, "k65");
}

// A tail just past the head (corruption the fast path's single test must
// not miss): the next write starts a fresh log instead of committing one
// whose tail is inside a record.
TEST(ChangeLogTest, ATailPastTheHeadIsResetByTheNextWrite) {
  ScopedName name("log-tail");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), WithLog(1 << 16));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("a", "v").ok());
  RawMapping m(name.name(), d->GetStats().segment_size);
  ASSERT_NE(m.base, nullptr);
  layout::Header* h = m.h();
  h->log_tail.store(h->log_head.load() + 8);
  ASSERT_TRUE(d->Put("b", "v").ok());
  ASSERT_TRUE(d->Put("c", "v").ok());
  std::vector<Logged> log;
  absl::StatusOr<uint64_t> last = ReadAll(*d, 1, &log);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 3u);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].key, "b");
  EXPECT_TRUE(d->Check().ok()) << d->Check();
  EXPECT_TRUE(absl::IsOutOfRange(ReadAll(*d, 0, &log).status()));
}

// A writer process killed at every step of every operation (and at the log's
// own steps): after repair, the log holds the change exactly when the
// operation took effect, and replaying it gives the dict's keys.
TEST(ChangeLogTest, KilledAtEveryStepTheLogMatchesTheDict) {
  struct Case {
    const char* step;
    int occurrence;
    const char* key;
    std::string value;  // empty: erase
  };
  const std::string small = "v1", big(300, 'R');
  const Case kCases[] = {
      {"log.staged", 1, "new", "n1"},
      {"log.committed", 1, "new", "n1"},
      {"log.staged", 1, "old", small},
      {"log.committed", 1, "old", small},
      {"log.staged", 1, "old", big},
      {"log.committed", 1, "old", big},
      {"log.staged", 1, "old", ""},
      {"log.committed", 1, "old", ""},
      {"insert.begin", 1, "new", "n1"},
      {"insert.allocated", 1, "new", "n1"},
      {"insert.staged", 1, "new", "n1"},
      {"insert.published", 1, "new", "n1"},
      {"update.staged", 1, "old", small},
      {"update.copied", 1, "old", small},
      {"update.published", 1, "old", small},
      {"relocate.begin", 1, "old", big},
      {"relocate.allocated", 1, "old", big},
      {"relocate.staged", 1, "old", big},
      {"relocate.published", 1, "old", big},
      {"relocate.freed", 1, "old", big},
      {"erase.begin", 1, "old", ""},
      {"erase.published", 1, "old", ""},
      {"erase.freed", 1, "old", ""},
  };
  for (uint64_t log_bytes : {uint64_t{1} << 16, kMinChangeLogBytes}) {
    for (const Case& c : kCases) {
      SCOPED_TRACE(absl::StrCat(c.step, " ", c.key, " ", c.value.size(),
                                " log ", log_bytes));
      ScopedName name("log-crash");
      absl::StatusOr<ZeroCopyDict> d =
          ZeroCopyDict::Create(name.name(), WithLog(log_bytes));
      ASSERT_TRUE(d.ok()) << d.status();
      // Enough history that the small ring has wrapped.
      for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE(d->Put(absl::StrCat("pre-", i % 50), "p").ok());
      }
      ASSERT_TRUE(d->Put("old", "v0").ok());
      const uint64_t before = d->ChangeSeq();
      pid_t victim = StartChild([&]() {
        absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
        if (!h.ok()) return 2;
        zcipc_test::KillAtStep(c.step, c.occurrence);
        absl::Status s =
            c.value.empty() ? h->Erase(c.key) : h->Put(c.key, c.value);
        return s.ok() ? 4 : 3;  // killed before this
      });
      ChildResult r = WaitChild(victim);
      ASSERT_EQ(r.signal, SIGKILL) << r.Describe();
      absl::Status check = d->Check();  // takes the lock: repairs
      ASSERT_TRUE(check.ok()) << check;
      std::string v;
      absl::Status g = d->Get(c.key, &v);
      const bool took_effect =
          c.value.empty() ? absl::IsNotFound(g) : (g.ok() && v == c.value);
      ASSERT_EQ(d->ChangeSeq(), before + (took_effect ? 1 : 0));
      std::vector<Logged> log;
      absl::StatusOr<uint64_t> last = ReadAll(*d, before, &log);
      ASSERT_TRUE(last.ok()) << last.status();
      if (took_effect) {
        ASSERT_EQ(log.size(), 1u);
        EXPECT_EQ(log[0], (Logged{before + 1,
                                  c.value.empty() ? ChangeKind::kErase
                                                  : ChangeKind::kPut,
                                  c.key}));
      } else {
        EXPECT_TRUE(log.empty()) << log[0];
      }
      if (log_bytes > kMinChangeLogBytes) {
        EXPECT_TRUE(ReplayMatchesDict(*d));
      }
      // The next change gets the next number and its record.
      ASSERT_TRUE(d->Put("after", "x").ok());
      log.clear();
      ASSERT_TRUE(ReadAll(*d, d->ChangeSeq() - 1, &log).ok());
      ASSERT_EQ(log.size(), 1u);
      EXPECT_EQ(log[0].key, "after");
      EXPECT_TRUE(d->Check().ok());
    }
  }
}

// Lock-free readers racing a writer that keeps overwriting a small ring:
// every change delivered carries the key its seq was written with (the
// writer's key encodes the seq), seqs ascend without gaps within each call,
// and a reader that falls behind is told so. Run under TSan too.
TEST(ChangeLogTest, ReadersRacingAnOverwritingWriterNeverSeeTornRecords) {
  ScopedName name("log-race");
  Options o = WithLog(kMinChangeLogBytes);
  o.max_items = 30000;
  o.heap_size = 16 << 20;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok());
  // Odd changes put key_for(seq), even ones erase the key put just before,
  // so every record's key follows from its seq and kind.
  auto key_for = [](uint64_t seq) {
    return absl::StrCat("seq-", seq, "-", std::string(seq % 57, 'z'));
  };
  auto expected = [&](uint64_t seq) {
    return seq % 2 == 1 ? key_for(seq) : key_for(seq - 1);
  };
  std::atomic<bool> done{false};
  std::atomic<uint64_t> torn{0}, delivered{0}, lost{0}, gaps{0};
  auto reader = [&]() {
    uint64_t since = 0;
    while (!done.load(std::memory_order_relaxed)) {
      uint64_t prev = since;
      absl::StatusOr<uint64_t> r = d->ReadChanges(since, [&](const Change& c) {
        if (c.seq != prev + 1) gaps.fetch_add(1);
        prev = c.seq;
        const ChangeKind kind =
            c.seq % 2 == 1 ? ChangeKind::kPut : ChangeKind::kErase;
        if (c.key != expected(c.seq) || c.kind != kind) torn.fetch_add(1);
        delivered.fetch_add(1);
      });
      if (r.ok()) {
        since = *r;
      } else if (GetErrorKind(r.status()) == ErrorKind::kChangesLost) {
        lost.fetch_add(1);
        since = d->ChangeSeq();
      } else {
        torn.fetch_add(1000000);  // any other error is a failure
      }
    }
  };
  std::thread r1(reader), r2(reader);
  // Until the readers have read plenty (on a busy machine they may get
  // little CPU), within a bound.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr uint64_t kWant = 5000;  // the sanitizers slow readers most
#else
  constexpr uint64_t kWant = 50000;
#endif
  // On a loaded machine the readers may get little CPU: the writer goes on
  // (up to 4 * 10^6 changes or 30 s) until they have read kWant changes;
  // the test requires kWant / 10, enough that the check is not vacuous.
  uint64_t seq = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (seq < 4000000 && (seq < 100000 || (delivered.load() < kWant &&
                                            absl::Now() < deadline))) {
    ASSERT_TRUE(d->Put(key_for(seq + 1), "v").ok());
    ASSERT_TRUE(d->Erase(key_for(seq + 1)).ok());
    seq += 2;
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(gaps.load(), 0u);
  EXPECT_GE(delivered.load(), kWant / 10);
  std::cout << seq << " changes written, " << delivered.load() << " delivered, "
            << lost.load() << " resyncs, " << torn.load() << " torn\n";
}

// N writer processes x M changes each, and a follower process that waits
// with WaitForChange and reads with ReadChanges, applying each change by
// reading the current value with Get (or resyncing with ForEach when told
// that changes were lost). It ends equal to the dict; with a ring large
// enough it saw every change exactly once, in order.
struct FollowerReport {
  std::atomic<uint64_t> changes{0};
  std::atomic<uint64_t> resyncs{0};
  std::atomic<uint64_t> out_of_order{0};
  std::atomic<uint64_t> mismatches{0};
  std::atomic<uint64_t> final_seq{0};
  std::atomic<int> ready{0};
};

int Follow(const std::string& name, uint64_t end_seq, bool slow,
           FollowerReport* rep) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) return 2;
  std::map<std::string, std::string> mirror;
  uint64_t seq = 0, rounds = 0;
  rep->ready.store(1);
  while (seq < end_seq) {
    absl::StatusOr<uint64_t> w = d->WaitForChange(seq, absl::Seconds(30));
    if (!w.ok()) return 3;
    // Now and then, let the ring wrap past us.
    if (slow && ++rounds % 4 == 0) usleep(5000);
    uint64_t prev = seq;
    absl::StatusOr<uint64_t> r = d->ReadChanges(seq, [&](const Change& c) {
      if (c.seq != prev + 1) rep->out_of_order.fetch_add(1);
      prev = c.seq;
      rep->changes.fetch_add(1);
      std::string key(c.key), value;
      absl::Status g = d->Get(key, &value);
      if (g.ok()) {
        mirror[key] = value;
      } else if (absl::IsNotFound(g)) {
        mirror.erase(key);
      } else {
        rep->mismatches.fetch_add(1000);
      }
    });
    if (r.ok()) {
      seq = *r;
      continue;
    }
    if (GetErrorKind(r.status()) != ErrorKind::kChangesLost) return 4;
    rep->resyncs.fetch_add(1);
    const uint64_t s0 = d->ChangeSeq();
    mirror.clear();
    absl::Status s = d->ForEach([&](absl::string_view k, absl::string_view v) {
      mirror[std::string(k)] = std::string(v);
    });
    if (!s.ok()) return 5;
    seq = s0;
  }
  std::map<std::string, std::string> actual;
  if (!d->ForEach([&](absl::string_view k, absl::string_view v) {
          actual[std::string(k)] = std::string(v);
        }).ok()) {
    return 6;
  }
  if (actual != mirror) rep->mismatches.fetch_add(1);
  rep->final_seq.store(seq);
  return 0;
}

void RunFollowerScenario(uint64_t log_bytes, bool slow) {
  ScopedName name("log-follow");
  Options o = WithLog(log_bytes);
  o.max_items = 2000;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok());
  constexpr int kWriters = 3, kPerWriter = 3000;
  const uint64_t end_seq = kWriters * kPerWriter;
  SharedArray<FollowerReport> rep(1);
  pid_t follower = StartChild(
      [&] { return Follow(name.name(), end_seq, slow, rep.get()); }, 120);
  while (rep->ready.load() == 0) usleep(1000);
  std::vector<pid_t> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(StartChild(
        [&, w] {
          absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
          if (!h.ok()) return 2;
          for (int i = 0; i < kPerWriter; ++i) {
            std::string key = absl::StrCat("w", w, "-", i % 200);
            absl::Status s = (i % 7 == 6)
                                 ? h->Erase(key)
                                 : h->Put(key, absl::StrCat(w, ":", i));
            if (absl::IsNotFound(s)) s = h->Put(key, "again");
            if (!s.ok()) return 3;
            if (i % 50 == 49) usleep(200);  // spread over some milliseconds
          }
          return 0;
        },
        120));
  }
  for (pid_t w : writers) {
    ChildResult r = WaitChild(w);
    ASSERT_TRUE(r.ok()) << r.Describe();
  }
  ChildResult fr = WaitChild(follower);
  ASSERT_TRUE(fr.ok()) << fr.Describe();
  EXPECT_EQ(d->ChangeSeq(), end_seq);
  EXPECT_EQ(rep->final_seq.load(), end_seq);
  EXPECT_EQ(rep->mismatches.load(), 0u);
  EXPECT_EQ(rep->out_of_order.load(), 0u);
  if (!slow) {
    EXPECT_EQ(rep->changes.load(), end_seq);
    EXPECT_EQ(rep->resyncs.load(), 0u);
  } else {
    EXPECT_GT(rep->resyncs.load(), 0u);
    EXPECT_GT(rep->changes.load(), 0u);
  }
  std::cout << (slow ? "small ring: " : "large ring: ") << rep->changes.load()
            << " changes read, " << rep->resyncs.load() << " resyncs\n";
}

TEST(ChangeLogTest, FollowerProcessSeesEveryChangeOfEveryWriter) {
  RunFollowerScenario(1 << 20, /*slow=*/false);
}

TEST(ChangeLogTest, FollowerBehindASmallRingResyncsAndEndsEqual) {
  RunFollowerScenario(kMinChangeLogBytes, /*slow=*/true);
}

}  // namespace
}  // namespace zcipc
