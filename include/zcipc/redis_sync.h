// Keeps a dict in step with the same dict on other machines through Redis
// (docs/SYNC.md). Each machine runs one RedisSync per dict; all of them use
// the same Redis and prefix. Bazel target //:zcipc_redis_sync (links
// hiredis; the core //:zcipc does not).
//
//   zcipc::SyncOptions options;
//   options.redis_url = "redis://10.0.0.5:6379";
//   options.prefix = "flags";
//   absl::StatusOr<std::unique_ptr<zcipc::RedisSync>> sync =
//       zcipc::RedisSync::Start("flags", options);
//   ...  // the dict "flags" now follows the fleet
//   (*sync)->Stop();

#ifndef ZCIPC_REDIS_SYNC_H_
#define ZCIPC_REDIS_SYNC_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zcipc {

enum class SyncDirection {
  kBoth,  // push local changes and pull remote ones
  kPush,  // only push (this machine is a source)
  kPull,  // only pull (a read replica)
};

struct SyncOptions {
  // redis://HOST:PORT[/DB] or unix:///PATH[?db=N].
  std::string redis_url;
  // The Redis key prefix P: the keys are {P}:data, {P}:log and {P}:pos.
  std::string prefix;
  SyncDirection direction = SyncDirection::kBoth;
  // Approximate cap on the stream's entries (XADD MAXLEN ~).
  uint64_t stream_max_len = 1000000;
  // This machine's name in the stream; empty: "<hostname>/<dict name>".
  std::string origin;
  // Where pull keeps its position and the counter bases; empty:
  // /dev/shm/zcipc-sync.<dict>.<hex of the prefix>.
  std::string state_path;
};

struct SyncStats {
  uint64_t pushed = 0;          // changes written to Redis
  uint64_t pulled = 0;          // stream entries applied locally
  uint64_t skipped_values = 0;  // remote values that could not be stored
  uint64_t push_resyncs = 0;    // full pushes (ForEach)
  uint64_t pull_resyncs = 0;    // snapshots loaded
  uint64_t reconnects = 0;      // Redis connections made after a failure
  uint64_t local_seq = 0;       // the dict's ChangeSeq() when sampled
  uint64_t pushed_seq = 0;      // the last local change pushed (or skipped)
  uint64_t push_lag = 0;        // local_seq - pushed_seq
  // Age of the oldest local change not yet pushed (0 when none).
  double push_lag_ms = 0;
  // Entries in the stream after pull's position (from the last XREAD).
  uint64_t pull_lag = 0;
  // Now minus the time (from the stream id) of the last entry pulled, when
  // more entries are known to wait; 0 when caught up.
  double pull_lag_ms = 0;
  std::string pull_position;  // the stream id pull has reached
  bool connected = false;     // both connections up
  std::string last_error;     // the last failure, empty if none
};

// Thread safety: Start, Stop and GetStats may be called from any thread;
// GetStats is safe concurrently with the sync's own threads.
class RedisSync {
 public:
  // Attaches the dict (which must exist), connects to Redis and starts the
  // push and pull threads. InvalidArgument for a bad URL, prefix or option;
  // NotFound for a missing dict; FailedPrecondition for a dict without a
  // change log. An unreachable Redis is not an error: the threads retry.
  // Sets SIGPIPE to SIG_IGN if it is SIG_DFL (a connection Redis closed must
  // fail a write, not kill the process).
  static absl::StatusOr<std::unique_ptr<RedisSync>> Start(
      absl::string_view dict_name, const SyncOptions& options);

  // Stops the threads (within about 100 ms; up to the 2 s command timeout
  // if Redis does not answer) and writes the state file. Idempotent; the
  // destructor calls it.
  void Stop();

  SyncStats GetStats() const;

  ~RedisSync();
  RedisSync(const RedisSync&) = delete;
  RedisSync& operator=(const RedisSync&) = delete;

  class Impl;

 private:
  explicit RedisSync(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zcipc

#endif  // ZCIPC_REDIS_SYNC_H_
