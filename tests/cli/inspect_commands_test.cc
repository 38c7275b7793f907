// Runs the real zcipc binary (argv[1]) as a subprocess and checks the
// inspection commands on dicts in trouble: `check` on a bad name, a busy
// writer lock (held by //tests/tools:stall_writer, argv[2]) and files that
// are not dicts; `stat`/`ls` on counters that cannot be true; `watch` on a
// dict that is unlinked or replaced; `bench`'s scratch dict (its size, its
// removal on a signal, --duration, its labels); errors as JSON; the name of
// the repair intent.

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/layout/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_runner.h"
#include "tests/segment_file.h"
#include "tests/test_util.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::zcipc_cli_test::Child;
using ::zcipc_cli_test::Json;
using ::zcipc_cli_test::kPatience;
using ::zcipc_cli_test::ParseJson;
using ::zcipc_cli_test::ProgramPath;
using ::zcipc_cli_test::Result;
using ::zcipc_cli_test::Zcipc;
using ::zcipc_cli_test::ZcipcPath;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;

// //tests/tools:stall_writer, the test's second argument.
const std::string& StallWriterPath() { return ProgramPath(2); }

void Create(const std::string& name, const std::string& max_items,
            const std::string& heap_size) {
  Result r = Zcipc(
      {"create", name, "--max-items=" + max_items, "--heap-size=" + heap_size});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
}

// Overwrites the 8-byte word at `offset` of the dict's segment file.
void PokeWord(const std::string& name, size_t offset, uint64_t value) {
  std::string image;
  ASSERT_TRUE(zcipc_test::ReadWholeFile(SegmentPath(name), &image));
  ASSERT_LE(offset + sizeof(value), image.size());
  memcpy(&image[offset], &value, sizeof(value));
  ASSERT_TRUE(zcipc_test::WriteWholeFile(SegmentPath(name), image));
}

constexpr size_t kSizeOffset = offsetof(zcipc::layout::Header, size);
constexpr size_t kTombstonesOffset =
    offsetof(zcipc::layout::Header, tombstones);
constexpr size_t kUsedBytesOffset =
    offsetof(zcipc::layout::Header, allocator) +
    offsetof(zcipc::layout::AllocatorControl, used_bytes);
constexpr size_t kIntentOpOffset = offsetof(zcipc::layout::Header, intent) +
                                   offsetof(zcipc::layout::Intent, op);

// Whether stdout has a line starting with `prefix` that contains `text`.
bool HasLine(const std::string& out, absl::string_view prefix,
             absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::StartsWith(line, prefix) && absl::StrContains(line, text)) {
      return true;
    }
  }
  return false;
}

// A stall_writer holding `name`'s writer lock, stopped mid-write; killed
// at the end of the scope (the next writer repairs its entry).
class StalledWriter {
 public:
  explicit StalledWriter(const std::string& name)
      : child_(StallWriterPath(), {name, "k", "wwww"}) {
    stopped_ = child_.WaitUntilStopped();
  }
  ~StalledWriter() { kill(child_.pid(), SIGKILL); }
  bool stopped() const { return stopped_; }
  pid_t pid() const { return child_.pid(); }
  std::string Err() const { return child_.Err(); }

 private:
  Child child_;
  bool stopped_ = false;
};

// --------------------------------------------------------------- check ---

TEST(Check, BadNameIsAUsageError) {
  for (const char* name : {"../etc/passwd", "bad/name", ".."}) {
    SCOPED_TRACE(name);
    Result r = Zcipc({"check", name});
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_TRUE(r.out.empty()) << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("invalid dict name"));
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("header failed validation")));
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("/dev/shm/zcipc.")));

    r = Zcipc({"check", name, "--json"});
    EXPECT_EXIT_CODE(r, 2);
    Json j = ParseJson(r.out);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error"]["code"], "INVALID_ARGUMENT");
    EXPECT_TRUE(j["error"]["kind"].is_string());
    EXPECT_THAT(j["error"]["message"].get<std::string>(),
                HasSubstr("invalid dict name"));
  }
}

