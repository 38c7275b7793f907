#include "tests/sync/redis_server.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sync/redis_client.h"

namespace zcipc_test {

RedisServer::RedisServer() {
  // Not TEST_TMPDIR: a unix socket path must fit in 108 bytes.
  std::string templ = "/tmp/zcipc-redis-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) != nullptr) dir_ = buf.data();
  socket_ = dir_ + "/redis.sock";
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
    (void)system(cmd.c_str());
  }
}

absl::Status RedisServer::Start(bool persist) {
  if (dir_.empty()) return absl::InternalError("mkdtemp failed");
  if (pid_ > 0) return absl::FailedPreconditionError("already running");
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     "0",
                                     "--unixsocket",
                                     socket_,
                                     "--dir",
                                     dir_,
                                     "--save",
                                     "",
                                     "--appendonly",
                                     persist ? "yes" : "no",
                                     "--appendfsync",
                                     "no",
                                     "--logfile",
                                     dir_ + "/redis.log",
                                     "--daemonize",
                                     "no"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  pid_ = pid;
  zcipc::sync_internal::RedisAddress address;
  address.unix_socket = true;
  address.path = socket_;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto conn = zcipc::sync_internal::RedisConnection::Connect(
        address, absl::Seconds(1));
    if (conn.ok() && (*conn)->Command({"PING"}).ok()) return absl::OkStatus();
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError("redis-server exited at start (see " + dir_ +
                                 "/redis.log)");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("redis-server did not answer in 10 s on ", socket_));
}

absl::Status RedisServer::Stop() {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  unlink(socket_.c_str());
  return absl::OkStatus();
}

absl::Status RedisServer::StopAndWipe() {
  absl::Status s = Stop();
  std::string cmd = absl::StrCat("rm -rf '", dir_, "'/appendonly* '", dir_,
                                 "'/*.rdb '", dir_, "'/appendonlydir");
  (void)system(cmd.c_str());
  return s;
}

void RedisServer::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}
void RedisServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

}  // namespace zcipc_test
