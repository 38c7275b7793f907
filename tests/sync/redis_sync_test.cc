// RedisSync against a real redis-server (docs/SYNC.md): two and three
// "machines" (dicts of different names on this host, each with its own
// sync, in this process or in child processes) write at random and must
// converge to {P}:data and to each other, with exact counters; a sync killed
// with SIGKILL and restarted, Redis restarted with and without its data,
// Redis stopped (SIGSTOP) for 2 s, and values that cannot be stored locally.
// Convergence is polled with a deadline; nothing asserts on timing.

#include "zcipc/redis_sync.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sync/redis_client.h"
#include "sync/sync_hooks.h"
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

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (fd >= 0 &&
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A unix-socket proxy in front of the test's redis-server that can cut a
// sync's push off while its pull keeps working: with HoldPush(true) the
// replies to push connections (those that started a push session: the
// session script is the only EVAL the sync sends) are withheld, so a push
// call runs in Redis but push never learns it, and new push sessions are
// refused (the connection is closed).
//
// Thread safety: HoldPush may be called from any thread.
class PushCuttingProxy {
 public:
  PushCuttingProxy(std::string redis_socket, std::string path)
      : redis_socket_(std::move(redis_socket)), path_(std::move(path)) {
    unlink(path_.c_str());
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 64), 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~PushCuttingProxy() {
    stop_ = true;
    thread_.join();
    for (const Pair& p : pairs_) {
      close(p.client);
      close(p.server);
    }
    close(listen_fd_);
    unlink(path_.c_str());
  }
  std::string url() const { return "unix://" + path_; }
  void HoldPush(bool hold) { hold_ = hold; }

 private:
  struct Pair {
    int client;
    int server;
    bool push = false;
    bool dead = false;
  };

  void Run() {
    while (!stop_) {
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}};
      for (const Pair& p : pairs_) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        int s = c >= 0 ? ConnectUnix(redis_socket_) : -1;
        if (c >= 0 && s >= 0) {
          pairs_.push_back({c, s});
        } else if (c >= 0) {
          close(c);
        }
      }
      char buf[65536];
      for (size_t i = 0; i + 1 < fds.size() && i / 2 < pairs_.size(); ++i) {
        Pair& p = pairs_[i / 2];
        const pollfd& f = fds[i + 1];
        if (p.dead || f.revents == 0) continue;
        const bool from_client = i % 2 == 0;
        ssize_t n = read(f.fd, buf, sizeof(buf));
        if (n <= 0) {
          p.dead = true;
          continue;
        }
        if (from_client) {
          if (absl::string_view(buf, n).find("$4\r\nEVAL\r\n") !=
              absl::string_view::npos) {
            p.push = true;
            if (hold_) {  // a new push session: refused
              p.dead = true;
              continue;
            }
          }
          WriteAll(p.server, buf, n);
        } else if (!(p.push && hold_)) {
          WriteAll(p.client, buf, n);
        }
      }
      std::vector<Pair> alive;
      for (const Pair& p : pairs_) {
        if (p.dead) {
          close(p.client);
          close(p.server);
        } else {
          alive.push_back(p);
        }
      }
      pairs_.swap(alive);
    }
  }

  static void WriteAll(int fd, const char* buf, ssize_t n) {
    while (n > 0) {
      ssize_t w = write(fd, buf, n);
      if (w <= 0) return;
      buf += w;
      n -= w;
    }
  }

  std::string redis_socket_, path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hold_{false};
  std::vector<Pair> pairs_;  // the proxy thread's
  std::thread thread_;
};

// The sync's test hook (sync/sync_hooks.h): a point of one origin can be
// held, and the sync thread that reaches it waits there until it is
// released.
//
// Thread safety: every member may be called from any thread.
class HookGate {
 public:
  static HookGate& Get() {
    static HookGate* gate = new HookGate;
    return *gate;
  }
  static void Hook(absl::string_view origin, absl::string_view point) {
    Get().Arrive(absl::StrCat(origin, "|", point));
  }