TEST(Check, LockHeldIsNotAFailedCheck) {
  ScopedName name("ci-check-busy");
  const std::string& n = name.name();
  Create(n, "10", "64KiB");
  ASSERT_EQ(Zcipc({"put", n, "k", "vvvvvvvv"}).exit_code, 0);
  StalledWriter writer(n);
  ASSERT_TRUE(writer.stopped()) << writer.Err();

  Result r = Zcipc({"check", n, "--lock-timeout=100ms"});
  EXPECT_EXIT_CODE(r, 3);
  EXPECT_THAT(r.out, Not(HasSubstr("FAILED")));
  EXPECT_THAT(r.out, Not(HasSubstr("integrity check found a problem")));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(
                         "could not check: the writer lock is held by pid ",
                         writer.pid())));

  r = Zcipc({"check", n, "--lock-timeout=100ms", "--json"});
  EXPECT_EXIT_CODE(r, 3);
  Json j = ParseJson(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["checked"], false);
  EXPECT_EQ(j["error"]["code"], "DEADLINE_EXCEEDED");
  EXPECT_EQ(j["error"]["kind"], "lock_timeout");
  EXPECT_EQ(j["error"]["lock_holder_pid"], writer.pid());
}

TEST(Check, TellsDirectorySymlinkAndEmptyFileApart) {
  ScopedName dir("ci-check-dir"), link("ci-check-link"),
      empty("ci-check-empty");
  ASSERT_EQ(mkdir(SegmentPath(dir.name()).c_str(), 0700), 0);
  ASSERT_EQ(symlink("/etc/passwd", SegmentPath(link.name()).c_str()), 0);
  int fd = open(SegmentPath(empty.name()).c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  close(fd);

  struct Case {
    std::string name;
    std::string engine_says;  // the engine's message names what it is
    std::string kind;
    std::string reason;  // the report's own line
  };
  const std::vector<Case> cases = {
      {dir.name(), "is a directory", "not_a_file", "not a regular file"},
      {link.name(), "is a symbolic link", "not_a_file", "not a regular file"},
      {empty.name(), "", "no_header", "has no zcipc header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result r = Zcipc({"check", c.name, "--lock-timeout=100ms"});
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("check ", c.name, ": FAILED")));
    EXPECT_THAT(r.out, HasSubstr(c.engine_says));
    EXPECT_THAT(r.out, HasSubstr(c.reason));
    r = Zcipc({"check", c.name, "--lock-timeout=100ms", "--json"});
    EXPECT_EXIT_CODE(r, 1);
    Json j = ParseJson(r.out);
    EXPECT_EQ(j["stage"], "attach");
    EXPECT_EQ(j["error"]["kind"], c.kind);
  }
  rmdir(SegmentPath(dir.name()).c_str());
  unlink(SegmentPath(link.name()).c_str());
  unlink(SegmentPath(empty.name()).c_str());
}

// ----------------------------------------------------------- stat, ls ---

TEST(Stat, FlagsCountersThatCannotBeTrue) {
  ScopedName name("ci-stat-corrupt");
  const std::string& n = name.name();
  Create(n, "100", "64KiB");
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Zcipc({"put", n, absl::StrCat("k", i), "v"}).exit_code, 0);
  }
  // A healthy dict: nothing flagged.
  Result r = Zcipc({"stat", n});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, Not(HasSubstr("CORRUPT")));
  EXPECT_TRUE(
      ParseJson(Zcipc({"stat", n, "--json"}).out)["corrupt_counters"].empty());

  PokeWord(n, kSizeOffset, ~uint64_t{0});
  PokeWord(n, kTombstonesOffset, uint64_t{1} << 40);
  PokeWord(n, kUsedBytesOffset, uint64_t{1} << 62);

  r = Zcipc({"stat", n});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, Not(HasSubstr("18,446,744,073,709,551,615")));
  EXPECT_THAT(r.out, Not(HasSubstr("PiB")));
  EXPECT_TRUE(
      HasLine(r.out, "items", "CORRUPT (18446744073709551615 > max 100)"))
      << r.out;
  EXPECT_TRUE(
      HasLine(r.out, "heap", "CORRUPT (4611686018427387904 > heap size"))
      << r.out;
  EXPECT_THAT(r.out,
              HasSubstr("size: CORRUPT (18446744073709551615 > max 100)"));
  EXPECT_THAT(r.out,
              HasSubstr("tombstones: CORRUPT (1099511627776 > slot count"));
  EXPECT_THAT(r.out, HasSubstr("run zcipc check"));

  Json j = ParseJson(Zcipc({"stat", n, "--json"}).out);
  std::map<std::string, Json> bad;
  for (const Json& b : j["corrupt_counters"]) {
    bad[b["counter"].get<std::string>()] = b;
  }
  ASSERT_EQ(bad.count("size"), 1u) << j.dump(2);
  EXPECT_EQ(bad["size"]["value"], ~uint64_t{0});
  EXPECT_EQ(bad["size"]["rule"], "size <= max_items");
  EXPECT_EQ(bad.count("tombstones"), 1u);
  EXPECT_EQ(bad.count("heap_used"), 1u);

  r = Zcipc({"ls"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_TRUE(HasLine(r.out, n + " ", "CORRUPT")) << r.out;
  EXPECT_TRUE(HasLine(r.out, n + ": ", "size: CORRUPT")) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("18,446,744,073,709,551,615")));
  Json list = ParseJson(Zcipc({"ls", "--json"}).out);
  bool listed = false;
  for (const Json& d : list) {
    if (d["name"] != n) continue;
    listed = true;
    EXPECT_EQ(d["corrupt_counters"].size(), 3u) << d.dump(2);
  }
  EXPECT_TRUE(listed);

  r = Zcipc({"watch", n, "--count=1", "--interval=10ms"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("size: CORRUPT"));
  EXPECT_THAT(r.out, Not(HasSubstr("18,446,744,073,709,551,615")));
}

