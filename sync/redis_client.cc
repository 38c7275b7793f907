#include "sync/redis_client.h"

#include <signal.h>
#include <sys/time.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace zcipc {
namespace sync_internal {

std::string RedisAddress::ToString() const {
  if (unix_socket) return absl::StrCat("unix://", path, "?db=", db);
  return absl::StrCat("redis://", host, ":", port, "/", db);
}

absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Redis URL \"", url, "\": ", why,
        " (expected redis://HOST:PORT[/DB] or unix:///PATH[?db=N])"));
  };
  RedisAddress address;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "unix://")) {
    address.unix_socket = true;
    absl::string_view query;
    size_t q = rest.find('?');
    if (q != absl::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest[0] != '/') return bad("the path must be absolute");
    address.path = std::string(rest);
    if (!query.empty()) {
      if (!absl::ConsumePrefix(&query, "db=") ||
          !absl::SimpleAtoi(query, &address.db) || address.db < 0) {
        return bad("the query must be db=N");
      }
    }
    return address;
  }
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return bad("unknown scheme");
  }
  size_t slash = rest.find('/');
  if (slash != absl::string_view::npos) {
    absl::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && (!absl::SimpleAtoi(db, &address.db) || address.db < 0)) {
      return bad("the database must be a number");
    }
  }
  size_t at = rest.rfind('@');
  if (at != absl::string_view::npos) return bad("passwords are not supported");
  size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &address.port) ||
        address.port <= 0 || address.port > 65535) {
      return bad("the port must be 1..65535");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("no host");
  address.host = std::string(rest);
  return address;
}

absl::string_view ReplyString(const redisReply* reply) {
  if (reply == nullptr) return {};
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
      reply->type == REDIS_REPLY_ERROR) {
    return absl::string_view(reply->str, reply->len);
  }
  return {};
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisAddress& address, absl::Duration timeout) {
  // hiredis writes with write(2): a peer that went away would raise SIGPIPE
  // and kill the process. Ignore it (only if nobody installed a handler);
  // the write then fails with EPIPE and the command with Unavailable.
  struct sigaction old;
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
  struct timeval tv = absl::ToTimeval(timeout);
  redisContext* c =
      address.unix_socket
          ? redisConnectUnixWithTimeout(address.path.c_str(), tv)
          : redisConnectWithTimeout(address.host.c_str(), address.port, tv);
  std::string where = address.ToString();
  if (c == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Redis ", where, ": cannot allocate a context"));
  }
  if (c->err != 0) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("Redis ", where, ": connect: ", c->errstr));
    redisFree(c);
    return s;
  }
  redisSetTimeout(c, tv);
  if (!address.unix_socket) redisEnableKeepAlive(c);
  std::unique_ptr<RedisConnection> conn(new RedisConnection(c, where));
  if (address.db != 0) {
    absl::StatusOr<Reply> r =
        conn->Command({"SELECT", absl::StrCat(address.db)});
    if (!r.ok()) return r.status();
  }
  return conn;
}

RedisConnection::~RedisConnection() { redisFree(context_); }

absl::Status RedisConnection::ContextError() {
  broken_ = true;
  return absl::UnavailableError(
      absl::StrCat("Redis ", where_, ": ",
                   context_->err != 0 ? context_->errstr : "no reply"));
}

absl::StatusOr<Reply> RedisConnection::Check(void* raw) {
  if (raw == nullptr) return ContextError();
  Reply reply(static_cast<redisReply*>(raw));
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::InternalError(
        absl::StrCat("Redis ", where_, ": ", ReplyString(reply.get())));
  }
  return reply;
}

namespace {
void ToArgv(const std::vector<std::string>& args,
            std::vector<const char*>* argv, std::vector<size_t>* lens) {
  argv->reserve(args.size());
  lens->reserve(args.size());
  for (const std::string& a : args) {
    argv->push_back(a.data());
    lens->push_back(a.size());
  }
}
}  // namespace

absl::StatusOr<Reply> RedisConnection::Command(
    const std::vector<std::string>& args) {
  if (broken_) return ContextError();
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  ToArgv(args, &argv, &lens);
  return Check(redisCommandArgv(context_, static_cast<int>(args.size()),
                                argv.data(), lens.data()));
}

void RedisConnection::Append(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  ToArgv(args, &argv, &lens);
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()),
                             argv.data(), lens.data()) != REDIS_OK) {
    broken_ = true;
  }
}

absl::StatusOr<Reply> RedisConnection::GetReply() {
  if (broken_) return ContextError();
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK) return ContextError();
  return Check(raw);
}

absl::StatusOr<std::string> RedisConnection::LoadScript(
    absl::string_view source) {
  absl::StatusOr<Reply> r = Command({"SCRIPT", "LOAD", std::string(source)});
  if (!r.ok()) return r.status();
  return std::string(ReplyString(r->get()));
}

absl::StatusOr<Reply> RedisConnection::RawCommand(
    const std::vector<std::string>& args) {
  if (broken_) return ContextError();
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  ToArgv(args, &argv, &lens);
  void* raw = redisCommandArgv(context_, static_cast<int>(args.size()),
                               argv.data(), lens.data());
  if (raw == nullptr) return ContextError();
  return Reply(static_cast<redisReply*>(raw));
}

std::optional<RedisAddress> MovedTo(const redisReply* reply,
                                    const RedisAddress& from) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ERROR) {
    return std::nullopt;
  }
  // The error reply's words: MOVED <slot> <host>:<port> (Redis's protocol,
  // not a message of ours).
  std::vector<absl::string_view> words =
      absl::StrSplit(ReplyString(reply), ' ', absl::SkipEmpty());
  if (words.size() != 3 || words[0] != "MOVED") return std::nullopt;
  const size_t colon = words[2].rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(words[2].substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return std::nullopt;
  }
  RedisAddress to;
  to.unix_socket = false;
  to.host = std::string(words[2].substr(0, colon));
  if (to.host.empty()) to.host = from.unix_socket ? "127.0.0.1" : from.host;
  to.port = port;
  to.db = 0;  // a cluster has database 0 only
  return to;
}

absl::StatusOr<std::unique_ptr<RedisConnection>> ConnectToKeyOwner(
    const RedisAddress& address, absl::Duration timeout,
    const std::string& key) {
  RedisAddress at = address;
  for (int redirections = 0;; ++redirections) {
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
        RedisConnection::Connect(at, timeout);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<Reply> probe = (*conn)->RawCommand({"EXISTS", key});
    if (!probe.ok()) return probe.status();
    if ((*probe)->type != REDIS_REPLY_ERROR) return conn;
    std::optional<RedisAddress> moved = MovedTo(probe->get(), at);
    if (!moved.has_value()) {
      return absl::UnavailableError(absl::StrCat("Redis ", at.ToString(),
                                                 ": key ", key, ": ",
                                                 ReplyString(probe->get())));
    }
    if (redirections == 5) {
      return absl::UnavailableError(
          absl::StrCat("Redis ", address.ToString(), ": key ", key,
                       ": more than 5 MOVED redirections"));
    }
    at = *moved;
  }
}

}  // namespace sync_internal
}  // namespace zcipc
