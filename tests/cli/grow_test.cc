// Runs the real zcipc binary (argv[1], from Bazel's data) and checks online
// growth from the command line: `zcipc grow` (Reserve: grows now, never
// shrinks, a flag left out keeps its figure, bad flags and a segment bound
// refused), `create --max-segment-size`, the capacity and growth that
// `stat` and `ls` show, and a put that grows a full dict (auto_grow).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_runner.h"
#include "tests/test_util.h"
#include "zcipc/options.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::zcipc_cli_test::Json;
using ::zcipc_cli_test::ParseJson;
using ::zcipc_cli_test::Result;
using ::zcipc_cli_test::Zcipc;
using ::zcipc_test::ScopedName;

void Create(const std::string& name, const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"create", name};
  args.insert(args.end(), flags.begin(), flags.end());
  Result r = Zcipc(args);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
}

// `stat NAME --json`.
Json StatJson(const std::string& name) {
  Result r = Zcipc({"stat", name, "--json"});
  EXPECT_EXIT_CODE(r, 0);
  return ParseJson(r.out);
}

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

uint64_t U64(const Json& j) { return j.get<uint64_t>(); }

// ---------------------------------------------------------------- grow ---

TEST(Grow, ReservesCapacity) {
  ScopedName d("grow-res");
  Create(d.name(), {"--max-items=10", "--heap-size=64KiB"});
  ASSERT_EQ(Zcipc({"put", d.name(), "k", "v"}).exit_code, 0);

  Result r = Zcipc({"grow", d.name(), "--max-items=100000"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("grew ", d.name(), ": ")));
  EXPECT_TRUE(r.err.empty()) << r.Describe();

  const Json j = StatJson(d.name());
  const Json& g = j["growth"];
  EXPECT_GE(U64(g["max_items"]), 100000u) << j.dump(2);
  EXPECT_EQ(g["max_items"], j["occupancy"]["max_items"]);
  // The table keeps max_items at a load factor <= 0.75.
  EXPECT_GE(U64(g["slot_count"]) * 3, U64(g["max_items"]) * 4);
  EXPECT_GE(U64(g["grows_total"]), 1u);
  EXPECT_GE(U64(g["heap_size"]), 64u * 1024);  // --heap-size left out: kept
  EXPECT_LE(U64(g["segment_size"]), U64(g["max_segment_size"]));
  EXPECT_EQ(g["growing"], false);  // Reserve returned: the migration is done
  // The entry made before the growth is still there.
  EXPECT_EQ(Zcipc({"get", d.name(), "k"}).out, "v\n");
}

