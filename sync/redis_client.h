// A small synchronous Redis client over hiredis 0.14 (RESP2) for the sync:
// URL parsing, one connection with timeouts, commands by argument vector,
// pipelining, and Lua scripts loaded once per connection (EVALSHA).
//
// Thread safety: a RedisConnection is used by one thread at a time.

#ifndef ZCIPC_SYNC_REDIS_CLIENT_H_
#define ZCIPC_SYNC_REDIS_CLIENT_H_

#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zcipc {
namespace sync_internal {

// Where Redis is: redis://HOST:PORT[/DB] (PORT defaults to 6379) or
// unix:///PATH[?db=N].
struct RedisAddress {
  bool unix_socket = false;
  std::string host;  // TCP
  int port = 6379;   // TCP
  std::string path;  // unix socket
  int db = 0;
  std::string ToString() const;
};

// InvalidArgument naming the URL and what is wrong with it.
absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url);

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The reply's bytes (string, status or error replies); empty otherwise.
absl::string_view ReplyString(const redisReply* reply);

// If `reply` is a Redis Cluster redirection ("MOVED <slot> <host>:<port>"),
// the node it names (host empty in the reply: `from`'s host). Otherwise
// nullopt.
std::optional<RedisAddress> MovedTo(const redisReply* reply,
                                    const RedisAddress& from);

class RedisConnection {
 public:
  // Connects (and SELECTs the db). Unavailable if Redis cannot be reached
  // within `timeout`; `timeout` also bounds every later command's reply
  // (a stopped server makes commands fail with Unavailable). Sets SIGPIPE
  // to SIG_IGN if it is SIG_DFL (a lost connection must not kill the
  // process).
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(
      const RedisAddress& address, absl::Duration timeout);

  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends one command and waits for its reply. Unavailable when the
  // connection failed (the connection is then unusable); an error reply
  // from Redis is Internal with Redis's message.
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);

  // Pipelining: Append queues a command (sent with the next GetReply or
  // Flush); GetReply returns the replies in order.
  void Append(const std::vector<std::string>& args);
  absl::StatusOr<Reply> GetReply();

  // SCRIPT LOAD: returns the script's SHA1 for Evalsha args.
  absl::StatusOr<std::string> LoadScript(absl::string_view source);

  bool broken() const { return broken_; }

  // Sends one command and returns Redis's reply as it is, an error reply
  // included (Command turns that into a Status). Unavailable when the
  // connection failed.
  absl::StatusOr<Reply> RawCommand(const std::vector<std::string>& args);

 private:
  explicit RedisConnection(redisContext* context, std::string where)
      : context_(context), where_(std::move(where)) {}
  absl::Status ContextError();
  absl::StatusOr<Reply> Check(void* raw);

  redisContext* context_;
  std::string where_;
  bool broken_ = false;
};

// Connects to the node that serves `key`: to `address`, then, while a
// Redis Cluster node answers a probe of the key with MOVED, to the node it
// names (at most 5 redirections). A standalone Redis serves every key: the
// first connection is returned. With every key of a sync prefix in one hash
// slot ({P}), one connection serves the whole session; a MOVED later (the
// slot migrated) fails a command, and the session reconnects through here.
// A cluster refusing the key for now (ASK, TRYAGAIN, CLUSTERDOWN) is
// Unavailable: the caller retries with backoff.
absl::StatusOr<std::unique_ptr<RedisConnection>> ConnectToKeyOwner(
    const RedisAddress& address, absl::Duration timeout,
    const std::string& key);

}  // namespace sync_internal
}  // namespace zcipc

#endif  // ZCIPC_SYNC_REDIS_CLIENT_H_
