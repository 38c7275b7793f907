// RedisSync: the push and pull threads of docs/SYNC.md.

#include "zcipc/redis_sync.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sync/redis_client.h"
#include "sync/scripts.h"
#include "sync/sync_hooks.h"
#include "zcipc/options.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {

namespace sync_internal {
namespace {
std::atomic<SyncHook> g_sync_hook{nullptr};
}  // namespace

void SetSyncHookForTesting(SyncHook hook) {
  g_sync_hook.store(hook, std::memory_order_release);
}
}  // namespace sync_internal

using sync_internal::RedisAddress;
using sync_internal::RedisConnection;
using sync_internal::Reply;
using sync_internal::ReplyString;

namespace {

constexpr size_t kChangesPerScript = 256;  // changes per EVALSHA
constexpr size_t kScriptsInFlight = 8;     // pipelined EVALSHA calls
constexpr int kReadCount = 1024;           // stream entries per read
constexpr size_t kSnapshotBatch = 1024;    // snapshot entries per Write
constexpr absl::Duration kIdleWait = absl::Milliseconds(100);
// How long push lets changes gather after it was woken from an idle wait:
// each change a writer makes while push sleeps in WaitForChange costs that
// writer a futex wake, so a push that came back for every single change
// would make every Put pay one (docs/SYNC.md, "Performance").
constexpr absl::Duration kBatchDelay = absl::Microseconds(200);
constexpr absl::Duration kCommandTimeout = absl::Seconds(2);
constexpr absl::Duration kMinBackoff = absl::Milliseconds(10);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

// A stream id "ms-seq" as a comparable pair; {0, 0} for unparsable ids.
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  static StreamId Parse(absl::string_view id) {
    StreamId out;
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(id, absl::MaxSplits('-', 1));
    if (!absl::SimpleAtoi(parts.first, &out.ms) ||
        !absl::SimpleAtoi(parts.second, &out.seq)) {
      return StreamId{};
    }
    return out;
  }
  bool operator<(const StreamId& o) const {
    return ms != o.ms ? ms < o.ms : seq < o.seq;
  }
  bool operator<=(const StreamId& o) const { return !(o < *this); }
};

std::string EncodeInt64(int64_t v) {
  std::string out(8, '\0');
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  return out;
}

int64_t DecodeInt64(absl::string_view b) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) {
    u |= static_cast<uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
  }
  return static_cast<int64_t>(u);
}

// One stream entry as pull sees it.
struct Entry {
  std::string id;
  StreamId sid;
  std::string op;  // put, del, add
  std::string key;
  std::string value;
  std::string origin;
  uint64_t seq = 0;  // the origin's change number (field s)
};

// A local change push has registered and pull has not yet passed.
// A local value as push sends it. A counter (an int64-typed 8-byte value:
// what Add stores, or a typed int Put, such as a Python int) travels as a
// delta from the last value the sync saw, so that Adds on several machines
// sum; any other value travels as itself, and the last in the stream wins
// (docs/SYNC.md, "Conflicts").
struct LocalValue {
  std::string bytes;
  bool counter = false;
};

bool IsCounter(absl::string_view bytes, ValueType type) {
  return bytes.size() == 8 && type == ValueType::kInt64;
}

struct Pending {
  uint64_t seq = 0;
  bool in_stream = false;  // false: not yet acknowledged by Redis
  StreamId sid;            // its stream id once in_stream
  bool is_add = false;
  int64_t delta = 0;
};

// A test hook's point (sync/sync_hooks.h).
void HookPoint(absl::string_view origin, absl::string_view point) {
  sync_internal::SyncHook hook =
      sync_internal::g_sync_hook.load(std::memory_order_acquire);
  if (hook != nullptr) hook(origin, point);
}

// FNV-1a: a value's fingerprint in the state file (stable across processes).
uint64_t Fingerprint(absl::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A change pull makes in a batch (ApplyEntries): a put or an erase, and the
// counter base the key has after it (nullopt: none).
struct PulledOp {
  const Entry* entry;
  std::string key;
  bool put = false;
  std::string value;
  ValueType type = ValueType::kBytes;
  std::optional<int64_t> base;
};

std::string DefaultOrigin(absl::string_view dict_name) {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) strcpy(host, "host");
  return absl::StrCat(host, "/", dict_name);
}

}  // namespace

class RedisSync::Impl {
 public:
  Impl(ZeroCopyDict dict, SyncOptions options, RedisAddress address)
      : dict_(std::move(dict)),
        options_(std::move(options)),
        address_(std::move(address)) {
    const std::string tag = absl::StrCat("{", options_.prefix, "}");
    data_key_ = tag + ":data";
    log_key_ = tag + ":log";
    pos_key_ = tag + ":pos";
    nodes_key_ = tag + ":nodes";
    if (options_.origin.empty()) options_.origin = DefaultOrigin(dict_.name());
    if (options_.state_path.empty()) {
      options_.state_path =
          absl::StrCat("/dev/shm/zcipc-sync.", dict_.name(), ".",
                       absl::BytesToHexString(options_.prefix));
    }
    push_enabled_ = options_.direction != SyncDirection::kPull;
    pull_enabled_ = options_.direction != SyncDirection::kPush;
  }

  ~Impl() { Stop(); }

  void Begin() {
    LoadState();
    if (push_enabled_) {
      push_thread_ = std::thread([this] { PushMain(); });
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      push_ready_ = true;
    }
    if (pull_enabled_) pull_thread_ = std::thread([this] { PullMain(); });
  }

  void Stop() {
    if (stop_.HasBeenNotified()) return;  // stopped already (idempotent)
    stop_.Notify();
    if (push_thread_.joinable()) push_thread_.join();
    if (pull_thread_.joinable()) pull_thread_.join();
    std::unique_lock<std::mutex> lock(mu_);
    SaveStateLocked();
  }

  SyncStats GetStats() const {
    std::unique_lock<std::mutex> lock(mu_);
    SyncStats s = stats_;
    s.local_seq = dict_.ChangeSeq();
    s.pushed_seq = cursor_;
    s.push_lag =
        push_enabled_ && s.local_seq > cursor_ ? s.local_seq - cursor_ : 0;
    s.push_lag_ms =
        s.push_lag > 0 && behind_since_ != absl::InfiniteFuture()
            ? absl::ToDoubleMilliseconds(absl::Now() - behind_since_)
            : 0;
    s.pull_position = pull_pos_;
    s.connected = (!push_enabled_ || push_connected_) &&
                  (!pull_enabled_ || pull_connected_);
    return s;
  }

 private:
  // ---- shared helpers ----

  void SetError(const absl::Status& status) {
    std::unique_lock<std::mutex> lock(mu_);
    if (stats_.last_error != status.ToString()) {
      fprintf(stderr, "zcipc sync %s: %s\n", dict_.name().c_str(),
              status.ToString().c_str());
    }
    stats_.last_error = status.ToString();
  }