TEST(Grow, HeapSizeAloneKeepsTheItemCapacity) {
  ScopedName d("grow-heap");
  Create(d.name(), {"--max-items=1000", "--heap-size=64KiB"});
  const Json before = StatJson(d.name());

  Result r = Zcipc({"grow", d.name(), "--heap-size=4MiB", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  const Json out = ParseJson(r.out);
  EXPECT_EQ(out["name"], d.name());
  EXPECT_EQ(out["grew"], true);
  EXPECT_GE(U64(out["heap_size"]), 4u << 20);
  EXPECT_EQ(out["max_items"], before["growth"]["max_items"]);
  EXPECT_GE(U64(out["grows_total"]), 1u);

  const Json after = StatJson(d.name());
  EXPECT_EQ(after["growth"]["heap_size"], out["heap_size"]);
  EXPECT_EQ(after["growth"]["max_items"], before["growth"]["max_items"]);
  EXPECT_EQ(after["growth"]["slot_count"], before["growth"]["slot_count"]);
}

TEST(Grow, NeverShrinks) {
  ScopedName d("grow-shrink");
  Create(d.name(), {"--max-items=1000", "--heap-size=1MiB"});
  const Json before = StatJson(d.name());

  Result r =
      Zcipc({"grow", d.name(), "--max-items=10", "--heap-size=4096", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  const Json out = ParseJson(r.out);
  EXPECT_EQ(out["grew"], false);
  EXPECT_EQ(out["grows_total"], 0);

  r = Zcipc({"grow", d.name(), "--max-items=1000"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("unchanged"));
  EXPECT_THAT(r.out, HasSubstr("0 grows so far"));

  const Json after = StatJson(d.name());
  EXPECT_EQ(after["growth"], before["growth"]);
}

TEST(Grow, RejectsBadFlags) {
  ScopedName d("grow-bad");
  Create(d.name(), {"--max-items=100", "--heap-size=64KiB"});
  const Json before = StatJson(d.name());
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"grow", d.name()}, "nothing to grow"},
      {{"grow", d.name(), "--max-items=0"}, "bad value for --max-items"},
      {{"grow", d.name(), "--max-items=-5"}, "bad value for --max-items"},
      {{"grow", d.name(), "--max-items=lots"}, "bad value for --max-items"},
      {{"grow", d.name(), absl::StrCat("--max-items=", zcipc::kMaxItems + 1)},
       "bad value for --max-items"},
      {{"grow", d.name(), "--heap-size=1"}, "bad value for --heap-size"},
      {{"grow", d.name(), "--heap-size=big"}, "bad value for --heap-size"},
      {{"grow", d.name(), "--heap-size=2TiB"}, "bad value for --heap-size"},
      {{"grow", d.name(), "--max-items"}, "needs a value"},
      // Sizes of a new dict, not of a grown one.
      {{"grow", d.name(), "--max-segment-size=1GiB"}, "unknown flag"},
      {{"grow", d.name(), "--change-log-bytes=4096"}, "unknown flag"},
      {{"grow", "--max-items=10"}, "missing arguments"},
      {{"grow", d.name(), "extra", "--max-items=10"}, "too many arguments"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    Result r = Zcipc(c.args);
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_THAT(r.err, HasSubstr("zcipc grow: "));
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_TRUE(r.out.empty()) << r.Describe();
  }
  // A bad name is a usage error too; a missing dict is exit 1.
  Result r = Zcipc({"grow", "bad/name", "--max-items=10"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("invalid dict name"));
  ScopedName missing("grow-missing");
  r = Zcipc({"grow", missing.name(), "--max-items=10"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("no dict \"", missing.name())));

  // Nothing grew.
  EXPECT_EQ(StatJson(d.name())["growth"], before["growth"]);
}

TEST(Grow, PastTheMaxSegmentSizeFailsAndChangesNothing) {
  ScopedName d("grow-bound");
  Create(d.name(), {"--max-items=100", "--heap-size=64KiB",
                    "--change-log-bytes=0", "--max-segment-size=4MiB"});
  const Json before = StatJson(d.name());
  ASSERT_LE(U64(before["growth"]["max_segment_size"]), 4u << 20)
      << before.dump(2);

  Result r = Zcipc({"grow", d.name(), "--heap-size=64MiB"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("resource exhausted"));
  EXPECT_THAT(r.err, HasSubstr(d.name()));
  EXPECT_TRUE(r.out.empty()) << r.Describe();
  EXPECT_EQ(StatJson(d.name())["growth"], before["growth"]);
}

// -------------------------------------------------------------- create ---

TEST(Create, MaxSegmentSizeIsStored) {
  ScopedName d("grow-max"), e("grow-default");
  Create(d.name(),
         {"--max-items=100", "--heap-size=64KiB", "--max-segment-size=1GiB"});
  Json g = StatJson(d.name())["growth"];
  EXPECT_EQ(U64(g["max_segment_size"]), 1u << 30) << g.dump(2);

  // The default: the size of /dev/shm, at least the segment itself.
  Create(e.name(), {"--max-items=100", "--heap-size=64KiB"});
  g = StatJson(e.name())["growth"];
  EXPECT_GE(U64(g["max_segment_size"]), U64(g["segment_size"])) << g.dump(2);
  EXPECT_LE(U64(g["max_segment_size"]), zcipc::kMaxSegmentSize);
}

TEST(Create, MaxSegmentSizeRejectsBadValues) {
  ScopedName d("grow-maxbad");
  for (const std::string& value :
       {std::string("big"), std::string("-1"), std::string("5TiB"),
        absl::StrCat(zcipc::kMaxSegmentSize + 1)}) {
    SCOPED_TRACE(value);
    Result r = Zcipc({"create", d.name(), "--max-segment-size=" + value});
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_THAT(r.err, HasSubstr("bad value for --max-segment-size"));
    EXPECT_EXIT_CODE(Zcipc({"stat", d.name()}), 1);  // nothing created
  }
  EXPECT_THAT(Zcipc({"create", "--help"}).out, HasSubstr("--max-segment-size"));
}

// ---------------------------------------------------------- stat and ls ---

TEST(Stat, ShowsGrowth) {
  ScopedName d("grow-stat");
  Create(d.name(),
         {"--max-items=10", "--heap-size=64KiB", "--max-segment-size=256MiB"});
  Result r = Zcipc({"stat", d.name()});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_TRUE(HasLine(r.out, "growth", "0 grows so far")) << r.out;
  EXPECT_TRUE(HasLine(r.out, "growth", "may grow to 256.0 MiB")) << r.out;
  EXPECT_TRUE(HasLine(r.out, "items", "of 10 max")) << r.out;

  ASSERT_EQ(Zcipc({"grow", d.name(), "--max-items=5000"}).exit_code, 0);
  r = Zcipc({"stat", d.name()});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_TRUE(HasLine(r.out, "growth", "so far")) << r.out;
  EXPECT_FALSE(HasLine(r.out, "growth", "0 grows so far")) << r.out;
  EXPECT_FALSE(HasLine(r.out, "growth", "growing now")) << r.out;
  EXPECT_FALSE(HasLine(r.out, "items", "of 10 max")) << r.out;

  const Json j = StatJson(d.name());
  EXPECT_GE(U64(j["occupancy"]["max_items"]), 5000u);
  EXPECT_EQ(j["occupancy"]["slot_count"], j["growth"]["slot_count"]);
  EXPECT_EQ(j["allocator"]["heap_size"], j["growth"]["heap_size"]);
  EXPECT_EQ(j["header"]["segment_size"], j["growth"]["segment_size"]);
  EXPECT_EQ(U64(j["growth"]["max_segment_size"]), 256u << 20);
  EXPECT_GE(U64(j["growth"]["grows_total"]), 1u);
}

TEST(Ls, ShowsCapacityAndGrowth) {
  ScopedName d("grow-ls");
  Create(d.name(), {"--max-items=10", "--heap-size=64KiB"});
  ASSERT_EQ(Zcipc({"grow", d.name(), "--max-items=5000"}).exit_code, 0);

  Result r = Zcipc({"ls", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  const Json list = ParseJson(r.out);
  ASSERT_TRUE(list.is_array());
  const Json* mine = nullptr;
  for (const Json& e : list) {
    if (e["name"] == d.name()) mine = &e;
  }
  ASSERT_NE(mine, nullptr) << r.out;
  EXPECT_GE(U64((*mine)["max_items"]), 5000u);
  EXPECT_GE(U64((*mine)["slot_count"]) * 3, U64((*mine)["max_items"]) * 4);
  EXPECT_GE(U64((*mine)["grows_total"]), 1u);
  EXPECT_EQ((*mine)["growing"], false);
  EXPECT_GE(U64((*mine)["max_segment_size"]), U64((*mine)["segment_size"]));

  r = Zcipc({"ls"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("GROWS"));
  bool found = false;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (!absl::StartsWith(line, d.name() + " ")) continue;
    found = true;
    std::vector<absl::string_view> cols =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    // NAME ITEMS MAX HEAP-USED(2) HEAP-SIZE(2) SEGMENT(2) GROWS VERSION
    // WRITER
    ASSERT_EQ(cols.size(), 12u) << line;
    EXPECT_NE(cols[2], "10") << line;  // the capacity now
    EXPECT_NE(cols[9], "0") << line;
  }
  EXPECT_TRUE(found) << r.out;
}

// ------------------------------------------------------------ auto_grow ---

TEST(Put, GrowsAFullDict) {
  ScopedName d("grow-put");
  Create(d.name(), {"--max-items=4", "--heap-size=4096"});
  constexpr int kKeys = 40;
  for (int i = 0; i < kKeys; ++i) {
    Result r = Zcipc({"put", d.name(), absl::StrCat("key", i),
                      std::string(100, static_cast<char>('a' + i % 26))});
    ASSERT_EQ(r.exit_code, 0) << i << ": " << r.Describe();
  }
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(Zcipc({"get", d.name(), absl::StrCat("key", i)}).out,
              std::string(100, static_cast<char>('a' + i % 26)) + "\n");
  }
  const Json j = StatJson(d.name());
  EXPECT_EQ(j["occupancy"]["items"], kKeys);
  EXPECT_GE(U64(j["growth"]["max_items"]), uint64_t{kKeys});
  EXPECT_GE(U64(j["growth"]["grows_total"]), 2u);  // the table and the heap
  EXPECT_EXIT_CODE(Zcipc({"check", d.name()}), 0);
}

}  // namespace

int main(int argc, char** argv) {
  return zcipc_cli_test::RunAllTests(argc, argv, {"PATH_TO_ZCIPC"});
}
