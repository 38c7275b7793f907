// RedisSync against a real redis-server (docs/SYNC.md): two and three
// "machines" (dicts of different names on this host, each with its own
// sync, in this process or in child processes) write at random and must
// converge to {P}:data and to each other, with exact counters; a sync killed
// with SIGKILL and restarted, Redis restarted with and without its data,
// Redis stopped (SIGSTOP) for 2 s, and values that cannot be stored locally.
// Convergence is polled with a deadline; nothing asserts on timing.

#include "zcipc/redis_sync.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sync/redis_client.h"
#include "tests/sync/redis_server.h"
#include "tools/proc/proc.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using Map = std::map<std::string, std::string>;

constexpr absl::Duration kConverge = absl::Seconds(60);
constexpr int kCounters = 4;
constexpr int kKeys = 40;

std::string Le(int64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  }
  return out;
}

Map DictContents(const ZeroCopyDict& d) {
  Map m;
  absl::Status s = d.ForEach([&](absl::string_view k, absl::string_view v) {
    m[std::string(k)] = std::string(v);
  });
  EXPECT_TRUE(s.ok()) << s;
  return m;
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s = server_.Start(/*persist=*/true);
    ASSERT_TRUE(s.ok()) << s;
    prefix_ = zcipc_proc::UniqueName("p");
  }

  void TearDown() override {
    syncs_.clear();
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      zcipc_proc::WaitChild(pid);
    }
    for (const std::string& n : names_) {
      ZeroCopyDict::Unlink(n).IgnoreError();
      unlink(StatePath(n).c_str());
    }
  }

  std::string StatePath(const std::string& name) const {
    return absl::StrCat("/tmp/zcipc-sync-test.", name);
  }

  SyncOptions MakeOptions(const std::string& name) const {
    SyncOptions o;
    o.redis_url = server_.url();
    o.prefix = prefix_;
    o.origin = name;
    o.state_path = StatePath(name);
    return o;
  }

  ZeroCopyDict NewDict(Options options = {}) {
    std::string name = zcipc_proc::UniqueName("sync");
    names_.push_back(name);
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, options);
    EXPECT_TRUE(d.ok()) << d.status();
    return *std::move(d);
  }

  void StartInProcess(const ZeroCopyDict& d) {
    absl::StatusOr<std::unique_ptr<RedisSync>> s =
        RedisSync::Start(d.name(), MakeOptions(d.name()));
    ASSERT_TRUE(s.ok()) << s.status();
    syncs_.push_back(*std::move(s));
  }

  // A sync in a child process, running until SIGTERM (clean stop) or
  // SIGKILL.
  pid_t StartChildSync(const std::string& name) {
    SyncOptions o = MakeOptions(name);
    pid_t pid = zcipc_proc::Fork(
        [o, name]() {
          sigset_t set;
          sigemptyset(&set);
          sigaddset(&set, SIGTERM);
          pthread_sigmask(SIG_BLOCK, &set, nullptr);
          auto s = RedisSync::Start(name, o);
          if (!s.ok()) return zcipc_proc::ChildFailure(2, "start", s.status());
          int sig = 0;
          sigwait(&set, &sig);
          (*s)->Stop();
          return 0;
        },
        300);
    children_.push_back(pid);
    return pid;
  }

  void StopChild(pid_t pid, int sig) {
    kill(pid, sig);
    zcipc_proc::ChildResult r = zcipc_proc::WaitChild(pid);
    if (sig == SIGTERM) EXPECT_TRUE(r.ok()) << r.Describe();
    children_.erase(std::remove(children_.begin(), children_.end(), pid),
                    children_.end());
  }

  Map RedisContents() {
    Map m;
    auto a = sync_internal::ParseRedisUrl(server_.url());
    auto c = sync_internal::RedisConnection::Connect(*a, absl::Seconds(2));
    if (!c.ok()) return m;
    auto r = (*c)->Command({"HGETALL", absl::StrCat("{", prefix_, "}:data")});
    if (!r.ok()) return m;
    for (size_t i = 0; i + 1 < (*r)->elements; i += 2) {
      m[std::string(sync_internal::ReplyString((*r)->element[i]))] =
          std::string(sync_internal::ReplyString((*r)->element[i + 1]));
    }
    return m;
  }

  // Waits until every dict equals {P}:data (and so each other); on timeout
  // reports the first difference.
  ::testing::AssertionResult Converged(
      const std::vector<const ZeroCopyDict*>& dicts) {
    absl::Time deadline = absl::Now() + kConverge;
    std::string why;
    while (absl::Now() < deadline) {
      Map redis = RedisContents();
      why.clear();
      for (const ZeroCopyDict* d : dicts) {
        Map local = DictContents(*d);
        if (local != redis) {
          why = absl::StrCat(d->name(), " has ", local.size(),
                             " keys, Redis has ", redis.size());
          for (const auto& [k, v] : redis) {
            auto it = local.find(k);
            if (it == local.end()) {
              absl::StrAppend(&why, "; missing ", k);
              break;
            }
            if (it->second != v) {
              absl::StrAppend(&why, "; differs at ", k);
              break;
            }
          }
          break;
        }
      }
      if (why.empty()) return ::testing::AssertionSuccess();
      absl::SleepFor(absl::Milliseconds(50));
    }
    return ::testing::AssertionFailure() << "no convergence: " << why;
  }

  // Random Put/Erase of keys k0..k39 (values never 8 bytes long) and Add to
  // counters c0..c3; adds to `totals`.
  void RandomWrites(ZeroCopyDict& d, int ops, uint32_t seed,
                    std::vector<int64_t>* totals) {
    std::mt19937 rng(seed);
    for (int i = 0; i < ops; ++i) {
      int r = rng() % 10;
      std::string key = absl::StrCat("k", rng() % kKeys);
      if (r < 5) {
        ASSERT_TRUE(d.Put(key, absl::StrCat("value-", d.name(), "-", i)).ok());
      } else if (r < 7) {
        absl::Status s = d.Erase(key);
        ASSERT_TRUE(s.ok() || absl::IsNotFound(s)) << s;
      } else {
        int c = rng() % kCounters;
        int64_t delta = static_cast<int64_t>(rng() % 1000) - 300;
        ASSERT_TRUE(d.Add(absl::StrCat("c", c), delta).ok());
        (*totals)[c] += delta;
      }
    }
  }

  void ExpectCounters(const ZeroCopyDict& d,
                      const std::vector<int64_t>& totals) {
    for (int c = 0; c < kCounters; ++c) {
      std::string v;
      absl::Status s = d.Get(absl::StrCat("c", c), &v);
      if (totals[c] == 0 && absl::IsNotFound(s)) continue;
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_EQ(v, Le(totals[c])) << d.name() << " counter c" << c;
    }
  }

  zcipc_test::RedisServer server_;
  std::string prefix_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<RedisSync>> syncs_;
  std::vector<pid_t> children_;
};

