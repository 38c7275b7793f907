// The sync's Redis parts against a real redis-server: URL parsing, the
// connection, and the Lua scripts (push with 64-bit counter deltas,
// snapshot, read with gap detection).

#include "sync/redis_client.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sync/scripts.h"
#include "tests/sync/redis_server.h"

namespace zcipc {
namespace sync_internal {
namespace {

TEST(ParseRedisUrlTest, TcpWithPortAndDb) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("redis://10.0.0.5:6380/3");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->unix_socket);
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 3);
}

TEST(ParseRedisUrlTest, TcpDefaults) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
}

TEST(ParseRedisUrlTest, UnixSocket) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("unix:///run/redis.sock?db=2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->unix_socket);
  EXPECT_EQ(a->path, "/run/redis.sock");
  EXPECT_EQ(a->db, 2);
}

TEST(ParseRedisUrlTest, RejectsBadUrls) {
  for (const char* url :
       {"", "http://x", "redis://", "redis://h:0", "redis://h:99999",
        "redis://h:p", "redis://h/x", "unix://relative", "unix:///s?db=x",
        "redis://user:pw@h:1"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseRedisUrl(url).status())) << url;
  }
}

TEST(RedisConnectionTest, UnreachableIsUnavailable) {
  RedisAddress a;
  a.unix_socket = true;
  a.path = "/nonexistent/redis.sock";
  EXPECT_TRUE(absl::IsUnavailable(
      RedisConnection::Connect(a, absl::Seconds(1)).status()));
}

std::string Le(int64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  }
  return out;
}

class ScriptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = server_.Start();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<RedisAddress> a = ParseRedisUrl(server_.url());
    ASSERT_TRUE(a.ok());
    auto conn = RedisConnection::Connect(*a, absl::Seconds(2));
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = *std::move(conn);
    auto push = conn_->LoadScript(kPushScript);
    auto snap = conn_->LoadScript(kSnapshotScript);
    auto read = conn_->LoadScript(kReadScript);
    ASSERT_TRUE(push.ok() && snap.ok() && read.ok()) << push.status();
    push_ = *push;
    snap_ = *snap;
    read_ = *read;
    auto session =
        conn_->Command({"EVAL", kSessionScript, "1", "{p}:pos", "me", "token"});
    ASSERT_TRUE(session.ok()) << session.status();
  }

  std::vector<std::string> Push(const std::string& seq,
                                const std::vector<std::string>& groups,
                                const std::string& maxlen = "1000") {
    std::vector<std::string> args = {"EVALSHA", push_,     "3",  "{p}:data",
                                     "{p}:log", "{p}:pos", "me", maxlen,
                                     seq,       "token"};
    args.insert(args.end(), groups.begin(), groups.end());
    auto r = conn_->Command(args);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> ids;
    if (!r.ok()) return ids;
    for (size_t i = 0; i < (*r)->elements; ++i) {
      ids.emplace_back(ReplyString((*r)->element[i]));
    }
    return ids;
  }

  std::string HGet(const std::string& key) {
    auto r = conn_->Command({"HGET", "{p}:data", key});
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::string(ReplyString(r->get())) : "";
  }

  zcipc_test::RedisServer server_;
  std::unique_ptr<RedisConnection> conn_;
  std::string push_, snap_, read_;
};

