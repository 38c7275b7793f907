// sync: keeps a dict in step with the same dict on other machines through
// Redis (docs/SYNC.md), in the foreground until SIGINT or SIGTERM; --status
// shows every node's published state instead.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sync/redis_client.h"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "zcipc/redis_sync.h"

ABSL_FLAG(std::string, redis, "",
          "Redis URL: redis://HOST:PORT[/DB] or unix:///PATH[?db=N]");
ABSL_FLAG(std::string, prefix, "",
          "Redis key prefix P: keys {P}:data, {P}:log, {P}:pos, {P}:nodes");
ABSL_FLAG(std::string, direction, "both",
          "both, push (local changes out only) or pull (remote changes in "
          "only)");
ABSL_FLAG(uint64_t, stream_max_len, 1000000,
          "approximate cap on the stream's entries (XADD MAXLEN ~)");
ABSL_FLAG(std::string, origin, "",
          "this node's name in the stream (default: HOSTNAME/NAME)");
ABSL_FLAG(bool, status, false,
          "show every node's published state (lag, errors, resyncs, skipped "
          "values) and exit");

namespace zcipc {
namespace cli {
namespace {

int RunStatus(const Invocation& inv, const std::string& prefix) {
  absl::StatusOr<sync_internal::RedisAddress> address =
      sync_internal::ParseRedisUrl(absl::GetFlag(FLAGS_redis));
  if (!address.ok()) return Fail(inv, address.status());
  auto conn =
      sync_internal::RedisConnection::Connect(*address, absl::Seconds(5));
  if (!conn.ok()) return Fail(inv, conn.status());
  const std::string tag = absl::StrCat("{", prefix, "}");
  auto nodes = (*conn)->Command({"HGETALL", tag + ":nodes"});
  if (!nodes.ok()) return Fail(inv, nodes.status());
  auto last =
      (*conn)->Command({"XREVRANGE", tag + ":log", "+", "-", "COUNT", "1"});
  if (!last.ok()) return Fail(inv, last.status());
  auto len = (*conn)->Command({"XLEN", tag + ":log"});
  auto hlen = (*conn)->Command({"HLEN", tag + ":data"});
  std::string last_id = "0-0";
  if ((*last)->elements == 1) {
    last_id = std::string(
        sync_internal::ReplyString((*last)->element[0]->element[0]));
  }
  auto id_ms = [](absl::string_view id) -> int64_t {
    int64_t ms = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(id, '-');
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &ms)) return 0;
    return ms;
  };
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  nlohmann::json out = nlohmann::json::object();
  out["prefix"] = prefix;
  out["stream_last_id"] = last_id;
  out["stream_entries"] = len.ok() ? (*len)->integer : 0;
  out["keys"] = hlen.ok() ? (*hlen)->integer : 0;
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i + 1 < (*nodes)->elements; i += 2) {
    nlohmann::json n = nlohmann::json::parse(
        sync_internal::ReplyString((*nodes)->element[i + 1]), nullptr, false);
    if (!n.is_object()) continue;
    const int64_t t = n.value("time_ms", int64_t{0});
    n["report_age_ms"] = now_ms - t;
    const std::string pos = n.value("pull_position", std::string());
    // How far the node's pull position is behind the stream's last entry.
    n["stream_behind_ms"] =
        n.value("direction", std::string()) == "push" || pos.empty() ||
                pos == last_id
            ? 0
            : std::max<int64_t>(0, id_ms(last_id) - id_ms(pos));
    list.push_back(std::move(n));
  }
  out["nodes"] = list;
  if (absl::GetFlag(FLAGS_json)) {
    printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  printf("prefix %s: %lld keys, %lld stream entries, last %s\n", prefix.c_str(),
         static_cast<long long>(out["keys"].get<int64_t>()),
         static_cast<long long>(out["stream_entries"].get<int64_t>()),
         last_id.c_str());
  printf("%-28s %-6s %8s %10s %10s %9s %10s %9s %8s %8s  %s\n", "node", "dir",
         "seen", "pushed", "pulled", "push lag", "push ms", "pull ms",
         "skipped", "resyncs", "last error");
  for (const nlohmann::json& n : list) {
    printf("%-28s %-6s %7.1fs %10s %10s %9s %10.1f %9.1f %8s %8s  %s\n",
           n.value("origin", std::string()).c_str(),
           n.value("direction", std::string()).c_str(),
           n["report_age_ms"].get<int64_t>() / 1000.0,
           FormatCount(n.value("pushed", uint64_t{0})).c_str(),
           FormatCount(n.value("pulled", uint64_t{0})).c_str(),
           FormatCount(n.value("push_lag", uint64_t{0})).c_str(),
           n.value("push_lag_ms", 0.0),
           std::max(n.value("pull_lag_ms", 0.0),
                    static_cast<double>(n["stream_behind_ms"].get<int64_t>())),
           FormatCount(n.value("skipped_values", uint64_t{0})).c_str(),
           FormatCount(n.value("push_resyncs", uint64_t{0}) +
                       n.value("pull_resyncs", uint64_t{0}))
               .c_str(),
           n.value("last_error", std::string()).c_str());
  }
  if (list.empty()) printf("(no node has reported)\n");
  return kOk;
}

}  // namespace

int RunSync(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const std::string prefix = absl::GetFlag(FLAGS_prefix);
  if (absl::GetFlag(FLAGS_redis).empty()) {
    return UsageError(inv, "--redis=URL is required");
  }
  if (prefix.empty()) return UsageError(inv, "--prefix=P is required");
  if (absl::GetFlag(FLAGS_status)) return RunStatus(inv, prefix);

  SyncOptions options;
  options.redis_url = absl::GetFlag(FLAGS_redis);
  options.prefix = prefix;
  options.stream_max_len = absl::GetFlag(FLAGS_stream_max_len);
  options.origin = absl::GetFlag(FLAGS_origin);
  const std::string direction = absl::GetFlag(FLAGS_direction);
  if (direction == "both") {
    options.direction = SyncDirection::kBoth;
  } else if (direction == "push") {
    options.direction = SyncDirection::kPush;
  } else if (direction == "pull") {
    options.direction = SyncDirection::kPull;
  } else {
    return UsageError(inv, "--direction must be both, push or pull");
  }

  // The sync's threads inherit this mask: only sigwait below sees the
  // signals, so they stop the sync cleanly.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<RedisSync>> sync =
      RedisSync::Start(name, options);
  if (!sync.ok()) return Fail(inv, sync.status());
  fprintf(stderr,
          "zcipc sync: dict \"%s\" <-> %s prefix \"%s\" (%s); "
          "SIGINT or SIGTERM stops\n",
          name.c_str(), options.redis_url.c_str(), prefix.c_str(),
          direction.c_str());
  int sig = 0;
  sigwait(&stop_signals, &sig);
  (*sync)->Stop();
  SyncStats st = (*sync)->GetStats();
  fprintf(stderr,
          "zcipc sync: stopped (%s): pushed %llu, pulled %llu, skipped %llu, "
          "resyncs %llu, reconnects %llu%s%s\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM",
          static_cast<unsigned long long>(st.pushed),
          static_cast<unsigned long long>(st.pulled),
          static_cast<unsigned long long>(st.skipped_values),
          static_cast<unsigned long long>(st.push_resyncs + st.pull_resyncs),
          static_cast<unsigned long long>(st.reconnects),
          st.last_error.empty() ? "" : "; last error: ", st.last_error.c_str());
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