TEST(Stat, FlagsHeapCountersThatDoNotAddUp) {
  ScopedName name("ci-stat-sum");
  const std::string& n = name.name();
  Create(n, "100", "64KiB");
  ASSERT_EQ(Zcipc({"put", n, "k", "v"}).exit_code, 0);
  Json before = ParseJson(Zcipc({"stat", n, "--json"}).out);
  const uint64_t used = before["allocator"]["used_bytes"].get<uint64_t>();
  PokeWord(n, kUsedBytesOffset, used + 16);  // in range, but not the truth

  Result r = Zcipc({"stat", n});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("heap used + free: CORRUPT (",
                                            used + 16, " + ")));
  Json j = ParseJson(Zcipc({"stat", n, "--json"}).out);
  ASSERT_EQ(j["corrupt_counters"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["corrupt_counters"][0]["rule"],
            "heap_used + free_list_bytes == heap_size");
}

TEST(Stat, LargestFreeBlockIsUnknownWhenTheLockIsBusy) {
  ScopedName name("ci-stat-busy");
  const std::string& n = name.name();
  Create(n, "10", "64KiB");
  ASSERT_EQ(Zcipc({"put", n, "k", "vvvvvvvv"}).exit_code, 0);
  StalledWriter writer(n);
  ASSERT_TRUE(writer.stopped()) << writer.Err();

  Result r = Zcipc({"stat", n, "--lock-timeout=100ms"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_TRUE(HasLine(r.out, "heap", "largest unknown")) << r.out;
  EXPECT_FALSE(HasLine(r.out, "heap", "largest 0 B")) << r.out;
  Json j = ParseJson(Zcipc({"stat", n, "--lock-timeout=100ms", "--json"}).out);
  EXPECT_EQ(j["allocator"]["exact"], false);
  EXPECT_TRUE(j["allocator"]["largest_free_block"].is_null());
}

TEST(Stat, ErrorsAreJsonWithJson) {
  ScopedName name("ci-stat-missing");
  for (const char* command : {"stat", "check"}) {
    SCOPED_TRACE(command);
    Result r = Zcipc({command, name.name(), "--json"});
    EXPECT_EXIT_CODE(r, 1);
    Json j = ParseJson(r.out);
    EXPECT_EQ(j["name"], name.name());
    EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
    EXPECT_EQ(j["error"]["kind"], "unspecified");
    EXPECT_THAT(j["error"]["message"].get<std::string>(),
                HasSubstr(name.name()));

    r = Zcipc({command, "bad/name", "--json"});
    EXPECT_EXIT_CODE(r, 2);
    j = ParseJson(r.out);
    EXPECT_EQ(j["error"]["code"], "INVALID_ARGUMENT");
    EXPECT_TRUE(j["error"].contains("kind"));
    EXPECT_TRUE(j["error"].contains("message"));
  }
}

TEST(Stat, NamesTheRepairIntent) {
  ScopedName name("ci-stat-repair");
  const std::string& n = name.name();
  Create(n, "10", "64KiB");
  ASSERT_EQ(Zcipc({"put", n, "k", "v"}).exit_code, 0);
  // A repairer that died past its op-specific step leaves op kRepair.
  PokeWord(n, kIntentOpOffset,
           static_cast<uint64_t>(zcipc::layout::Op::kRepair));
  Result r = Zcipc({"stat", n});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_TRUE(HasLine(r.out, "intent", "repair slot=")) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("unknown")));
  // stat took the lock (for the free lists), so the repair is done now.
  Json j = ParseJson(Zcipc({"stat", n, "--json"}).out);
  EXPECT_EQ(j["lock"]["intent"], "");
  EXPECT_EQ(j["counters"]["repairs_total"], 1);
}

// --------------------------------------------------------------- watch ---