TEST_F(SyncTest, TwoDictsInOneProcessConverge) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  ASSERT_TRUE(a.Put("before", "existing data of a").ok());
  StartInProcess(a);
  StartInProcess(b);
  std::vector<int64_t> totals(kCounters, 0);
  for (int round = 0; round < 5; ++round) {
    RandomWrites(a, 400, 1 + round, &totals);
    RandomWrites(b, 400, 100 + round, &totals);
  }
  ASSERT_TRUE(Converged({&a, &b}));
  ExpectCounters(a, totals);
  ExpectCounters(b, totals);
  std::string v;
  EXPECT_TRUE(b.Get("before", &v).ok());
  SyncStats st = syncs_[0]->GetStats();
  EXPECT_GT(st.pushed, 0u);
  EXPECT_TRUE(st.connected);
}

// Only int64-typed values are counters: two machines that Put 8 raw bytes
// under one key converge to one of the two values (the last in the
// stream), not to a sum of "deltas"; an Add on a third key still sums.
TEST_F(SyncTest, EightRawBytesAreAValueNotACounter) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  StartInProcess(a);
  StartInProcess(b);
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(a.Put("eight", absl::StrCat("AAAAAAA", round % 10)).ok());
    ASSERT_TRUE(b.Put("eight", absl::StrCat("BBBBBBB", round % 10)).ok());
    ASSERT_TRUE(a.Add("sum", 1).ok());
    ASSERT_TRUE(b.Add("sum", 2).ok());
  }
  ASSERT_TRUE(Converged({&a, &b}));
  std::string v;
  ASSERT_TRUE(a.Get("eight", &v).ok());
  EXPECT_TRUE(v.rfind("AAAAAAA", 0) == 0 || v.rfind("BBBBBBB", 0) == 0)
      << "'eight' holds '" << absl::CHexEscape(v) << "'";
  ASSERT_TRUE(a.Get("sum", &v).ok());
  ASSERT_EQ(v.size(), 8u);
  int64_t sum = 0;
  memcpy(&sum, v.data(), 8);
  EXPECT_EQ(sum, 60);
}

