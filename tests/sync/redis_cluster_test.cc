// The sync against a 3-master Redis Cluster started on loopback: every sync
// is pointed at a node that does not own its prefix's hash slot, so it must
// follow the MOVED redirection (docs/SYNC.md, "Limits"), and two dicts
// converge through the cluster with exact counters.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sync/redis_client.h"
#include "tools/proc/proc.h"
#include "zcipc/redis_sync.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using sync_internal::ConnectToKeyOwner;
using sync_internal::RedisAddress;
using sync_internal::RedisConnection;
using sync_internal::ReplyString;

// A loopback TCP port nobody listens on now (nor on port + 10000, the
// cluster bus), from the kernel's ephemeral range.
int FreePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
    close(fd);
    if (port > 0 && port + 10000 < 65536) return port;
  }
  return 0;
}

// One cluster-enabled redis-server in its own directory, stopped by pid.
class ClusterNode {
 public:
  ClusterNode() {
    char dir[] = "/tmp/zcipc-cluster-XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
    port_ = FreePort();
  }
  ~ClusterNode() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
      std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
      (void)system(cmd.c_str());
    }
  }
  bool Start() {
    if (dir_.empty() || port_ == 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<std::string> args = {"redis-server",
                                       "--port",
                                       absl::StrCat(port_),
                                       "--bind",
                                       "127.0.0.1",
                                       "--cluster-enabled",
                                       "yes",
                                       "--cluster-config-file",
                                       dir_ + "/nodes.conf",
                                       "--cluster-node-timeout",
                                       "5000",
                                       "--dir",
                                       dir_,
                                       "--save",
                                       "",
                                       "--appendonly",
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
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      auto conn = RedisConnection::Connect(address(), absl::Seconds(1));
      if (conn.ok() && (*conn)->Command({"PING"}).ok()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }
  RedisAddress address() const {
    RedisAddress a;
    a.host = "127.0.0.1";
    a.port = port_;
    return a;
  }
  std::string hostport() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string url() const { return absl::StrCat("redis://", hostport()); }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

bool ClusterIsUp(const std::vector<std::unique_ptr<ClusterNode>>& nodes) {
  for (const auto& n : nodes) {
    auto conn = RedisConnection::Connect(n->address(), absl::Seconds(1));
    if (!conn.ok()) return false;
    auto info = (*conn)->Command({"CLUSTER", "INFO"});
    if (!info.ok() ||
        !absl::StrContains(ReplyString(info->get()), "cluster_state:ok")) {
      return false;
    }
  }
  return true;
}

std::map<std::string, std::string> Contents(const ZeroCopyDict& d) {
  std::map<std::string, std::string> m;
  (void)d.ForEach([&](absl::string_view k, absl::string_view v) {
    m[std::string(k)] = std::string(v);
  });
  return m;
}

TEST(RedisClusterTest, SyncsFollowMovedAndConverge) {
  std::vector<std::unique_ptr<ClusterNode>> nodes;
  std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<ClusterNode>());
    ASSERT_TRUE(nodes.back()->Start()) << "redis-server (cluster) " << i;
    create.push_back(nodes.back()->hostport());
  }
  create.push_back("--cluster-yes");
  pid_t cli = fork();
  if (cli == 0) {
    std::vector<char*> argv;
    for (std::string& a : create) argv.push_back(a.data());
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execvp("redis-cli", argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(cli, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "redis-cli --cluster create failed";
  const absl::Time up_by = absl::Now() + absl::Seconds(30);
  while (!ClusterIsUp(nodes) && absl::Now() < up_by) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(ClusterIsUp(nodes)) << "cluster_state not ok within 30 s";

  // A prefix whose slot node 0 does not own: node 0 answers MOVED.
  auto first = RedisConnection::Connect(nodes[0]->address(), absl::Seconds(2));
  ASSERT_TRUE(first.ok()) << first.status();
  std::string prefix;
  for (int i = 0; i < 100 && prefix.empty(); ++i) {
    std::string p = absl::StrCat("cl", i);
    auto r = (*first)->RawCommand({"EXISTS", absl::StrCat("{", p, "}:data")});
    ASSERT_TRUE(r.ok()) << r.status();
    if (sync_internal::MovedTo(r->get(), nodes[0]->address()).has_value()) {
      prefix = p;
    }
  }
  ASSERT_FALSE(prefix.empty());

  const std::string tag = zcipc_proc::UniqueName("cl");
  Options o;
  o.max_items = 1000;
  o.heap_size = 1 << 20;
  std::vector<ZeroCopyDict> dicts;
  std::vector<std::unique_ptr<RedisSync>> syncs;
  for (int i = 0; i < 2; ++i) {
    const std::string name = absl::StrCat(tag, "-", i);
    (void)ZeroCopyDict::Unlink(name);
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
    ASSERT_TRUE(d.ok()) << d.status();
    dicts.push_back(*std::move(d));
    SyncOptions so;
    so.redis_url = nodes[0]->url();
    so.prefix = prefix;
    so.origin = name;
    so.state_path = absl::StrCat("/tmp/", name, ".sync-state");
    absl::StatusOr<std::unique_ptr<RedisSync>> s = RedisSync::Start(name, so);
    ASSERT_TRUE(s.ok()) << s.status();
    syncs.push_back(*std::move(s));
  }
  for (int i = 0; i < 200; ++i) {
    ZeroCopyDict& d = dicts[i % 2];
    ASSERT_TRUE(d.Put(absl::StrCat("k", i % 60), absl::StrCat("v", i)).ok());
    if (i % 7 == 0) (void)d.Erase(absl::StrCat("k", (i + 3) % 60));
    ASSERT_TRUE(d.Add("counter", 1).ok());
  }
  // Converged: both dicts equal, equal to {P}:data on the slot's owner,
  // and the counter counts every Add of both.
  auto owner = ConnectToKeyOwner(nodes[0]->address(), absl::Seconds(2),
                                 absl::StrCat("{", prefix, "}:data"));
  ASSERT_TRUE(owner.ok()) << owner.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::string why;
  while (absl::Now() < deadline) {
    why.clear();
    auto a = Contents(dicts[0]), b = Contents(dicts[1]);
    auto h = (*owner)->Command({"HLEN", absl::StrCat("{", prefix, "}:data")});
    std::string c;
    int64_t count = 0;
    if (dicts[0].Get("counter", &c).ok() && c.size() == 8) {
      memcpy(&count, c.data(), 8);
    }
    if (a != b) {
      why = absl::StrCat("dicts differ: ", a.size(), " vs ", b.size());
    } else if (!h.ok() || (*h)->integer != static_cast<long long>(a.size())) {
      why = absl::StrCat("Redis holds ", h.ok() ? (*h)->integer : -1,
                         " keys, the dicts ", a.size());
    } else if (count != 200) {
      why = absl::StrCat("counter ", count, ", expected 200");
    }
    if (why.empty()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(why.empty()) << "no convergence: " << why;
  for (auto& s : syncs) {
    SyncStats st = s->GetStats();
    EXPECT_GT(st.pushed, 0u);
    s->Stop();
  }
  for (int i = 0; i < 2; ++i) {
    (void)ZeroCopyDict::Unlink(absl::StrCat(tag, "-", i));
    unlink(absl::StrCat("/tmp/", tag, "-", i, ".sync-state").c_str());
  }
}

}  // namespace
}  // namespace zcipc