  void Hold(const std::string& origin, const std::string& point) {
    std::unique_lock<std::mutex> lock(mu_);
    held_.insert(origin + "|" + point);
  }
  void Release(const std::string& origin, const std::string& point) {
    std::unique_lock<std::mutex> lock(mu_);
    held_.erase(origin + "|" + point);
    cv_.notify_all();
  }
  void ReleaseAll() {
    std::unique_lock<std::mutex> lock(mu_);
    held_.clear();
    cv_.notify_all();
  }
  // Whether a thread waits at the held point (until `deadline`).
  bool WaitUntilWaiting(const std::string& origin, const std::string& point,
                        absl::Time deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    const std::string key = origin + "|" + point;
    while (waiting_[key] == 0) {
      if (absl::Now() >= deadline) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(10));
    }
    return true;
  }
  uint64_t Arrivals(const std::string& origin, const std::string& point) {
    std::unique_lock<std::mutex> lock(mu_);
    return arrivals_[origin + "|" + point];
  }

 private:
  void Arrive(const std::string& key) {
    std::unique_lock<std::mutex> lock(mu_);
    ++arrivals_[key];
    ++waiting_[key];
    cv_.notify_all();
    while (held_.count(key) > 0) cv_.wait(lock);
    --waiting_[key];
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> held_;
  std::map<std::string, int> waiting_;
  std::map<std::string, uint64_t> arrivals_;
};

// For a sync in a child process (SyncTest.Killed...PulledBatch...): once
// the file g_arm_path exists, push stops at its next round (and creates
// g_held_path), and the process kills itself with SIGKILL when pull reaches
// the hook point g_kill_point ("pull_applied": only once the counter "c" of
// the dict g_dict_name no longer holds 11, so not after a batch of entries
// left over from before).
std::string g_arm_path, g_held_path, g_kill_point, g_dict_name;