TEST(Watch, StopsWhenItsDictIsUnlinked) {
  ScopedName name("ci-watch-unlink");
  const std::string& n = name.name();
  Create(n, "10", "64KiB");
  Child watch(ZcipcPath(), {"watch", n, "--interval=20ms"});
  ASSERT_TRUE(watch.WaitForOutput("writes/s")) << watch.Err();
  ASSERT_EQ(Zcipc({"unlink", n}).exit_code, 0);
  Result r = watch.Wait();
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("dict \"", n, "\" was unlinked")));
}

TEST(Watch, StopsWhenItsDictIsReplaced) {
  ScopedName name("ci-watch-replace"), other("ci-watch-new");
  const std::string& n = name.name();
  Create(n, "10", "64KiB");
  Create(other.name(), "20", "64KiB");
  Child watch(ZcipcPath(), {"watch", n, "--interval=20ms"});
  ASSERT_TRUE(watch.WaitForOutput("writes/s")) << watch.Err();
  // Another dict takes the name in one step (as a creator links its new
  // dict into place): the name never disappears.
  ASSERT_EQ(rename(SegmentPath(other.name()).c_str(), SegmentPath(n).c_str()),
            0);
  Result r = watch.Wait();
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("dict \"", n, "\" was replaced")));
}

// --------------------------------------------------------------- bench ---

TEST(Bench, SizesItsHeapFromWhatItStores) {
  ScopedName name("ci-bench-size");
  constexpr uint64_t kKeys = 10, kValue = 1 << 20;
  Result r = Zcipc({"bench", name.name(), absl::StrCat("--keys=", kKeys),
                    "--value-size=1MiB", "--duration=5ms", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(r.out);
  const uint64_t heap = j["heap_size"].get<uint64_t>();
  EXPECT_GE(heap, kKeys * kValue);
  // The keys' values, one more for a relocation, and a little slack; not
  // 64 counters costed at the value size (which made it 148 MiB).
  EXPECT_LT(heap, (kKeys + 4) * kValue) << heap;
  EXPECT_NE(access(SegmentPath(name.name()).c_str(), F_OK), 0);
}

TEST(Bench, EveryValueSizeRunsInItsHeap) {
  for (const char* size : {"0", "8", "100", "4KiB", "5000", "256KiB"}) {
    SCOPED_TRACE(size);
    ScopedName name("ci-bench-fit");
    Result r = Zcipc({"bench", name.name(), "--keys=50",
                      absl::StrCat("--value-size=", size), "--duration=20ms",
                      "--json"});
    EXPECT_EXIT_CODE(r, 0);
    Json j = ParseJson(r.out);
    EXPECT_EQ(j["results"].size(), 7u);
  }
}

TEST(Bench, HonoursDurationInEveryPhase) {
  ScopedName name("ci-bench-duration");
  // 1ns: each phase is over after its first operation, however many keys.
  Result r = Zcipc({"bench", name.name(), "--keys=300", "--value-size=64KiB",
                    "--duration=1ns", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(r.out);
  EXPECT_EQ(j["keys"], 300);
  EXPECT_EQ(j["keys_inserted"], 1);
  ASSERT_EQ(j["results"].size(), 7u);
  for (const Json& p : j["results"]) {
    EXPECT_EQ(p["ops"], 1) << p["op"];
  }
}

TEST(Bench, LabelsRelocatingReplacements) {
  ScopedName small("ci-bench-small"), large("ci-bench-large");
  Result r = Zcipc({"bench", small.name(), "--keys=20", "--value-size=100",
                    "--duration=5ms"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("put (replace in place)"));
  // Over the journal's 4 KiB a replacement goes to a new block.
  r = Zcipc({"bench", large.name(), "--keys=20", "--value-size=5000",
             "--duration=5ms"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("put (replace, relocating)"));
  EXPECT_THAT(r.out, Not(HasSubstr("in place")));
}

TEST(Bench, RemovesItsScratchDictOnSigintAndSigterm) {
  for (int signo : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(signo));
    ScopedName name("ci-bench-signal");
    const std::string path = SegmentPath(name.name());
    Child bench(ZcipcPath(),
                {"bench", name.name(), "--keys=1000", "--duration=60s"});
    const absl::Time deadline = absl::Now() + kPatience;
    while (access(path.c_str(), F_OK) != 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(access(path.c_str(), F_OK), 0) << bench.Err();
    ASSERT_EQ(kill(bench.pid(), signo), 0);
    Result r = bench.Wait();
    EXPECT_EQ(r.signal, signo) << r.Describe();
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "scratch dict left behind";
  }
}

}  // namespace

int main(int argc, char** argv) {
  return zcipc_cli_test::RunAllTests(argc, argv,
                                     {"PATH_TO_ZCIPC", "PATH_TO_STALL_WRITER"});
}
