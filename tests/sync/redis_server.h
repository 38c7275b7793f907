// A redis-server for tests: started in its own temporary directory,
// listening on a unix socket there (no TCP port, so tests never collide),
// stopped by its pid.
//
// Thread safety: not thread-safe; one test thread drives it.

#ifndef ZCIPC_TESTS_SYNC_REDIS_SERVER_H_
#define ZCIPC_TESTS_SYNC_REDIS_SERVER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"

namespace zcipc_test {

class RedisServer {
 public:
  RedisServer();   // makes the directory; Start() runs the server
  ~RedisServer();  // stops it (SIGKILL if still running) and removes the dir

  // Starts redis-server and waits (at most 10 s) until it answers PING.
  // persist: appendonly (every write survives a Stop and Start).
  absl::Status Start(bool persist = false);
  // SIGTERM and wait: with persist, the data is on disk for the next Start.
  absl::Status Stop();
  // Stops and deletes every data file: the next Start is empty.
  absl::Status StopAndWipe();
  void Pause();   // SIGSTOP
  void Resume();  // SIGCONT

  std::string url() const { return "unix://" + socket_; }
  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace zcipc_test

#endif  // ZCIPC_TESTS_SYNC_REDIS_SERVER_H_
