// `zcipc sync` (the real binary, its path is argv[1]) against a real
// redis-server: usage errors, two sync processes carrying a Put and an Add,
// --status --json listing both nodes, SIGTERM stopping cleanly.

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/sync/redis_server.h"
#include "tools/proc/proc.h"
#include "zcipc/zero_copy_dict.h"

namespace {

std::string g_zcipc;

pid_t Spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    copy.insert(copy.begin(), g_zcipc);
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(g_zcipc.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int RunZcipc(const std::vector<std::string>& args, std::string* out = nullptr) {
  std::string cmd = g_zcipc;
  for (const std::string& a : args) absl::StrAppend(&cmd, " '", a, "'");
  absl::StrAppend(&cmd, " 2>/dev/null");
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
    if (out != nullptr) out->append(buf, n);
  }
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(SyncCliTest, UsageErrors) {
  EXPECT_EQ(RunZcipc({"sync", "d", "--prefix=p"}), 2);         // no --redis
  EXPECT_EQ(RunZcipc({"sync", "d", "--redis=redis://h"}), 2);  // no --prefix
  EXPECT_EQ(RunZcipc({"sync", "d", "--redis=redis://h", "--prefix=p",
                      "--direction=sideways"}),
            2);
  EXPECT_EQ(RunZcipc({"sync", "d", "--redis=http://h", "--prefix=p"}), 2);
  EXPECT_EQ(RunZcipc({"sync", "--help"}), 0);
}

TEST(SyncCliTest, TwoProcessesCarryChangesAndReportStatus) {
  zcipc_test::RedisServer server;
  ASSERT_TRUE(server.Start().ok());
  const std::string a = zcipc_proc::UniqueName("cli-a");
  const std::string b = zcipc_proc::UniqueName("cli-b");
  const std::string prefix = zcipc_proc::UniqueName("cli");
  auto da = zcipc::ZeroCopyDict::Create(a);
  auto db = zcipc::ZeroCopyDict::Create(b);
  ASSERT_TRUE(da.ok() && db.ok());
  const std::string redis = "--redis=" + server.url();
  pid_t pa = Spawn({"sync", a, redis, "--prefix=" + prefix, "--origin=A"});
  pid_t pb = Spawn({"sync", b, redis, "--prefix=" + prefix, "--origin=B"});
  ASSERT_TRUE(da->Put("hello", "world").ok());
  ASSERT_TRUE(db->Add("hits", 5).ok());
  ASSERT_TRUE(da->Add("hits", 2).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::string hello, hits_a, hits_b;
  while (absl::Now() < deadline) {
    if (db->Get("hello", &hello).ok() && da->Get("hits", &hits_a).ok() &&
        db->Get("hits", &hits_b).ok() && hits_a == hits_b &&
        hits_a == std::string("\x07\0\0\0\0\0\0\0", 8)) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(hello, "world");
  EXPECT_EQ(hits_b, std::string("\x07\0\0\0\0\0\0\0", 8));
  // Each node reports once a second.
  nlohmann::json status;
  deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    std::string out;
    ASSERT_EQ(
        RunZcipc({"sync", a, redis, "--prefix=" + prefix, "--status", "--json"},
                 &out),
        0);
    status = nlohmann::json::parse(out, nullptr, false);
    if (status.is_object() && status["nodes"].size() == 2) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(status.is_object());
  ASSERT_EQ(status["nodes"].size(), 2u);
  EXPECT_EQ(status["keys"], 2);
  for (pid_t pid : {pa, pb}) {
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  }
  zcipc::ZeroCopyDict::Unlink(a).IgnoreError();
  zcipc::ZeroCopyDict::Unlink(b).IgnoreError();
  for (const std::string& n : {a, b}) {
    unlink(absl::StrCat("/dev/shm/zcipc-sync.", n, ".",
                        absl::BytesToHexString(prefix))
               .c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: sync_cli_test PATH_TO_ZCIPC\n");
    return 2;
  }
  g_zcipc = argv[1];
  return RUN_ALL_TESTS();
}