TEST_F(ScriptsTest, PushWritesHashStreamAndPosition) {
  std::vector<std::string> ids = Push(
      "7", {"put", "a", "1", "1", "put", "b", "2", "2", "del", "a", "", "3"});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(HGet("b"), "2");
  auto a = conn_->Command({"HEXISTS", "{p}:data", "a"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->integer, 0);
  auto len = conn_->Command({"XLEN", "{p}:log"});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ((*len)->integer, 3);
  auto pos = conn_->Command({"HGET", "{p}:pos", "me"});
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(ReplyString(pos->get()), "7");
  // An empty seq keeps the position.
  Push("", {"put", "c", "3", "4"});
  pos = conn_->Command({"HGET", "{p}:pos", "me"});
  EXPECT_EQ(ReplyString(pos->get()), "7");
}

TEST_F(ScriptsTest, AddIsExact64BitTwosComplement) {
  const int64_t cases[][2] = {{0, 5},
                              {255, 1},
                              {-1, 1},
                              {1, -2},
                              {(int64_t{1} << 53) + 1, 1},
                              {INT64_MAX, 1},
                              {-1000000007, 999999999999}};
  int i = 0;
  for (const auto& c : cases) {
    std::string key = absl::StrCat("k", i++);
    Push("", {"put", key, Le(c[0]), "1"});
    Push("", {"add", key, Le(c[1]), "2"});
    int64_t want = static_cast<int64_t>(static_cast<uint64_t>(c[0]) +
                                        static_cast<uint64_t>(c[1]));
    EXPECT_EQ(HGet(key), Le(want)) << c[0] << " + " << c[1];
  }
  // Absent counts as 0.
  Push("", {"add", "fresh", Le(-3), "3"});
  EXPECT_EQ(HGet("fresh"), Le(-3));
}

TEST_F(ScriptsTest, ACallOfAnEarlierSessionIsRefused) {
  auto session =
      conn_->Command({"EVAL", kSessionScript, "1", "{p}:pos", "me", "newer"});
  ASSERT_TRUE(session.ok()) << session.status();
  auto r =
      conn_->Command({"EVALSHA", push_, "3", "{p}:data", "{p}:log", "{p}:pos",
                      "me", "1000", "9", "token", "put", "a", "1", "9"});
  EXPECT_TRUE(absl::IsInternal(r.status())) << r.status();
  auto a = conn_->Command({"HEXISTS", "{p}:data", "a"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->integer, 0);
}

TEST_F(ScriptsTest, ResyncAddAddsToACounterOrStoresTheValue) {
  Push("", {"put", "n", Le(10), "1"});
  Push("", {"radd", "n", Le(7) + Le(4), "2"});  // a counter: + delta
  EXPECT_EQ(HGet("n"), Le(14));
  Push("", {"radd", "absent", Le(7) + Le(4), "3"});  // none: the value
  EXPECT_EQ(HGet("absent"), Le(7));
  Push("", {"put", "text", "not a counter", "4"});
  Push("", {"radd", "text", Le(7) + Le(4), "5"});
  EXPECT_EQ(HGet("text"), Le(7));
}

TEST_F(ScriptsTest, SnapshotReturnsLastIdAndHash) {
  std::vector<std::string> ids =
      Push("1", {"put", "a", "x", "1", "put", "b", "y", "2"});
  auto r = conn_->Command({"EVALSHA", snap_, "2", "{p}:data", "{p}:log"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->elements, 2u);
  EXPECT_EQ(ReplyString((*r)->element[0]), ids.back());
  EXPECT_EQ((*r)->element[1]->elements, 4u);
}

TEST_F(ScriptsTest, ReadReportsAGapWhenThePositionWasTrimmed) {
  std::vector<std::string> first = Push("", {"put", "a", "1", "1"}, "1");
  for (int i = 0; i < 300; ++i) Push("", {"put", "a", "1", "1"}, "1");
  // MAXLEN ~ 1 trims whole nodes: the first entry is gone by now.
  auto r = conn_->Command({"EVALSHA", read_, "1", "{p}:log", first[0], "10"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReplyString((*r)->element[0]), "gap");
  // From a live position: the entries after it.
  std::vector<std::string> a = Push("", {"put", "b", "1", "2"});
  std::vector<std::string> b = Push("", {"put", "c", "2", "3"});
  r = conn_->Command({"EVALSHA", read_, "1", "{p}:log", a[0], "10"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(ReplyString((*r)->element[0]), "ok");
  ASSERT_EQ((*r)->element[1]->elements, 1u);
  EXPECT_EQ(ReplyString((*r)->element[1]->element[0]->element[0]), b[0]);
  EXPECT_EQ(ReplyString((*r)->element[2]), b[0]);
}

TEST_F(ScriptsTest, AStoppedServerMakesCommandsFailUnavailable) {
  ASSERT_TRUE(server_.Stop().ok());
  EXPECT_TRUE(absl::IsUnavailable(conn_->Command({"PING"}).status()));
}

}  // namespace
}  // namespace sync_internal
}  // namespace zcipc
