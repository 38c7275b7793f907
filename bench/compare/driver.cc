// The multi-process comparison of zcipc with its peers (LMDB,
// Boost.Interprocess, Redis) and the in-process floor. Runs every phase on
// every data set and writes results.json (bench/compare/results_json.h);
// bench/compare/render.py makes RESULTS.md and the chart from it.
//
//   bench/compare.sh [--quick]           # the documented entry point
//   bazel run -c opt //bench/compare -- --keys=10000 --json_out=/tmp/r.json

#include <dirent.h>
#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/version.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/compare/harness.h"
#include "bench/compare/results_json.h"
#include "bench/compare/store.h"

ABSL_FLAG(std::string, keys, "10000,100000,1000000", "key counts");
ABSL_FLAG(std::string, sizes, "16,100,1000", "value sizes in bytes (>= 16)");
ABSL_FLAG(std::string, peers, "floor,zcipc,lmdb,boost,redis",
          "peers to run: floor, zcipc, lmdb, boost, redis");
ABSL_FLAG(double, phase_seconds, 0.15,
          "time of each timed phase (per repetition)");
ABSL_FLAG(double, insert_seconds, 1.5,
          "bound of the one-at-a-time insert of the first half of the keys");
ABSL_FLAG(double, mp_seconds, 0.5, "time of each readers-under-a-writer run");
ABSL_FLAG(int, reps, 3,
          "repetitions of the read-hit and update phases (median)");
ABSL_FLAG(int, paired_reps, 5,
          "alternated repetitions of the paired floor/zcipc/flock measurement "
          "(the single-process targets) on 100 B data sets; 0: off");
ABSL_FLAG(int, batch, 100, "operations per batch / pipeline (<= 256)");
ABSL_FLAG(std::string, readers, "1,2",
          "reader processes of the readers phases");
ABSL_FLAG(bool, multi_process, true, "run the readers-under-a-writer phases");
ABSL_FLAG(std::string, dir, "/dev/shm",
          "where LMDB's environment and other scratch files go (RAM, like the "
          "shared-memory peers)");
ABSL_FLAG(std::string, json_out, "",
          "write the results as JSON here (bench/compare/render.py makes "
          "RESULTS.md and the chart from it)");
ABSL_FLAG(std::string, command, "", "the command line to record in the report");
ABSL_FLAG(int64_t, command_start_unix, 0,
          "when the command that runs the driver started (seconds since the "
          "epoch), to record its setup and build time; 0: not recorded");
ABSL_FLAG(bool, check, false,
          "exit 1 unless every phase produced numbers with no torn reads and "
          "no errors");

namespace zcipc {
namespace bench {
namespace {

template <typename T>
std::vector<T> ParseList(const std::string& s) {
  std::vector<T> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    uint64_t v;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &v)) {
      fprintf(stderr, "not a number: %s\n", std::string(part).c_str());
      exit(2);
    }
    out.push_back(static_cast<T>(v));
  }
  return out;
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

int Nproc() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
}

std::string Kernel() {
  struct utsname u;
  if (uname(&u) != 0) return "unknown";
  return absl::StrCat(u.sysname, " ", u.release, " ", u.machine);
}

uint64_t MemoryBytes() {
  struct sysinfo si;
  if (sysinfo(&si) != 0) return 0;
  return static_cast<uint64_t>(si.totalram) * si.mem_unit;
}

// The 1, 5 and 15 minute load averages; empty if unreadable.
std::vector<double> LoadAverage() {
  std::ifstream f("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  f >> a >> b >> c;
  if (!f) return {};
  return {a, b, c};
}

std::string Utc(time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string CommandOutput(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  char buf[512];
  std::string out;
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  return std::string(absl::StripAsciiWhitespace(out));
}

// Segments and directories of earlier runs killed before they cleaned up
// (their pid is in the name and no longer alive).
void RemoveStale(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  const char* prefixes[] = {"zcipc.bench-compare-", "zcipc-bench-boost-",
                            "zcipc-bench-"};
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    for (const char* p : prefixes) {
      if (name.rfind(p, 0) != 0) continue;
      std::string rest = name.substr(strlen(p));
      int pid = 0;
      if (!absl::SimpleAtoi(rest.substr(0, rest.find('-')), &pid) || pid <= 0)
        break;
      if (kill(pid, 0) != 0 && errno == ESRCH)
        stale.push_back(dir + "/" + name);
      break;
    }
  }
  closedir(d);
  for (const std::string& path : stale) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (!ec)
      fprintf(stderr, "removed a leftover of a killed run: %s\n", path.c_str());
  }
}

std::string MakeTempDir(const std::string& base) {
  std::string tmpl = absl::StrCat(base, "/zcipc-bench-", getpid(), "-XXXXXX");
  if (mkdtemp(&tmpl[0]) == nullptr) {
    fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), strerror(errno));
    exit(1);
  }
  return tmpl;
}