// Ping-pong on one counter: each Add waits for the other machine to see
// the previous one, so a machine often reads its own stream entry before
// its push has Redis's reply; that entry must not count its delta twice.
TEST_F(SyncTest, AlternatingAddsOnOneCounterStayExact) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  StartInProcess(a);
  StartInProcess(b);
  auto wait_for = [&](const ZeroCopyDict& d, int64_t want) {
    absl::Time deadline = absl::Now() + kConverge;
    std::string v;
    while (absl::Now() < deadline) {
      if (d.Get("hits", &v).ok() && v == Le(want)) return true;
      absl::SleepFor(absl::Microseconds(200));
    }
    return false;
  };
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(b.Add("hits", 1).ok());
    ASSERT_TRUE(wait_for(a, 2 * i + 1)) << "round " << i;
    ASSERT_TRUE(a.Add("hits", 1).ok());
    ASSERT_TRUE(wait_for(b, 2 * i + 2)) << "round " << i;
  }
  ASSERT_TRUE(Converged({&a, &b}));
  std::string v;
  ASSERT_TRUE(a.Get("hits", &v).ok());
  EXPECT_EQ(v, Le(80));
}

TEST_F(SyncTest, ThreeSyncProcessesConverge) {
  std::vector<ZeroCopyDict> dicts;
  for (int i = 0; i < 3; ++i) dicts.push_back(NewDict());
  for (const ZeroCopyDict& d : dicts) StartChildSync(d.name());
  std::vector<int64_t> totals(kCounters, 0);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 3; ++i) {
      RandomWrites(dicts[i], 300, round * 10 + i, &totals);
    }
  }
  ASSERT_TRUE(Converged({&dicts[0], &dicts[1], &dicts[2]}));
  for (const ZeroCopyDict& d : dicts) ExpectCounters(d, totals);
}

TEST_F(SyncTest, KilledSyncRestartsAndConverges) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  pid_t pa = StartChildSync(a.name());
  StartChildSync(b.name());
  std::vector<int64_t> totals(kCounters, 0);
  for (int round = 0; round < 6; ++round) {
    RandomWrites(a, 300, round, &totals);
    RandomWrites(b, 300, 50 + round, &totals);
    if (round == 2) {
      StopChild(pa, SIGKILL);  // mid-stream
      RandomWrites(a, 300, 99, &totals);
      RandomWrites(b, 300, 98, &totals);
      pa = StartChildSync(a.name());
    }
  }
  ASSERT_TRUE(Converged({&a, &b}));
  ExpectCounters(a, totals);
  ExpectCounters(b, totals);
}

// A sync stopped while its dict's small change log wraps: on restart
// ReadChanges reports kChangesLost and the sync pushes everything (counters
// by their deltas), then loads a snapshot; keys erased meanwhile come back
// rather than any key being lost.
TEST_F(SyncTest, WrappedLocalChangeLogMakesAFullResync) {
  Options small_log;
  small_log.change_log_bytes = kMinChangeLogBytes;
  ZeroCopyDict a = NewDict(small_log);
  ZeroCopyDict b = NewDict();
  StartInProcess(a);
  StartInProcess(b);
  std::vector<int64_t> totals(kCounters, 0);
  RandomWrites(a, 200, 1, &totals);
  RandomWrites(b, 200, 2, &totals);
  ASSERT_TRUE(Converged({&a, &b}));
  syncs_[0]->Stop();
  RandomWrites(a, 3000, 3, &totals);  // far more than 4 KiB of changes
  RandomWrites(b, 300, 4, &totals);
  ASSERT_GT(a.GetStats().oldest_retained_change, 1u);
  syncs_[0] = nullptr;
  StartInProcess(a);
  ASSERT_TRUE(Converged({&a, &b}));
  ExpectCounters(a, totals);
  ExpectCounters(b, totals);
  EXPECT_GE(syncs_.back()->GetStats().push_resyncs, 1u);
}