  // Connects with backoff until connected or stopped (nullptr).
  std::unique_ptr<RedisConnection> ConnectWithBackoff(
      std::vector<std::string>* shas, bool* had_failure) {
    absl::Duration backoff = kMinBackoff;
    while (!stop_.HasBeenNotified()) {
      absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
          sync_internal::ConnectToKeyOwner(address_, kCommandTimeout,
                                           data_key_);
      absl::Status status = conn.status();
      if (status.ok()) {
        shas->clear();
        for (const char* script :
             {sync_internal::kPushScript, sync_internal::kSnapshotScript,
              sync_internal::kReadScript}) {
          absl::StatusOr<std::string> sha = (*conn)->LoadScript(script);
          if (!sha.ok()) {
            status = sha.status();
            break;
          }
          shas->push_back(*sha);
        }
      }
      if (status.ok()) {
        if (*had_failure) {
          std::unique_lock<std::mutex> lock(mu_);
          ++stats_.reconnects;
        }
        return *std::move(conn);
      }
      *had_failure = true;
      SetError(status);
      stop_.WaitForNotificationWithTimeout(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    return nullptr;
  }

  // Every second, the publishing thread (push's, or pull's when pull runs
  // alone) writes this node's stats to {P}:nodes[origin] as JSON, for
  // `zcipc sync --status`. A failure is the session's failure.
  absl::Status MaybePublish(RedisConnection* conn) {
    const absl::Time now = absl::Now();
    if (now - last_publish_ < absl::Seconds(1)) return absl::OkStatus();
    last_publish_ = now;
    SyncStats st = GetStats();
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    nlohmann::json j = {
        {"origin", options_.origin},
        {"dict", dict_.name()},
        {"host", host},
        {"pid", static_cast<int64_t>(getpid())},
        {"time_ms", absl::ToUnixMillis(now)},
        {"direction", options_.direction == SyncDirection::kBoth   ? "both"
                      : options_.direction == SyncDirection::kPush ? "push"
                                                                   : "pull"},
        {"pushed", st.pushed},
        {"pulled", st.pulled},
        {"skipped_values", st.skipped_values},
        {"push_resyncs", st.push_resyncs},
        {"pull_resyncs", st.pull_resyncs},
        {"reconnects", st.reconnects},
        {"local_seq", st.local_seq},
        {"pushed_seq", st.pushed_seq},
        {"push_lag", st.push_lag},
        {"push_lag_ms", st.push_lag_ms},
        {"pull_lag", st.pull_lag},
        {"pull_lag_ms", st.pull_lag_ms},
        {"pull_position", st.pull_position},
        {"last_error", st.last_error},
    };
    absl::StatusOr<Reply> r = conn->Command(
        {"HSET", nodes_key_, options_.origin,
         j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
    return r.status();
  }

  // ---- push ----

  // One EVALSHA's worth of changes.
  struct PushCall {
    std::vector<std::string> args;
    std::vector<std::pair<std::string, uint64_t>> keys;  // (key, seq)
    uint64_t last_seq = 0;  // the position the call records
  };

  PushCall NewCall(const std::string& sha) const {
    PushCall call;
    call.args = {"EVALSHA",
                 sha,
                 "3",
                 data_key_,
                 log_key_,
                 pos_key_,
                 options_.origin,
                 absl::StrCat(options_.stream_max_len),
                 "",
                 session_token_};
    return call;
  }

  // Sends the calls pipelined; on success records the stream ids of the
  // pending entries and advances cursor_.
  absl::Status SendCalls(RedisConnection* conn, std::deque<PushCall>* calls) {
    size_t in_flight = 0;  // the first calls of *calls, sent
    while (!calls->empty()) {
      // A sliding window: up to kScriptsInFlight calls wait for replies.
      size_t want = std::min(calls->size(), kScriptsInFlight);
      if (in_flight < want) {
        // Counted before any byte can reach Redis: a snapshot whose reply
        // pull has before this count grows cannot hold these calls.
        std::unique_lock<std::mutex> lock(mu_);
        calls_sent_ += want - in_flight;
      }
      for (; in_flight < want; ++in_flight) {
        conn->Append((*calls)[in_flight].args);
      }
      {
        absl::StatusOr<Reply> reply = conn->GetReply();
        if (!reply.ok()) return reply.status();
        HookPoint(options_.origin, "push_reply");
        const PushCall& call = calls->front();
        std::unique_lock<std::mutex> lock(mu_);
        redisReply* r = reply->get();
        for (size_t j = 0; j < call.keys.size() &&
                           r->type == REDIS_REPLY_ARRAY && j < r->elements;
             ++j) {
          auto it = pending_.find(call.keys[j].first);
          if (it == pending_.end()) continue;
          for (Pending& p : it->second) {
            if (p.seq == call.keys[j].second && !p.in_stream) {
              p.in_stream = true;
              p.sid = StreamId::Parse(ReplyString(r->element[j]));
            }
          }
          if (!pull_enabled_) {  // nobody else forgets them
            auto& v = it->second;
            v.erase(
                std::remove_if(v.begin(), v.end(),
                               [](const Pending& p) { return p.in_stream; }),
                v.end());
            if (v.empty()) pending_.erase(it);
          }
        }
        stats_.pushed += call.keys.size();
        ++calls_answered_;
        frontier_cv_.notify_all();  // a snapshot may wait for this reply
        if (call.last_seq > cursor_) cursor_ = call.last_seq;
        if (cursor_ >= dict_.ChangeSeq())
          behind_since_ = absl::InfiniteFuture();
        calls->pop_front();
        --in_flight;
        MaybeSaveStateLocked();
      }
    }
    return absl::OkStatus();
  }

  // Registers one key's current local value as a pending change and adds it
  // to `call`. `resync`: a full push (see "radd" in sync/scripts.h).
  void AddKeyLocked(PushCall* call, const std::string& key, uint64_t seq,
                    const std::optional<LocalValue>& value, bool resync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Pending p;
    p.seq = seq;
    if (!value.has_value()) {
      call->args.insert(call->args.end(), {"del", key, "", absl::StrCat(seq)});
      EraseBaseLocked(key);
    } else if (value->counter) {
      // A counter: the delta from the last value the sync saw (0 when it saw
      // none: the key was absent or not 8 bytes long). A resync sends the
      // value too: Redis stores it if it has no counter under the key.
      auto base = bases_.find(key);
      const int64_t before = base == bases_.end() ? 0 : base->second;
      const int64_t now = DecodeInt64(value->bytes);
      p.is_add = true;
      p.delta = static_cast<int64_t>(static_cast<uint64_t>(now) -
                                     static_cast<uint64_t>(before));
      if (resync) {
        call->args.insert(call->args.end(),
                          {"radd", key, value->bytes + EncodeInt64(p.delta),
                           absl::StrCat(seq)});
      } else {
        call->args.insert(call->args.end(), {"add", key, EncodeInt64(p.delta),
                                             absl::StrCat(seq)});
      }
      SetBaseLocked(key, now);
    } else {
      call->args.insert(call->args.end(),
                        {"put", key, value->bytes, absl::StrCat(seq)});
      EraseBaseLocked(key);
    }
    call->keys.emplace_back(key, seq);
    pending_[key].push_back(p);
  }

  // The current value of `key` (nullopt if absent).
  absl::StatusOr<std::optional<LocalValue>> CurrentValue(
      const std::string& key) {
    LocalValue value;
    ValueType type = ValueType::kBytes;
    absl::Status s = dict_.Get(key, &value.bytes, &type);
    if (absl::IsNotFound(s)) return std::optional<LocalValue>();
    if (!s.ok()) return s;
    value.counter = IsCounter(value.bytes, type);
    return std::optional<LocalValue>(std::move(value));
  }

  // Pushes every local entry as a put; the position becomes the ChangeSeq()
  // read before the scan.
  absl::Status FullPush(RedisConnection* conn, const std::string& sha) {
    const uint64_t start = dict_.ChangeSeq();
    std::vector<std::pair<std::string, std::optional<LocalValue>>> entries;
    absl::Status s = dict_.ForEachTyped(
        [&](absl::string_view k, absl::string_view v, ValueType type) {
          entries.emplace_back(std::string(k),
                               LocalValue{std::string(v), IsCounter(v, type)});
        });
    if (!s.ok()) return s;
    std::deque<PushCall> calls;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++stats_.push_resyncs;
      calls.push_back(NewCall(sha));
      for (const auto& [k, v] : entries) {
        if (calls.back().keys.size() >= kChangesPerScript) {
          calls.push_back(NewCall(sha));
        }
        AddKeyLocked(&calls.back(), k, start, v, /*resync=*/true);
      }
      calls.back().last_seq = start;
      calls.back().args[8] = absl::StrCat(start);
      frontier_ = start;
      SaveStateLocked();
      // Keys erased here while the change log lost track are still in
      // Redis: a snapshot brings them back (never a key lost).
      resnapshot_ = pull_enabled_;
      frontier_cv_.notify_all();
    }
    return SendCalls(conn, &calls);
  }

  // Pushes the keys pull found only locally after a snapshot.
  absl::Status PushForcedKeys(RedisConnection* conn, const std::string& sha) {
    std::deque<PushCall> calls;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (forced_keys_.empty()) return absl::OkStatus();
      std::vector<std::string> keys;
      keys.swap(forced_keys_);
      calls.push_back(NewCall(sha));
      for (const std::string& k : keys) {
        absl::StatusOr<std::optional<LocalValue>> v = CurrentValue(k);
        if (!v.ok()) return v.status();
        if (!v->has_value()) continue;  // erased meanwhile: that change follows
        if (calls.back().keys.size() >= kChangesPerScript) {
          calls.push_back(NewCall(sha));
        }
        AddKeyLocked(&calls.back(), k, 0, *v, /*resync=*/true);
      }
      // The counter deltas about to be sent go to the state file first, as
      // for every push: else a sync killed after Redis ran them would send
      // them again on restart.
      MaybeSaveStateLocked();
    }
    return SendCalls(conn, &calls);
  }

  // One session: bootstrap from {P}:pos, then follow the change feed until
  // an error or Stop.
  absl::Status PushSession(RedisConnection* conn, const std::string& sha) {
    session_token_ =
        absl::StrCat(getpid(), "-", absl::ToUnixNanos(absl::Now()));
    absl::StatusOr<Reply> pos =
        conn->Command({"EVAL", sync_internal::kSessionScript, "1", pos_key_,
                       options_.origin, session_token_});
    if (!pos.ok()) return pos.status();
    uint64_t start = 0;
    bool have = (*pos)->type == REDIS_REPLY_STRING &&
                absl::SimpleAtoi(ReplyString(pos->get()), &start) &&
                start <= dict_.ChangeSeq();
    {
      std::unique_lock<std::mutex> lock(mu_);
      SettleInflightLocked(start, have);
    }
    if (!have) {
      absl::Status s = FullPush(conn, sha);
      if (!s.ok()) return s;
    } else {
      // Changes after `start` are read (and registered) again.
      std::unique_lock<std::mutex> lock(mu_);
      cursor_ = start;
      frontier_ = start;
      frontier_cv_.notify_all();
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      push_ready_ = true;
      push_connected_ = true;
      frontier_cv_.notify_all();
    }
    uint64_t read_pos;
    {
      std::unique_lock<std::mutex> lock(mu_);
      read_pos = cursor_;
    }
    while (!stop_.HasBeenNotified()) {
      HookPoint(options_.origin, "push_loop");
      absl::Status s = PushForcedKeys(conn, sha);
      if (!s.ok()) return s;
      s = MaybePublish(conn);
      if (!s.ok()) return s;
      uint64_t now = dict_.ChangeSeq();
      if (now <= read_pos) {
        absl::StatusOr<uint64_t> w = dict_.WaitForChange(read_pos, kIdleWait);
        if (!w.ok() && !absl::IsDeadlineExceeded(w.status())) return w.status();
        if (w.ok()) absl::SleepFor(kBatchDelay);  // let a batch gather
        continue;
      }
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (behind_since_ == absl::InfiniteFuture())
          behind_since_ = absl::Now();
      }
      std::vector<std::pair<uint64_t, std::string>> changes;  // (seq, key)
      absl::StatusOr<uint64_t> last =
          dict_.ReadChanges(read_pos, [&](const Change& c) {
            changes.emplace_back(c.seq, std::string(c.key));
          });
      if (!last.ok()) {
        if (GetErrorKind(last.status()) == ErrorKind::kChangesLost) {
          absl::Status f = FullPush(conn, sha);
          if (!f.ok()) return f;
          std::unique_lock<std::mutex> lock(mu_);
          read_pos = cursor_;
          continue;
        }
        return last.status();
      }
      if (*last == read_pos) continue;
      // Coalesce: the last local (not pull-applied) change of each key.
      absl::flat_hash_map<absl::string_view, uint64_t> last_of_key;
      {
        std::unique_lock<std::mutex> lock(mu_);
        for (const auto& [seq, key] : changes) {
          if (IsPulledLocked(seq)) continue;
          last_of_key[key] = seq;
        }
      }
      // Registered and sent in chunks of a window's worth of calls, so that
      // Redis works on the first while push reads the values of the next.
      size_t i = 0;
      while (i < changes.size()) {
        std::deque<PushCall> calls;
        {
          std::unique_lock<std::mutex> lock(mu_);
          calls.push_back(NewCall(sha));
          size_t registered = 0;
          for (; i < changes.size() &&
                 registered < kChangesPerScript * kScriptsInFlight;
               ++i) {
            const auto& [seq, key] = changes[i];
            auto it = last_of_key.find(key);
            if (it == last_of_key.end() || it->second != seq) continue;
            absl::StatusOr<std::optional<LocalValue>> v = CurrentValue(key);
            if (!v.ok()) return v.status();
            if (calls.back().keys.size() >= kChangesPerScript) {
              calls.push_back(NewCall(sha));
            }
            calls.back().last_seq = seq;
            calls.back().args[8] = absl::StrCat(seq);
            AddKeyLocked(&calls.back(), key, seq, *v, /*resync=*/false);
            ++registered;
          }
          // The chunk's last call records the range it covers, pulled and
          // coalesced changes included (a key's earlier change is covered
          // by its last, which stays after frontier_ until registered).
          const uint64_t end =
              i < changes.size() ? changes[i - 1].first : *last;
          calls.back().last_seq = end;
          calls.back().args[8] = absl::StrCat(end);
          if (end > frontier_) frontier_ = end;
          frontier_cv_.notify_all();
          MaybeSaveStateLocked();  // the deltas about to be sent
        }
        absl::Status sent = SendCalls(conn, &calls);
        if (!sent.ok()) return sent;
      }
      read_pos = *last;
    }
    return absl::OkStatus();
  }

  void PushMain() {
    std::vector<std::string> shas;
    bool had_failure = false;
    while (!stop_.HasBeenNotified()) {
      std::unique_ptr<RedisConnection> conn =
          ConnectWithBackoff(&shas, &had_failure);
      if (conn == nullptr) break;
      absl::Status s = PushSession(conn.get(), shas[0]);
      {
        // Changes sent without an answer are read again from Redis's
        // position: forget them (pull must not wait on them forever).
        std::unique_lock<std::mutex> lock(mu_);
        push_connected_ = false;
        // The calls without an answer are settled by the next session;
        // a snapshot waiting for them is taken again (Snapshot).
        calls_answered_ = calls_sent_;
        ++push_sessions_ended_;
        frontier_cv_.notify_all();
        // Pull waits (ApplyEntries) until the next session has read Redis's
        // position and set the frontier from it.
        frontier_ = cursor_;
        for (auto it = pending_.begin(); it != pending_.end();) {
          auto& v = it->second;
          // A counter's base goes back by the deltas Redis did not confirm,
          // so that reading those changes again sends them again, unless
          // Redis ran them after all.
          // The next session settles them against Redis's position, as
          // after a restart (SettleInflightLocked): a call Redis ran before
          // the new session began counts, a later one is refused (STALE).
          for (const Pending& p : v) {
            if (p.in_stream || !p.is_add) continue;
            auto base = bases_.find(it->first);
            if (base != bases_.end()) {
              base->second =
                  static_cast<int64_t>(static_cast<uint64_t>(base->second) -
                                       static_cast<uint64_t>(p.delta));
            }
            loaded_inflight_.push_back({p.seq, it->first, p.delta});
          }
          v.erase(std::remove_if(v.begin(), v.end(),
                                 [](const Pending& p) { return !p.in_stream; }),
                  v.end());
          if (v.empty()) {
            pending_.erase(it++);
          } else {
            ++it;
          }
        }
      }
      if (!s.ok()) {
        had_failure = true;
        SetError(s);
        stop_.WaitForNotificationWithTimeout(kMinBackoff);
      }
    }
  }

  // ---- pull ----

  // Whether change `seq` was made by pull (and forgets older records).
  bool IsPulledLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!pulled_.empty() && pulled_.front().second < seq)
      pulled_.pop_front();
    return !pulled_.empty() && pulled_.front().first <= seq;
  }

  void LogSkipped(const Entry& e, const absl::Status& why) const {
    fprintf(stderr,
            "zcipc sync %s: skipped a value from %s (key of %zu bytes, value "
            "of %zu bytes): %s\n",
            dict_.name().c_str(), e.origin.c_str(), e.key.size(),
            e.value.size(), why.ToString().c_str());
  }

  // Applies entries in order under the writer lock, once push has registered
  // every local change. Returns the number applied (stored or erased).
  absl::Status ApplyEntries(const std::vector<Entry>& entries, bool snapshot) {
    std::unique_lock<std::mutex> lock(mu_);
    // Between two push sessions the changes push sent without an answer may
    // or may not be in Redis (the next session learns which from {P}:pos):
    // taken as unread local changes, they would make pull skip later entries
    // of their keys for good, as the new session does not send again what
    // Redis ran. So pull applies nothing until push has a session again.
    while (push_enabled_ && !push_connected_) {
      if (stop_.HasBeenNotified()) return absl::CancelledError("stopped");
      frontier_cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    uint64_t applied = 0, skipped = 0;
    uint64_t first = 0;
    absl::Status status = dict_.Write([&](Batch& batch) -> absl::Status {
      // With the writer lock held no local change can start. The changes
      // after frontier_ that pull did not make are local changes push has
      // not read yet: they are newer than any entry here.
      const uint64_t cs = dict_.ChangeSeq();
      first = cs + 1;
      // (Only the batch's keys matter: push may be far behind.)
      absl::flat_hash_set<std::string> unread;
      if (push_enabled_ && cs > frontier_) {
        absl::flat_hash_set<absl::string_view> keys;
        for (const Entry& e : entries) keys.insert(e.key);
        absl::StatusOr<uint64_t> r =
            dict_.ReadChanges(frontier_, [&](const Change& c) {
              if (keys.contains(c.key) && !IsPulledPeekLocked(c.seq)) {
                unread.emplace(c.key);
              }
            });
        if (!r.ok()) {
          return r.status();  // kChangesLost: push resyncs; pull retries
        }
      }
      // Pass 1 decides every entry against the local state as the earlier
      // entries of the batch leave it (the overlays); pass 2 makes the
      // changes. In between, the state file records the batch's intent (the
      // keys it changes, in order, and the counter bases they set), so that
      // a sync killed before the state file is rewritten knows on restart
      // which changes after `first` were pull's (LoadState): else push
      // would take them for local Adds and send another machine's deltas
      // again.
      struct LocalState {
        bool present = false;
        std::string value;
        ValueType type = ValueType::kBytes;
      };
      absl::flat_hash_map<std::string, LocalState> values;  // planned
      absl::flat_hash_map<std::string, size_t> last_op;     // key -> op
      std::vector<PulledOp> ops;
      auto get = [&](const std::string& key, LocalState* out) -> absl::Status {
        auto it = values.find(key);
        if (it != values.end()) {
          *out = it->second;
          return out->present ? absl::OkStatus()
                              : absl::NotFoundError("erased in this batch");
        }
        out->present = false;
        absl::Status g = batch.Get(key, &out->value, &out->type);
        out->present = g.ok();
        return g;
      };
      auto base_of = [&](const std::string& key) -> int64_t {
        auto op = last_op.find(key);
        if (op != last_op.end()) {
          const PulledOp& o = ops[op->second];
          return o.base.has_value() ? *o.base : 0;
        }
        auto it = bases_.find(key);
        return it == bases_.end() ? 0 : it->second;
      };
      // The base after this entry: carried by the key's last op of the
      // batch if any (it holds only if that change is made), else set now.
      auto set_base = [&](const std::string& key, std::optional<int64_t> base) {
        auto op = last_op.find(key);
        if (op != last_op.end()) {
          ops[op->second].base = base;
        } else if (base.has_value()) {
          SetBaseLocked(key, *base);
        } else {
          EraseBaseLocked(key);
        }
      };
      for (const Entry& e : entries) {
        bool any_newer = false;
        bool newer_local_put = false;
        int64_t later_deltas = 0;
        auto pit = pending_.find(e.key);
        if (pit != pending_.end() && e.origin == options_.origin) {
          // Our own entry, maybe before push has its reply: place it.
          for (Pending& p : pit->second) {
            if (!p.in_stream && p.seq == e.seq) {
              p.in_stream = true;
              p.sid = e.sid;
              break;
            }
          }
        }
        if (pit != pending_.end()) {
          for (const Pending& p : pit->second) {
            if (p.in_stream && p.sid <= e.sid) continue;
            any_newer = true;
            if (p.is_add) {
              later_deltas =
                  static_cast<int64_t>(static_cast<uint64_t>(later_deltas) +
                                       static_cast<uint64_t>(p.delta));
            } else {
              newer_local_put = true;
            }
          }
        }
        bool is_add = e.op == "add" && e.value.size() == 8;
        const bool unread_local = unread.contains(e.key);
        LocalState cur;
        absl::Status g = get(e.key, &cur);
        // A snapshot's 8-byte value under a local counter is the counter's
        // value in Redis: applied like an add entry's (the local deltas
        // that are not in the snapshot stay on top), not skipped, since
        // skipping drops the other machines' deltas it holds.
        if (snapshot && e.value.size() == 8 && g.ok() &&
            IsCounter(cur.value, cur.type)) {
          is_add = true;
        }
        if (newer_local_put || (!is_add && (any_newer || unread_local))) {
          continue;  // a newer local change wins
        }
        const bool present = g.ok();
        if (absl::IsInvalidArgument(g)) {  // a key over kMaxKeySize
          ++skipped;
          LogSkipped(e, g);
          continue;
        }
        if (!present && !absl::IsNotFound(g)) return g;
        const std::string& current = cur.value;
        if (e.op == "del" && !is_add) {
          if (!present) continue;
          last_op[e.key] = ops.size();
          ops.push_back(
              {&e, e.key, false, "", ValueType::kBytes, std::nullopt});
          values[e.key] = LocalState{};
          continue;
        }
        std::string target = e.value;
        int64_t unread_delta = 0;
        if (is_add) {
          if (unread_local) {
            // Keep the local Adds push has not read: they stay the
            // difference between the value and its base.
            if (!present || current.size() != 8) continue;
            unread_delta = static_cast<int64_t>(
                static_cast<uint64_t>(DecodeInt64(current)) -
                static_cast<uint64_t>(base_of(e.key)));
          }
          target = EncodeInt64(
              static_cast<int64_t>(static_cast<uint64_t>(DecodeInt64(e.value)) +
                                   static_cast<uint64_t>(later_deltas) +
                                   static_cast<uint64_t>(unread_delta)));
        }
        std::optional<int64_t> base;
        if (target.size() == 8) {
          base =
              static_cast<int64_t>(static_cast<uint64_t>(DecodeInt64(target)) -
                                   static_cast<uint64_t>(unread_delta));
        }
        if (present && current == target) {
          set_base(e.key, base);
          continue;
        }
        // A counter stays an int64 here too (so this machine's Adds and
        // pushes treat it as one); other values arrive as bytes.
        const ValueType type = is_add ? ValueType::kInt64 : ValueType::kBytes;
        last_op[e.key] = ops.size();
        ops.push_back({&e, e.key, true, target, type, base});
        values[e.key] = LocalState{true, std::move(target), type};
      }
      if (ops.empty()) return absl::OkStatus();
      // The intent, when the batch changes a counter base (only counters
      // need it: a put pushed again after a restart is the same value).
      bool touches_bases = false;
      for (const PulledOp& o : ops) {
        if (o.base.has_value() || bases_.contains(o.key)) touches_bases = true;
      }
      if (touches_bases) {
        intent_first_ = first;
        intent_ = &ops;
        SaveStateLocked();
        intent_ = nullptr;
        HookPoint(options_.origin, "pull_batch_recorded");
      }
      // Pass 2.
      for (const PulledOp& o : ops) {
        absl::Status w =
            o.put ? batch.Put(o.key, o.value, o.type) : batch.Erase(o.key);
        if (w.ok()) {
          ++applied;
          if (o.base.has_value()) {
            SetBaseLocked(o.key, *o.base);
          } else {
            EraseBaseLocked(o.key);
          }
        } else {
          ++skipped;
          LogSkipped(*o.entry, w);
        }
      }
      if (touches_bases) SaveStateLocked();  // the intent is done
      return absl::OkStatus();
    });
    if (applied > 0) {
      // Pull's changes are contiguous: no other writer ran meanwhile.
      pulled_.emplace_back(first, first + applied - 1);
      if (push_enabled_ && frontier_ == first - 1) {
        frontier_ = first + applied - 1;
      }
    }
    if (!status.ok()) return status;
    stats_.pulled += entries.size();
    stats_.skipped_values += skipped;
    if (snapshot || entries.empty()) return absl::OkStatus();
    // Forget the pending changes pull has now passed: those of the keys in
    // this batch, and every 64 batches all of them.
    const StreamId& last = entries.back().sid;
    auto prune = [&](absl::flat_hash_map<std::string,
                                         std::vector<Pending>>::iterator it) {
      auto& v = it->second;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](const Pending& p) {
                               return p.in_stream && p.sid <= last;
                             }),
              v.end());
      if (v.empty()) pending_.erase(it);
    };
    if (++batches_ % 64 == 0) {
      for (auto it = pending_.begin(); it != pending_.end();) prune(it++);
    } else {
      for (const Entry& e : entries) {
        auto it = pending_.find(e.key);
        if (it != pending_.end()) prune(it);
      }
    }
    return absl::OkStatus();
  }

  // Whether pull made change `seq` (without forgetting older records).
  bool IsPulledPeekLocked(uint64_t seq) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [lo, hi] : pulled_) {
      if (seq < lo) return false;
      if (seq <= hi) return true;
    }
    return false;
  }

  // Loads {P}:data at a stream position; keys only local go to push.
  absl::Status Snapshot(RedisConnection* conn, const std::string& sha) {
    absl::StatusOr<Reply> r;
    // Settle the push calls whose replies push has not processed: those
    // sent before the snapshot's reply arrived may have run before the
    // snapshot, and only their stream ids (from their replies) tell. Calls
    // sent later run after it. If push's session ends first, the answers
    // never come: the next session settles them against {P}:pos and the
    // snapshot is taken again.
    for (;;) {
      uint64_t sessions_ended;
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (push_enabled_ && !push_connected_) {
          if (stop_.HasBeenNotified()) return absl::CancelledError("stopped");
          frontier_cv_.wait_for(lock, std::chrono::milliseconds(20));
        }
        sessions_ended = push_sessions_ended_;
      }
      r = conn->Command({"EVALSHA", sha, "2", data_key_, log_key_});
      if (!r.ok()) return r.status();
      HookPoint(options_.origin, "pull_snapshot");
      std::unique_lock<std::mutex> lock(mu_);
      const uint64_t sent = calls_sent_;
      while (push_enabled_ && push_sessions_ended_ == sessions_ended &&
             calls_answered_ < sent) {
        if (stop_.HasBeenNotified()) return absl::CancelledError("stopped");
        frontier_cv_.wait_for(lock, std::chrono::milliseconds(20));
      }
      if (!push_enabled_ || push_sessions_ended_ == sessions_ended) break;
    }
    redisReply* top = r->get();
    if (top->type != REDIS_REPLY_ARRAY || top->elements != 2 ||
        top->element[1]->type != REDIS_REPLY_ARRAY) {
      return absl::InternalError("Redis: unexpected snapshot reply");
    }
    std::string id(ReplyString(top->element[0]));
    StreamId sid = StreamId::Parse(id);
    redisReply* hash = top->element[1];
    absl::flat_hash_map<std::string, bool> remote;
    std::vector<Entry> batch;
    for (size_t i = 0; i + 1 < hash->elements; i += 2) {
      Entry e;
      e.id = id;
      e.sid = sid;
      e.op = "put";
      e.key = std::string(ReplyString(hash->element[i]));
      e.value = std::string(ReplyString(hash->element[i + 1]));
      e.origin = "snapshot";
      remote[e.key] = true;
      batch.push_back(std::move(e));
      if (batch.size() >= kSnapshotBatch) {
        absl::Status s = ApplyEntries(batch, /*snapshot=*/true);
        if (!s.ok()) return s;
        batch.clear();
      }
    }
    absl::Status s = ApplyEntries(batch, /*snapshot=*/true);
    if (!s.ok()) return s;
    std::vector<std::string> local_only;
    s = dict_.ForEach([&](absl::string_view k, absl::string_view) {
      if (!remote.contains(k)) local_only.emplace_back(k);
    });
    if (!s.ok()) return s;
    std::unique_lock<std::mutex> lock(mu_);
    ++stats_.pull_resyncs;
    if (push_enabled_) {
      forced_keys_.insert(forced_keys_.end(), local_only.begin(),
                          local_only.end());
    }
    pull_pos_ = id;
    SaveStateLocked();
    return absl::OkStatus();
  }

  absl::Status PullSession(RedisConnection* conn,
                           const std::vector<std::string>& shas) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!push_ready_) {
        if (stop_.HasBeenNotified()) return absl::CancelledError("stopped");
        frontier_cv_.wait_for(lock, std::chrono::milliseconds(20));
      }
      pull_connected_ = true;
    }
    std::string pos;
    {
      std::unique_lock<std::mutex> lock(mu_);
      pos = pull_pos_;
    }
    if (pos.empty()) {
      absl::Status s = Snapshot(conn, shas[1]);
      if (!s.ok()) return s;
      std::unique_lock<std::mutex> lock(mu_);
      pos = pull_pos_;
    }
    while (!stop_.HasBeenNotified()) {
      bool resnapshot;
      {
        std::unique_lock<std::mutex> lock(mu_);
        resnapshot = resnapshot_;
        resnapshot_ = false;
      }
      if (resnapshot) {
        absl::Status s = Snapshot(conn, shas[1]);
        if (!s.ok()) return s;
        std::unique_lock<std::mutex> lock(mu_);
        pos = pull_pos_;
      }
      HookPoint(options_.origin, "pull_read");
      absl::StatusOr<Reply> r = conn->Command(
          {"EVALSHA", shas[2], "1", log_key_, pos, absl::StrCat(kReadCount)});
      if (!r.ok()) return r.status();
      redisReply* top = r->get();
      if (top->type != REDIS_REPLY_ARRAY || top->elements < 1) {
        return absl::InternalError("Redis: unexpected read reply");
      }
      if (ReplyString(top->element[0]) == "gap") {
        absl::Status s = Snapshot(conn, shas[1]);
        if (!s.ok()) return s;
        std::unique_lock<std::mutex> lock(mu_);
        pos = pull_pos_;
        continue;
      }
      if (top->elements != 3)
        return absl::InternalError("Redis: bad read reply");
      if (!push_enabled_) {
        absl::Status p = MaybePublish(conn);
        if (!p.ok()) return p;
      }
      redisReply* items = top->element[1];
      std::vector<Entry> entries;
      for (size_t i = 0; i < items->elements; ++i) {
        redisReply* item = items->element[i];
        if (item->type != REDIS_REPLY_ARRAY || item->elements != 2) continue;
        Entry e;
        e.id = std::string(ReplyString(item->element[0]));
        e.sid = StreamId::Parse(e.id);
        redisReply* fields = item->element[1];
        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
          absl::string_view name = ReplyString(fields->element[f]);
          absl::string_view val = ReplyString(fields->element[f + 1]);
          if (name == "k") e.key = std::string(val);
          if (name == "op") e.op = std::string(val);
          if (name == "v") e.value = std::string(val);
          if (name == "o") e.origin = std::string(val);
          if (name == "s" && !absl::SimpleAtoi(val, &e.seq)) e.seq = 0;
        }
        entries.push_back(std::move(e));
      }
      if (entries.empty()) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          stats_.pull_lag = 0;
          stats_.pull_lag_ms = 0;
        }
        absl::StatusOr<Reply> w =
            conn->Command({"XREAD", "COUNT", "1", "BLOCK",
                           absl::StrCat(absl::ToInt64Milliseconds(kIdleWait)),
                           "STREAMS", log_key_, pos});
        if (!w.ok()) return w.status();
        continue;
      }
      absl::Status s = ApplyEntries(entries, /*snapshot=*/false);
      if (!s.ok()) return s;
      HookPoint(options_.origin, "pull_applied");
      pos = entries.back().id;
      StreamId last = StreamId::Parse(ReplyString(top->element[2]));
      std::unique_lock<std::mutex> lock(mu_);
      pull_pos_ = pos;
      if (entries.back().sid < last) {
        stats_.pull_lag =
            items->elements == static_cast<size_t>(kReadCount) ? kReadCount : 1;
        int64_t now_ms = absl::ToUnixMillis(absl::Now());
        stats_.pull_lag_ms = std::max<double>(
            0, now_ms - static_cast<int64_t>(entries.back().sid.ms));
      } else {
        stats_.pull_lag = 0;
        stats_.pull_lag_ms = 0;
      }
      MaybeSaveStateLocked();
    }
    return absl::OkStatus();
  }

  void PullMain() {
    std::vector<std::string> shas;
    bool had_failure = false;
    while (!stop_.HasBeenNotified()) {
      std::unique_ptr<RedisConnection> conn =
          ConnectWithBackoff(&shas, &had_failure);
      if (conn == nullptr) break;
      absl::Status s = PullSession(conn.get(), shas);
      {
        std::unique_lock<std::mutex> lock(mu_);
        pull_connected_ = false;
      }
      if (!s.ok() && !absl::IsCancelled(s)) {
        had_failure = true;
        SetError(s);
        stop_.WaitForNotificationWithTimeout(kMinBackoff);
      }
    }
  }

  // ---- state file ----

  void LoadState() {
    std::ifstream in(options_.state_path);
    if (!in) return;
    nlohmann::json j =
        nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("dict_seq") ||
        !j["dict_seq"].is_number_unsigned() || !j.contains("pull_pos") ||
        !j["pull_pos"].is_string()) {
      fprintf(stderr, "zcipc sync %s: ignoring the unreadable state file %s\n",
              dict_.name().c_str(), options_.state_path.c_str());
      return;
    }
    if (j["dict_seq"].get<uint64_t>() > dict_.ChangeSeq()) {
      fprintf(stderr,
              "zcipc sync %s: the state file %s belongs to an earlier dict of "
              "this name: ignored (full resync)\n",
              dict_.name().c_str(), options_.state_path.c_str());
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (pull_enabled_) pull_pos_ = j["pull_pos"].get<std::string>();
    if (j.contains("bases") && j["bases"].is_object()) {
      for (const auto& [k, v] : j["bases"].items()) {
        std::string key;
        if (!v.is_number_integer() || !absl::Base64Unescape(k, &key)) continue;
        bases_[key] = v.get<int64_t>();
      }
    }
    if (j.contains("pull_batch")) LoadPullBatchLocked(j["pull_batch"]);
    if (j.contains("inflight") && j["inflight"].is_array()) {
      for (const auto& f : j["inflight"]) {
        std::string key;
        if (!f.is_array() || f.size() != 3 || !f[0].is_number_unsigned() ||
            !f[1].is_string() || !f[2].is_number_integer() ||
            !absl::Base64Unescape(f[1].get<std::string>(), &key)) {
          continue;
        }
        loaded_inflight_.push_back(
            {f[0].get<uint64_t>(), std::move(key), f[2].get<int64_t>()});
      }
    }
  }

  // A pull batch the last run recorded before making its changes
  // (ApplyEntries) and did not finish: the run died inside the batch's
  // Write, after the ops that returned OK (kept) and before the rest (never
  // made; Batch's contract). Its changes are thus a prefix of the batch's
  // from its first change number on; the writers after the repair follow.
  // The change i after it is taken as the batch's change i when its key
  // and kind (put or erase) are those of the batch's and, if no later change
  // of that key follows, the key still holds the value the batch was to
  // store. Those changes are marked pulled (push does not send them) and
  // their bases hold; the first change that does not match, and every later
  // one, is local. (Not exact in two rare cases: a batch change that failed
  // (a full heap) ends the match early, and a local write after the repair
  // that repeats the batch's next change in key and kind and is not that
  // key's last change counts as the batch's.)
  void LoadPullBatchLocked(const nlohmann::json& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!batch.is_object() || !batch.contains("first") ||
        !batch["first"].is_number_unsigned() || !batch.contains("ops") ||
        !batch["ops"].is_array()) {
      return;
    }
    const uint64_t first = batch["first"].get<uint64_t>();
    struct Op {
      std::string key;
      std::optional<int64_t> base;
      std::optional<uint64_t> value;  // fingerprint; nullopt: an erase
    };
    std::vector<Op> ops;
    for (const auto& o : batch["ops"]) {
      Op op;
      if (!o.is_array() || o.size() != 3 || !o[0].is_string() ||
          !absl::Base64Unescape(o[0].get<std::string>(), &op.key)) {
        return;
      }
      if (o[1].is_number_integer()) op.base = o[1].get<int64_t>();
      if (o[2].is_number_unsigned()) op.value = o[2].get<uint64_t>();
      ops.push_back(std::move(op));
    }
    if (first == 0) return;
    struct Seen {
      uint64_t seq;
      std::string key;
      bool put;
    };
    std::vector<Seen> changes;
    absl::flat_hash_map<std::string, uint64_t> last_change;
    absl::StatusOr<uint64_t> r =
        dict_.ReadChanges(first - 1, [&](const Change& c) {
          changes.push_back(
              {c.seq, std::string(c.key), c.kind == ChangeKind::kPut});
          last_change[std::string(c.key)] = c.seq;
        });
    if (!r.ok()) return;  // the log wrapped: push makes a full resync
    uint64_t last_pulled = first - 1;
    for (size_t j = 0; j < changes.size() && j < ops.size(); ++j) {
      const auto& [seq, key, put] = changes[j];
      if (seq != first + j || key != ops[j].key ||
          put != ops[j].value.has_value()) {
        break;
      }
      if (last_change[key] == seq) {
        std::string v;
        absl::Status g = dict_.Get(key, &v);
        const bool same = ops[j].value.has_value()
                              ? g.ok() && Fingerprint(v) == *ops[j].value
                              : absl::IsNotFound(g);
        if (!same) break;
      }
      if (ops[j].base.has_value()) {
        bases_[key] = *ops[j].base;
      } else {
        bases_.erase(key);
      }
      last_pulled = seq;
    }
    if (last_pulled >= first) pulled_.emplace_back(first, last_pulled);
  }

  // After a restart: the deltas the last run sent that Redis's position
  // `start` covers were applied in Redis; their bases move on.
  void SettleInflightLocked(uint64_t start, bool have)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const Inflight& f : loaded_inflight_) {
      if (!have || f.seq > start) continue;
      auto it = bases_.find(f.key);
      const int64_t before = it == bases_.end() ? 0 : it->second;
      bases_[f.key] = static_cast<int64_t>(static_cast<uint64_t>(before) +
                                           static_cast<uint64_t>(f.delta));
    }
    loaded_inflight_.clear();
    bases_dirty_ = true;
  }

  void SetBaseLocked(const std::string& key, int64_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, inserted] = bases_.try_emplace(key, value);
    if (inserted || it->second != value) {
      it->second = value;
      bases_dirty_ = true;
    }
  }

  void EraseBaseLocked(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (bases_.erase(key) > 0) bases_dirty_ = true;
  }

  // Writes the state file when a counter base changed (before the deltas are
  // sent: see SaveStateLocked), else at most every 200 ms for the position
  // (re-applying entries after a restart is harmless).
  void MaybeSaveStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (bases_dirty_ || absl::Now() - last_save_ > absl::Milliseconds(200)) {
      SaveStateLocked();
    }
  }

  void SaveStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    bases_dirty_ = false;
    last_save_ = absl::Now();
    nlohmann::json j;
    j["dict_seq"] = dict_.ChangeSeq();
    j["pull_pos"] = pull_pos_;
    // The bases as Redis has confirmed them, and the counter deltas sent
    // but not confirmed: a restart adds those that Redis's position covers
    // (the script records the position with the changes), so a SIGKILL
    // anywhere neither loses nor repeats a delta.
    absl::flat_hash_map<std::string, int64_t> confirmed = bases_;
    nlohmann::json inflight = nlohmann::json::array();
    for (const auto& [k, v] : pending_) {
      for (const Pending& p : v) {
        if (p.in_stream || !p.is_add) continue;
        auto it = confirmed.find(k);
        if (it != confirmed.end()) {
          it->second = static_cast<int64_t>(static_cast<uint64_t>(it->second) -
                                            static_cast<uint64_t>(p.delta));
        }
        inflight.push_back({p.seq, absl::Base64Escape(k), p.delta});
      }
    }
    nlohmann::json bases = nlohmann::json::object();
    for (const auto& [k, v] : confirmed) bases[absl::Base64Escape(k)] = v;
    j["bases"] = std::move(bases);
    j["inflight"] = std::move(inflight);
    if (intent_ != nullptr) {
      // The changes pull is about to make, in order, each with the key's
      // base after it (confirmed, as above; null: none).
      nlohmann::json ops = nlohmann::json::array();
      for (const PulledOp& o : *intent_) {
        nlohmann::json base = nullptr;
        if (o.base.has_value()) {
          uint64_t b = static_cast<uint64_t>(*o.base);
          auto it = pending_.find(o.key);
          if (it != pending_.end()) {
            for (const Pending& p : it->second) {
              if (!p.in_stream && p.is_add) b -= static_cast<uint64_t>(p.delta);
            }
          }
          base = static_cast<int64_t>(b);
        }
        nlohmann::json value = nullptr;  // erased
        if (o.put) value = Fingerprint(o.value);
        ops.push_back({absl::Base64Escape(o.key), base, value});
      }
      j["pull_batch"] = {{"first", intent_first_}, {"ops", std::move(ops)}};
    }
    const std::string tmp = options_.state_path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << j.dump();
      if (!out) {
        stats_.last_error = absl::StrCat("cannot write the state file ", tmp);
        return;
      }
    }
    if (rename(tmp.c_str(), options_.state_path.c_str()) != 0) {
      stats_.last_error =
          absl::StrCat("cannot rename the state file to ", options_.state_path,
                       ": ", strerror(errno));
    }
  }

  ZeroCopyDict dict_;
  SyncOptions options_;
  RedisAddress address_;
  std::string data_key_, log_key_, pos_key_, nodes_key_;
  absl::Time last_publish_ = absl::InfinitePast();  // the publishing thread's
  std::string session_token_;  // the push thread's (kPushScript)
  bool push_enabled_ = true;
  bool pull_enabled_ = true;
  absl::Notification stop_;
  std::thread push_thread_, pull_thread_;

  // A std::mutex, not absl::Mutex: ThreadSanitizer sees its
  // synchronisation (Debian's Abseil is not built with it).
  mutable std::mutex mu_;
  std::condition_variable frontier_cv_;
  // Every local change <= frontier_ is registered in pending_ or was made by
  // pull (pulled_).
  uint64_t frontier_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;  // pushed up to here
  absl::Time behind_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool push_ready_ ABSL_GUARDED_BY(mu_) = false;
  bool push_connected_ ABSL_GUARDED_BY(mu_) = false;
  bool pull_connected_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::vector<Pending>> pending_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> bases_ ABSL_GUARDED_BY(mu_);
  bool bases_dirty_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_save_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::deque<std::pair<uint64_t, uint64_t>> pulled_ ABSL_GUARDED_BY(mu_);
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
  // Push calls handed to the connection, and those whose reply push has
  // processed (their stream ids recorded) or that its ended session gave
  // up; push sessions ended. A snapshot waits until the calls sent before
  // its reply are answered (Snapshot).
  uint64_t calls_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t calls_answered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t push_sessions_ended_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> forced_keys_ ABSL_GUARDED_BY(mu_);
  bool resnapshot_ ABSL_GUARDED_BY(mu_) = false;  // set by a full push
  struct Inflight {
    uint64_t seq;
    std::string key;
    int64_t delta;
  };
  std::vector<Inflight> loaded_inflight_ ABSL_GUARDED_BY(mu_);
  std::string pull_pos_ ABSL_GUARDED_BY(mu_);
  // While pull writes the state file before a batch's changes (ApplyEntries):
  // the batch's first change number and its changes.
  uint64_t intent_first_ ABSL_GUARDED_BY(mu_) = 0;
  const std::vector<PulledOp>* intent_ ABSL_GUARDED_BY(mu_) = nullptr;
  SyncStats stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<RedisSync>> RedisSync::Start(
    absl::string_view dict_name, const SyncOptions& options) {
  absl::StatusOr<RedisAddress> address =
      sync_internal::ParseRedisUrl(options.redis_url);
  if (!address.ok()) return address.status();
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sync of dict \"", dict_name, "\": the prefix is empty"));
  }
  if (options.stream_max_len == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sync of dict \"", dict_name, "\": stream_max_len must be > 0"));
  }
  absl::StatusOr<ZeroCopyDict> dict = ZeroCopyDict::Attach(dict_name);
  if (!dict.ok()) return dict.status();
  if (options.direction != SyncDirection::kPull &&
      dict->GetStats().change_log_bytes == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sync of dict \"", dict_name,
        "\": the dict has no change log (created with change_log_bytes = 0)"));
  }
  auto impl = std::make_unique<Impl>(*std::move(dict), options, *address);
  impl->Begin();
  return std::unique_ptr<RedisSync>(new RedisSync(std::move(impl)));
}

RedisSync::RedisSync(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisSync::~RedisSync() { Stop(); }
void RedisSync::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}
SyncStats RedisSync::GetStats() const { return impl_->GetStats(); }

}  // namespace zcipc