std::string FormatRate(double v) {
  if (v >= 1e9) return absl::StrFormat("%.2fG", v / 1e9);
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

// The self-check of the test mode: every phase that ran produced numbers,
// no torn reads, no errors. False with the reasons in *why.
bool CheckResults(const std::vector<Result>& results, std::string* why) {
  bool ok = true;
  for (const Result& r : results) {
    std::string what =
        absl::StrCat(r.config, " ", r.keys, " keys ", r.value_size, " B ",
                     r.phase, r.readers ? absl::StrCat(" R=", r.readers) : "");
    if (!r.available) {
      if (r.errors > 0) {
        absl::StrAppend(why, what, ": failed: ", r.note, "\n");
        ok = false;
      }
      continue;
    }
    if (r.ops == 0 || !(r.ops_per_sec > 0)) {
      absl::StrAppend(why, what, ": no operations measured\n");
      ok = false;
    }
    if (r.torn > 0) {
      absl::StrAppend(why, what, ": ", r.torn, " torn reads\n");
      ok = false;
    }
    if (r.errors > 0) {
      absl::StrAppend(why, what, ": ", r.errors, " errors ", r.note, "\n");
      ok = false;
    }
    if (r.phase == "readers" && r.has_latency && r.latency.samples == 0) {
      absl::StrAppend(why, what, ": no latency samples\n");
      ok = false;
    }
    if (r.phase == "readers" && !(r.writer_ops_per_sec > 0)) {
      absl::StrAppend(why, what, ": the writer made no updates\n");
      ok = false;
    }
  }
  return ok;
}

void PrintSummary(const std::vector<Result>& results, size_t from) {
  std::string line;
  for (size_t i = from; i < results.size(); ++i) {
    const Result& r = results[i];
    if (!r.available) continue;
    std::string phase =
        r.phase == "readers" ? absl::StrCat("R", r.readers) : r.phase;
    absl::StrAppend(&line, "\n    ", r.config, " ", phase, " ",
                    FormatRate(r.ops_per_sec), "/s");
    if (r.phase != "readers") {
      absl::StrAppend(&line, absl::StrFormat(" %.0f ns", r.ns_per_op));
    } else if (r.has_latency) {
      absl::StrAppend(&line, absl::StrFormat(" p99.9 %.0f ns", r.latency.p999));
    }
    if (r.errors) absl::StrAppend(&line, " errors=", r.errors);
    if (r.torn) absl::StrAppend(&line, " TORN=", r.torn);
  }
  fprintf(stderr, "%s\n", line.c_str());
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const uint64_t t0 = NowNanos();
  RunInfo info;
  const time_t started = time(nullptr);
  info.date = Utc(started);
  info.date_unix = started;
  const int64_t command_start = absl::GetFlag(FLAGS_command_start_unix);
  if (command_start > 0 && command_start <= started) {
    info.setup_and_build_seconds = static_cast<double>(started - command_start);
  }
  info.command = absl::GetFlag(FLAGS_command);
  if (info.command.empty()) {
    for (int i = 0; i < argc; ++i)
      absl::StrAppend(&info.command, i ? " " : "", argv[i]);
  }
  info.nproc = Nproc();
  info.cpu_model = CpuModel();
  info.kernel = Kernel();
  info.memory_bytes = MemoryBytes();
  info.load_start = LoadAverage();
  Settings& s = info.settings;
  s.phase_seconds = absl::GetFlag(FLAGS_phase_seconds);
  s.insert_seconds = absl::GetFlag(FLAGS_insert_seconds);
  s.mp_seconds = absl::GetFlag(FLAGS_mp_seconds);
  s.reps = std::max(1, absl::GetFlag(FLAGS_reps));
  s.batch =
      static_cast<size_t>(std::clamp(absl::GetFlag(FLAGS_batch), 1, kPayloads));
  s.readers = ParseList<int>(absl::GetFlag(FLAGS_readers));
  s.multi_process = absl::GetFlag(FLAGS_multi_process);
  info.paired_reps = std::max(0, absl::GetFlag(FLAGS_paired_reps));
  info.keys = ParseList<uint64_t>(absl::GetFlag(FLAGS_keys));
  info.sizes = ParseList<uint64_t>(absl::GetFlag(FLAGS_sizes));
  for (uint64_t& size : info.sizes)
    size = std::max<uint64_t>(size, kMinValueSize);
  std::vector<std::string> peers =
      absl::StrSplit(absl::GetFlag(FLAGS_peers), ',', absl::SkipEmpty());

  {
    // What the clock adds to each latency sample.
    std::vector<uint32_t> d(100000);
    for (uint32_t& x : d) {
      uint64_t a = NowNanos();
      x = static_cast<uint32_t>(NowNanos() - a);
    }
    info.clock_overhead_ns = ComputePercentiles(&d).p50;
  }

  const std::string base = absl::GetFlag(FLAGS_dir);
  RemoveStale(base);
  const std::string scratch = MakeTempDir(base);

  // Redis: started once, stopped at the end (and on SIGINT/SIGTERM; the
  // server also dies with the driver through PR_SET_PDEATHSIG).
  RedisServer redis;
  std::string redis_dir;
  std::vector<std::string> run_peers;
  std::vector<std::string>& versions = info.versions;
  versions.push_back("zcipc (this tree)");
  for (const std::string& p : peers) {
    if (p == "floor") {
      run_peers.push_back(p);
    } else if (p == "zcipc") {
      run_peers.push_back(p);
    } else if (p == "lmdb") {
      run_peers.push_back(p);
      int major = 0, minor = 0, patch = 0;
      mdb_version(&major, &minor, &patch);
      versions.push_back(absl::StrCat("LMDB ", major, ".", minor, ".", patch));
    } else if (p == "boost") {
      run_peers.push_back(p);
      versions.push_back(absl::StrCat("Boost ", BOOST_VERSION / 100000, ".",
                                      BOOST_VERSION / 100 % 1000, ".",
                                      BOOST_VERSION % 100));
    } else if (p == "redis") {
      std::string binary = RedisServer::FindBinary();
      if (binary.empty()) {
        fprintf(stderr,
                "redis-server is not installed (tools/setup.sh installs it): "
                "skipping the Redis rows\n");
        info.skipped.push_back("Redis: redis-server is not installed");
        continue;
      }
      const char* tmp = getenv("TMPDIR");
      redis_dir = MakeTempDir(tmp != nullptr && *tmp ? tmp : "/tmp");
      absl::Status st = redis.Start(binary, redis_dir);
      if (!st.ok()) {
        fprintf(stderr,
                "redis-server did not start: %s: skipping the Redis rows\n",
                st.ToString().c_str());
        info.skipped.push_back(
            absl::StrCat("Redis: redis-server did not start: ", st.ToString()));
        continue;
      }
      StopRedisOnSignal(&redis);
      fprintf(stderr, "redis-server started (pid %d, socket %s)\n", redis.pid(),
              redis.socket().c_str());
      run_peers.push_back(p);
      versions.push_back(absl::StrCat(
          CommandOutput(binary + " --version 2>/dev/null | cut -d' ' -f1-3"),
          ", hiredis ", HIREDIS_MAJOR, ".", HIREDIS_MINOR, ".", HIREDIS_PATCH));
    } else {
      fprintf(stderr, "unknown peer %s\n", p.c_str());
      return 2;
    }
  }
  info.peers = run_peers;

  std::vector<Result> results;
  int tag = 0;
  for (uint64_t keys : info.keys) {
    for (uint64_t size : info.sizes) {
      uint64_t d0 = NowNanos();
      Dataset data = MakeDataset(keys, size);
      fprintf(stderr,
              "== %llu keys, %llu B values (data set built in %.1f s)\n",
              static_cast<unsigned long long>(keys),
              static_cast<unsigned long long>(size), (NowNanos() - d0) / 1e9);
      for (const std::string& p : run_peers) {
        std::unique_ptr<Store> store;
        if (p == "floor") store = NewFloorStore();
        if (p == "zcipc") store = NewZcipcStore();
        if (p == "lmdb") store = NewLmdbStore();
        if (p == "boost") store = NewBoostStore();
        if (p == "redis") store = NewRedisStore(redis.socket());
        size_t from = results.size();
        uint64_t p0 = NowNanos();
        if (p == "zcipc") results.push_back(MeasureFlockPair(data, s, scratch));
        RunStore(store.get(), data, s, scratch,
                 absl::StrCat(getpid(), "-", tag++), &results);
        fprintf(stderr, "  %s: %.1f s", store->name().c_str(),
                (NowNanos() - p0) / 1e9);
        PrintSummary(results, from);
      }
      const int paired = info.paired_reps;
      auto has = [&](const char* p) {
        return std::find(run_peers.begin(), run_peers.end(), p) !=
               run_peers.end();
      };
      if (paired > 0 && size == 100 && has("floor") && has("zcipc")) {
        size_t from = results.size();
        uint64_t p0 = NowNanos();
        RunPaired(data, s, paired, scratch, absl::StrCat(getpid(), "-", tag++),
                  &results);
        fprintf(stderr, "  paired floor/zcipc/flock: %.1f s",
                (NowNanos() - p0) / 1e9);
        PrintSummary(results, from);
      }
    }
  }
  redis.Stop();
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  if (!redis_dir.empty()) std::filesystem::remove_all(redis_dir, ec);

  info.driver_seconds = (NowNanos() - t0) / 1e9;
  info.load_end = LoadAverage();
  bool ok = true;
  const std::string json = absl::GetFlag(FLAGS_json_out);
  if (!json.empty()) {
    absl::Status st = WriteResultsJson(json, info, results);
    if (!st.ok()) {
      fprintf(stderr, "%s\n", st.ToString().c_str());
      ok = false;
    }
  }
  fprintf(stderr, "driver time %.1f s\n", info.driver_seconds);
  if (absl::GetFlag(FLAGS_check)) {
    std::string why;
    if (!CheckResults(results, &why)) {
      fprintf(stderr, "CHECK FAILED:\n%s", why.c_str());
      return 1;
    }
    fprintf(stderr,
            "check: every phase produced numbers, no torn reads, no errors\n");
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace bench
}  // namespace zcipc

int main(int argc, char** argv) { return zcipc::bench::Main(argc, argv); }