TEST_F(SyncTest, RedisRestartedWithItsDataConverges) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  StartInProcess(a);
  StartInProcess(b);
  std::vector<int64_t> totals(kCounters, 0);
  RandomWrites(a, 500, 1, &totals);
  RandomWrites(b, 500, 2, &totals);
  ASSERT_TRUE(Converged({&a, &b}));
  ASSERT_TRUE(server_.Stop().ok());
  RandomWrites(a, 300, 3, &totals);  // while Redis is down
  ASSERT_TRUE(server_.Start(/*persist=*/true).ok());
  RandomWrites(b, 300, 4, &totals);
  ASSERT_TRUE(Converged({&a, &b}));
  ExpectCounters(a, totals);
  ExpectCounters(b, totals);
  EXPECT_GT(syncs_[0]->GetStats().reconnects, 0u);
}

TEST_F(SyncTest, RedisRestartedEmptyLosesNoKey) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  StartInProcess(a);
  StartInProcess(b);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(a.Put(absl::StrCat("a", i), absl::StrCat("from a ", i)).ok());
    ASSERT_TRUE(b.Put(absl::StrCat("b", i), absl::StrCat("from b ", i)).ok());
  }
  ASSERT_TRUE(Converged({&a, &b}));
  ASSERT_TRUE(server_.StopAndWipe().ok());
  ASSERT_TRUE(a.Put("a-during", "written while Redis was down").ok());
  ASSERT_TRUE(server_.Start(/*persist=*/false).ok());
  ASSERT_TRUE(Converged({&a, &b}));
  Map m = DictContents(b);
  EXPECT_EQ(m.size(), 401u);
  EXPECT_EQ(m["a-during"], "written while Redis was down");
}

TEST_F(SyncTest, RedisPausedForTwoSecondsConverges) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  StartChildSync(a.name());
  StartChildSync(b.name());
  std::vector<int64_t> totals(kCounters, 0);
  RandomWrites(a, 300, 1, &totals);
  server_.Pause();
  absl::Time end = absl::Now() + absl::Seconds(2);
  uint32_t seed = 10;
  while (absl::Now() < end) {
    RandomWrites(a, 50, seed++, &totals);
    RandomWrites(b, 50, seed++, &totals);
    absl::SleepFor(absl::Milliseconds(20));
  }
  server_.Resume();
  RandomWrites(b, 300, 2, &totals);
  ASSERT_TRUE(Converged({&a, &b}));
  ExpectCounters(a, totals);
  ExpectCounters(b, totals);
}

TEST_F(SyncTest, ValuesThatCannotBeStoredAreCountedAndSkipped) {
  ZeroCopyDict a = NewDict();
  Options small;
  small.heap_size = 64 * 1024;
  ZeroCopyDict b = NewDict(small);
  StartInProcess(a);
  StartInProcess(b);
  ASSERT_TRUE(a.Put("fits", "a small value").ok());
  ASSERT_TRUE(a.Put("too-big", std::string(200 * 1024, 'x')).ok());
  // A key longer than kMaxKeySize, written into Redis by another client.
  {
    auto addr = sync_internal::ParseRedisUrl(server_.url());
    auto c = sync_internal::RedisConnection::Connect(*addr, absl::Seconds(2));
    ASSERT_TRUE(c.ok());
    std::string tag = absl::StrCat("{", prefix_, "}");
    std::string long_key(kMaxKeySize + 1, 'k');
    ASSERT_TRUE((*c)->Command({"HSET", tag + ":data", long_key, "v"}).ok());
    ASSERT_TRUE((*c)->Command({"XADD", tag + ":log", "*", "k", long_key, "op",
                               "put", "v", "v", "o", "elsewhere"})
                    .ok());
  }
  ASSERT_TRUE(a.Put("after", "still synced").ok());
  absl::Time deadline = absl::Now() + kConverge;
  std::string v;
  while (absl::Now() < deadline && !b.Get("after", &v).ok()) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(v, "still synced");
  EXPECT_TRUE(b.Get("fits", &v).ok());
  EXPECT_TRUE(absl::IsNotFound(b.Get("too-big", &v)));
  EXPECT_GE(syncs_[1]->GetStats().skipped_values, 2u);
  EXPECT_TRUE(b.Check().ok());
}

}  // namespace
}  // namespace zcipc
