// Redis through hiredis on a unix socket: one command and one round trip
// per operation, and a pipelined variant (a batch's commands written at
// once, then its replies read). The server is started by the harness
// (RedisServer below) with persistence off.

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/compare/store.h"

namespace zcipc {
namespace bench {
namespace {

class Reply {
 public:
  explicit Reply(void* r) : r_(static_cast<redisReply*>(r)) {}
  ~Reply() {
    if (r_ != nullptr) freeReplyObject(r_);
  }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  redisReply* operator->() const { return r_; }
  explicit operator bool() const { return r_ != nullptr; }

 private:
  redisReply* r_;
};

class RedisStore : public Store {
 public:
  explicit RedisStore(std::string socket) : socket_(std::move(socket)) {}
  ~RedisStore() override {
    if (c_ != nullptr) redisFree(c_);
  }

  std::string name() const override { return "Redis"; }
  std::string batch_label() const override { return "pipelined"; }
  bool in_process_work() const override { return false; }

  absl::Status Create(const StoreConfig& config) override {
    absl::Status s = Connect();
    if (!s.ok()) return s;
    Reply r(redisCommand(c_, "FLUSHALL"));
    return Check(r, "FLUSHALL");
  }
  absl::Status AttachInChild() override {
    c_ = nullptr;  // the parent's connection is abandoned, never used here
    return Connect();
  }
  void Destroy() override {
    if (c_ == nullptr) return;
    Reply r(redisCommand(c_, "FLUSHALL"));
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    Reply r(redisCommand(c_, "SET %b %b", key.data(), key.size(), value.data(),
                         value.size()));
    return Check(r, "SET");
  }
  absl::Status Get(absl::string_view key, std::string* value) override {
    Reply r(redisCommand(c_, "GET %b", key.data(), key.size()));
    return GetReply(r, value);
  }
  absl::Status Erase(absl::string_view key) override {
    Reply r(redisCommand(c_, "DEL %b", key.data(), key.size()));
    return DelReply(r);
  }
  absl::Status RunBatch(const Op* ops, size_t n, BatchResult* out) override {
    out->Resize(n);
    for (size_t i = 0; i < n; ++i) {
      const Op& op = ops[i];
      int rc = REDIS_OK;
      switch (op.kind) {
        case OpKind::kGet:
          rc = redisAppendCommand(c_, "GET %b", op.key.data(), op.key.size());
          break;
        case OpKind::kPut:
          rc = redisAppendCommand(c_, "SET %b %b", op.key.data(), op.key.size(),
                                  op.value.data(), op.value.size());
          break;
        case OpKind::kErase:
          rc = redisAppendCommand(c_, "DEL %b", op.key.data(), op.key.size());
          break;
      }
      if (rc != REDIS_OK) return absl::InternalError(absl::StrCat("Redis append: ", c_->errstr));
    }
    absl::Status first;
    for (size_t i = 0; i < n; ++i) {
      void* raw = nullptr;
      if (redisGetReply(c_, &raw) != REDIS_OK) {
        return absl::InternalError(absl::StrCat("Redis reply: ", c_->errstr));
      }
      Reply r(raw);
      absl::Status s;
      switch (ops[i].kind) {
        case OpKind::kGet:
          s = GetReply(r, &out->values[i]);
          break;
        case OpKind::kPut:
          s = Check(r, "SET");
          break;
        case OpKind::kErase:
          s = DelReply(r);
          break;
      }
      out->found[i] = s.ok();
      if (!s.ok() && !absl::IsNotFound(s) && first.ok()) first = s;
    }
    return first;
  }

 private:
  absl::Status Connect() {
    struct timeval tv = {5, 0};
    c_ = redisConnectUnixWithTimeout(socket_.c_str(), tv);
    if (c_ == nullptr || c_->err) {
      return absl::UnavailableError(absl::StrCat(
          "Redis connect ", socket_, ": ", c_ ? c_->errstr : "out of memory"));
    }
    return absl::OkStatus();
  }
  absl::Status Check(const Reply& r, absl::string_view what) {
    if (!r) return absl::InternalError(absl::StrCat("Redis ", what, ": ", c_->errstr));
    if (r->type == REDIS_REPLY_ERROR) {
      return absl::InternalError(absl::StrCat("Redis ", what, ": ", r->str));
    }
    return absl::OkStatus();
  }
  absl::Status GetReply(const Reply& r, std::string* value) {
    if (!r) return absl::InternalError(absl::StrCat("Redis GET: ", c_->errstr));
    if (r->type == REDIS_REPLY_NIL) return absl::NotFoundError("");
    if (r->type != REDIS_REPLY_STRING) return absl::InternalError("Redis GET: not a string");
    value->assign(r->str, r->len);
    return absl::OkStatus();
  }
  absl::Status DelReply(const Reply& r) {
    absl::Status s = Check(r, "DEL");
    if (!s.ok()) return s;
    return r->integer == 1 ? absl::OkStatus() : absl::NotFoundError("");
  }

  std::string socket_;
  redisContext* c_ = nullptr;
};

std::atomic<int> g_redis_pid{-1};

void OnSignal(int sig) {
  int pid = g_redis_pid.load();
  if (pid > 0) kill(pid, SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

std::unique_ptr<Store> NewRedisStore(const std::string& socket) {
  return std::make_unique<RedisStore>(socket);
}

std::string RedisServer::FindBinary() {
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  // Debian puts it in /usr/bin; sbin too in case of a custom PATH.
  dirs += ":/usr/sbin:/usr/local/sbin";
  for (absl::string_view dir : absl::StrSplit(dirs, ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/redis-server");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::Status RedisServer::Start(const std::string& binary, const std::string& dir) {
  socket_ = dir + "/redis.sock";
  std::string log = dir + "/redis.log";
  std::vector<std::string> args = {binary,
                                   "--port", "0",
                                   "--unixsocket", socket_,
                                   "--unixsocketperm", "700",
                                   "--save", "",
                                   "--appendonly", "no",
                                   "--daemonize", "no",
                                   "--dir", dir,
                                   "--logfile", log};
  pid_t parent = getpid();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Dies with the harness even if the harness is killed.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  pid_ = pid;
  g_redis_pid.store(pid);
  // Wait for the socket to accept connections (up to 10 s).
  for (int i = 0; i < 1000; ++i) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      g_redis_pid.store(-1);
      return absl::UnavailableError(absl::StrCat(
          "redis-server exited at start (status ", status, "); see ", log));
    }
    struct stat st;
    if (stat(socket_.c_str(), &st) == 0) {
      redisContext* c = redisConnectUnix(socket_.c_str());
      bool ok = c != nullptr && !c->err;
      if (c != nullptr) redisFree(c);
      if (ok) return absl::OkStatus();
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  Stop();
  return absl::DeadlineExceededError("redis-server did not open its socket in 10 s");
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status;
  // SIGTERM, then SIGKILL if it has not exited in 5 s.
  for (int i = 0; i < 500; ++i) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      g_redis_pid.store(-1);
      unlink(socket_.c_str());
      return;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  g_redis_pid.store(-1);
  unlink(socket_.c_str());
}

void StopRedisOnSignal(RedisServer* server) {
  g_redis_pid.store(server->pid());
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGHUP, OnSignal);
}

}  // namespace bench
}  // namespace zcipc