void KillInPullHook(absl::string_view origin, absl::string_view point) {
  if (access(g_arm_path.c_str(), F_OK) != 0) return;
  if (point == "push_loop") {
    FILE* f = fopen(g_held_path.c_str(), "w");
    if (f != nullptr) fclose(f);
    for (;;) pause();
  }
  if (point != g_kill_point || access(g_held_path.c_str(), F_OK) != 0) return;
  if (point == "pull_applied") {
    static absl::StatusOr<ZeroCopyDict>* dict =
        new absl::StatusOr<ZeroCopyDict>(ZeroCopyDict::Attach(g_dict_name));
    std::string v;
    if (!dict->ok() || !(*dict)->Get("c", &v).ok() || v == Le(11)) return;
  }
  raise(SIGKILL);
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s = server_.Start(/*persist=*/true);
    ASSERT_TRUE(s.ok()) << s;
    prefix_ = zcipc_proc::UniqueName("p");
  }

  void TearDown() override {
    HookGate::Get().ReleaseAll();
    syncs_.clear();
    sync_internal::SetSyncHookForTesting(nullptr);
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

  // SyncTest.Killed...PulledBatch...: a's sync, in a child process, kills
  // itself at hook `point` while pull applies b's Add of 1000 to a counter
  // of 11 (a's counter then holds `value_after_kill`); restarted, it must
  // neither lose nor repeat a delta.
  void KillInPulledBatchAndRestart(const std::string& point,
                                   int64_t value_after_kill);

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

// A push call that Redis ran but whose reply push never got: until push's
// next session reads {P}:pos, pull must not take that change for a local
// one push has yet to send (it would skip later entries of the key for
// good, as the new session does not send again what Redis ran).
TEST_F(SyncTest, PushCallRunWithoutReplyDoesNotHideLaterEntries) {
  PushCuttingProxy proxy(server_.socket_path(),
                         server_.socket_path() + ".proxy");
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  ASSERT_TRUE(a.Put("k", "old").ok());
  SyncOptions oa = MakeOptions(a.name());
  oa.redis_url = proxy.url();
  absl::StatusOr<std::unique_ptr<RedisSync>> sa =
      RedisSync::Start(a.name(), oa);
  ASSERT_TRUE(sa.ok()) << sa.status();
  syncs_.push_back(*std::move(sa));
  StartInProcess(b);
  ASSERT_TRUE(Converged({&a, &b}));

  proxy.HoldPush(true);
  ASSERT_TRUE(a.Erase("k").ok());  // runs in Redis; push gets no reply
  absl::Time deadline = absl::Now() + kConverge;
  while (RedisContents().count("k") > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(RedisContents().count("k"), 0u);
  // Push's command times out (2 s) and its new sessions are refused.
  while (syncs_[0]->GetStats().connected && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_FALSE(syncs_[0]->GetStats().connected);
  ASSERT_TRUE(b.Put("k", "new").ok());  // a later entry of the same key
  while (RedisContents()["k"] != "new" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  // Give a's pull time to read both entries while push is cut off.
  absl::SleepFor(absl::Seconds(1));
  proxy.HoldPush(false);
  ASSERT_TRUE(Converged({&a, &b}));
  std::string v;
  ASSERT_TRUE(a.Get("k", &v).ok());
  EXPECT_EQ(v, "new");
  syncs_.clear();  // before the proxy goes
}

// A snapshot whose reply pull has while push has not yet processed the
// reply to a call Redis ran before the snapshot: that change is in the
// snapshot, so it is not newer than it, and the snapshot's values (which
// hold another machine's later changes: a counter's deltas, a later put)
// must be applied, the counter as its snapshot value plus only the local
// deltas that are not in the snapshot. The test holds a's push before it
// processes the reply and a's pull before it reads, and makes a's pull find
// its position gone (so it loads a snapshot).
TEST_F(SyncTest, SnapshotDuringAnUnprocessedPushReplyKeepsOthersChanges) {
  HookGate& gate = HookGate::Get();
  sync_internal::SetSyncHookForTesting(&HookGate::Hook);
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  StartInProcess(a);
  StartInProcess(b);
  const absl::Time deadline = absl::Now() + kConverge;
  const std::string an = a.name();
  // Once both pulls read the stream, their start's snapshots are done: no
  // key is left for push as only local (its call would come first).
  while ((gate.Arrivals(an, "pull_read") == 0 ||
          gate.Arrivals(b.name(), "pull_read") == 0) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(a.Add("c", 1).ok());
  ASSERT_TRUE(b.Add("c", 10).ok());
  ASSERT_TRUE(a.Put("k", "a0").ok());
  ASSERT_TRUE(Converged({&a, &b}));

  // a's pull waits before its next read, a's push before its next round.
  gate.Hold(an, "pull_read");
  gate.Hold(an, "push_loop");
  ASSERT_TRUE(gate.WaitUntilWaiting(an, "pull_read", deadline));
  ASSERT_TRUE(gate.WaitUntilWaiting(an, "push_loop", deadline));
  const std::string pull_pos = syncs_[0]->GetStats().pull_position;
  ASSERT_NE(pull_pos, "0-0");
  // a's changes go out in one call whose reply push does not process yet.
  ASSERT_TRUE(a.Add("c", 100).ok());
  ASSERT_TRUE(a.Put("k", "a1").ok());
  gate.Hold(an, "push_reply");
  gate.Release(an, "push_loop");
  ASSERT_TRUE(gate.WaitUntilWaiting(an, "push_reply", deadline));
  while (RedisContents()["k"] != "a1" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(RedisContents()["c"], Le(111));
  ASSERT_EQ(RedisContents()["k"], "a1");
  // b's later changes of the same keys.
  ASSERT_TRUE(b.Add("c", 1000).ok());
  ASSERT_TRUE(b.Put("k", "b1").ok());
  while (RedisContents()["k"] != "b1" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(RedisContents()["c"], Le(1111));
  // a's pull position goes: its next read finds a gap and loads a snapshot.
  {
    auto addr = sync_internal::ParseRedisUrl(server_.url());
    auto c = sync_internal::RedisConnection::Connect(*addr, absl::Seconds(2));
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(
        (*c)->Command({"XDEL", absl::StrCat("{", prefix_, "}:log"), pull_pos})
            .ok());
  }
  const uint64_t resyncs = syncs_[0]->GetStats().pull_resyncs;
  gate.Release(an, "pull_read");
  while (gate.Arrivals(an, "pull_snapshot") == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GT(gate.Arrivals(an, "pull_snapshot"), 0u);
  // Give pull the time to apply the snapshot before push has the reply (if
  // it does not wait for push).
  const absl::Time wait_end = absl::Now() + absl::Seconds(1);
  while (syncs_[0]->GetStats().pull_resyncs == resyncs &&
         absl::Now() < wait_end) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  gate.ReleaseAll();
  ASSERT_TRUE(Converged({&a, &b}));
  std::string v;
  ASSERT_TRUE(a.Get("c", &v).ok());
  EXPECT_EQ(v, Le(1111));
  ASSERT_TRUE(a.Get("k", &v).ok());
  EXPECT_EQ(v, "b1");
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

// A sync killed while pull applies another machine's Add (at hook `point`),
// with push not yet past that change; then restarted.
void SyncTest::KillInPulledBatchAndRestart(const std::string& point,
                                           int64_t value_after_kill) {
  ZeroCopyDict a = NewDict();
  ZeroCopyDict b = NewDict();
  g_arm_path = StatePath(a.name()) + ".arm";
  g_held_path = StatePath(a.name()) + ".held";
  unlink(g_arm_path.c_str());
  unlink(g_held_path.c_str());
  g_kill_point = point;
  g_dict_name = a.name();
  sync_internal::SetSyncHookForTesting(&KillInPullHook);
  pid_t pa = StartChildSync(a.name());  // the hook is inherited
  sync_internal::SetSyncHookForTesting(nullptr);
  // b's sync in a child too: this process forks a's again below, which
  // ThreadSanitizer supports only from a single-threaded process.
  StartChildSync(b.name());
  ASSERT_TRUE(a.Add("c", 1).ok());
  ASSERT_TRUE(b.Add("c", 10).ok());
  ASSERT_TRUE(Converged({&a, &b}));

  FILE* f = fopen(g_arm_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  const absl::Time deadline = absl::Now() + kConverge;
  while (access(g_held_path.c_str(), F_OK) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(access(g_held_path.c_str(), F_OK), 0);
  ASSERT_TRUE(b.Add("c", 1000).ok());
  zcipc_proc::ChildResult r = zcipc_proc::WaitChild(pa);
  children_.erase(std::remove(children_.begin(), children_.end(), pa),
                  children_.end());
  EXPECT_FALSE(r.ok()) << "the sync was to kill itself: " << r.Describe();
  std::string v;
  ASSERT_TRUE(a.Get("c", &v).ok());
  ASSERT_EQ(v, Le(value_after_kill));
  unlink(g_arm_path.c_str());
  unlink(g_held_path.c_str());

  StartChildSync(a.name());
  ASSERT_TRUE(a.Add("c", 100000).ok());
  ASSERT_TRUE(Converged({&a, &b}));
  ASSERT_TRUE(a.Get("c", &v).ok());
  EXPECT_EQ(v, Le(101011));
}

// Killed after pull applied another machine's Add and before the state
// file (which holds the counter bases) was rewritten: on restart, push reads
// the change again and must not take it for a local Add (it would send the
// other machine's delta again).
TEST_F(SyncTest, KilledRightAfterAPulledBatchDoesNotPushItAgain) {
  KillInPulledBatchAndRestart("pull_applied", 1011);
}

// Killed with the batch recorded in the state file but not made (the dict's
// writer lock held): on restart nothing of it counts as made.
TEST_F(SyncTest, KilledBeforeARecordedPulledBatchIsMadeConverges) {
  KillInPulledBatchAndRestart("pull_batch_recorded", 11);
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
  // No room to grow (the bound is rounded up to the segment as created),
  // whatever the sync's own handle says about auto_grow.
  small.max_segment_size = 1;
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
  // A full push sends the keys in the dict's order, and a reader can see a
  // pulled batch half applied: wait for both.
  while (absl::Now() < deadline &&
         !(b.Get("after", &v).ok() && b.Get("fits", &v).ok())) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(b.Get("after", &v).ok());
  EXPECT_EQ(v, "still synced");
  EXPECT_TRUE(b.Get("fits", &v).ok());
  EXPECT_TRUE(absl::IsNotFound(b.Get("too-big", &v)));
  EXPECT_GE(syncs_[1]->GetStats().skipped_values, 2u);
  EXPECT_TRUE(b.Check().ok());
}

}  // namespace
}  // namespace zcipc
