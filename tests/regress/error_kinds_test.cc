// Failures are machine-readable (zcipc/status.h): each carries an ErrorKind
// that programs test instead of the message, and its message names the dict
// and the operation that failed, exactly once. Before the fix, heap-full
// failures of Add, CompareAndSwap, Update and batches said "Put", and the
// binding found a full table by searching the message for "table full".

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ScopedName;

int Count(absl::string_view haystack, absl::string_view needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != absl::string_view::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Code, kind, and "dict 'NAME': OP: " once at the start.
void ExpectFailure(const absl::Status& s, absl::StatusCode code, ErrorKind kind,
                   const std::string& name, absl::string_view op) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(GetErrorKind(s), kind) << s;
  const std::string prefix = absl::StrCat("dict '", name, "': ", op, ": ");
  EXPECT_TRUE(absl::StartsWith(s.message(), prefix))
      << s << "\nexpected prefix: " << prefix;
  EXPECT_EQ(Count(s.message(), "dict '"), 1) << s;
}

class ErrorKindsTest : public ::testing::Test {
 protected:
  // A dict of this size; auto_grow false for the tests of a full dict.
  void Make(uint64_t max_items, uint64_t heap_size, bool auto_grow = true) {
    Options o;
    o.max_items = max_items;
    o.heap_size = heap_size;
    o.auto_grow = auto_grow;
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name_.name(), o);
    ASSERT_TRUE(d.ok()) << d.status();
    dict_.emplace(*std::move(d));
  }
  ScopedName name_{"kinds"};
  std::optional<ZeroCopyDict> dict_;
};

TEST_F(ErrorKindsTest, TableFullNamesEachOperation) {
  Make(2, 1 << 16, /*auto_grow=*/false);
  ASSERT_TRUE(dict_->Put("a", "1").ok());
  ASSERT_TRUE(dict_->Put("b", "1").ok());
  const std::string& n = name_.name();
  const auto kRE = absl::StatusCode::kResourceExhausted;
  ExpectFailure(dict_->Put("c", "1"), kRE, ErrorKind::kTableFull, n, "Put");
  ExpectFailure(dict_->Add("c", 1).status(), kRE, ErrorKind::kTableFull, n,
                "Add");
  ExpectFailure(dict_->CompareAndSwap("c", std::nullopt, "x").status(), kRE,
                ErrorKind::kTableFull, n, "CompareAndSwap");
  ExpectFailure(
      dict_->Update("c",
                    [](std::optional<absl::string_view>, std::string* out) {
                      *out = "x";
                      return absl::OkStatus();
                    }),
      kRE, ErrorKind::kTableFull, n, "Update");
  absl::Status inner;
  absl::Status outer = dict_->Write([&](Batch& b) {
    inner = b.Put("c", "1");
    return inner;
  });
  ExpectFailure(inner, kRE, ErrorKind::kTableFull, n, "Write: Put");
  // Write returns the batch's error as it is: named once.
  ExpectFailure(outer, kRE, ErrorKind::kTableFull, n, "Write: Put");
  ExpectFailure(dict_->Write([](Batch& b) { return b.Add("c", 1).status(); }),
                kRE, ErrorKind::kTableFull, n, "Write: Add");
}

TEST_F(ErrorKindsTest, HeapFullNamesTheRealOperation) {
  Make(100, 4096, /*auto_grow=*/false);
  const std::string& n = name_.name();
  const auto kRE = absl::StatusCode::kResourceExhausted;
  const std::string big(3000, 'x');
  ASSERT_TRUE(dict_->Put("big", big).ok());
  // Each of these needs a new block larger than what is left.
  ExpectFailure(dict_->Put("p", big), kRE, ErrorKind::kHeapFull, n, "Put");
  ExpectFailure(dict_->CompareAndSwap("c", std::nullopt, big).status(), kRE,
                ErrorKind::kHeapFull, n, "CompareAndSwap");
  ExpectFailure(
      dict_->Update("u",
                    [&](std::optional<absl::string_view>, std::string* out) {
                      *out = big;
                      return absl::OkStatus();
                    }),
      kRE, ErrorKind::kHeapFull, n, "Update");
  ExpectFailure(dict_->Write([&](Batch& b) {
    return b.CompareAndSwap("w", std::nullopt, big).status();
  }),
                kRE, ErrorKind::kHeapFull, n, "Write: CompareAndSwap");
  // Fill the heap with counters until Add itself runs out.
  absl::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) {
    s = dict_->Add(absl::StrCat("counter", i), 1).status();
  }
  ExpectFailure(s, kRE, ErrorKind::kHeapFull, n, "Add");
  // Nothing half-done is left behind.
  EXPECT_TRUE(dict_->Check().ok());
}

TEST_F(ErrorKindsTest, CounterKinds) {
  Make(10, 1 << 16);
  const std::string& n = name_.name();
  ASSERT_TRUE(dict_->Put("text", "hello").ok());
  ExpectFailure(dict_->Add("text", 1).status(),
                absl::StatusCode::kFailedPrecondition, ErrorKind::kNotACounter,
                n, "Add");
  ASSERT_TRUE(dict_->Add("c", INT64_MAX).ok());
  ExpectFailure(dict_->Add("c", 1).status(), absl::StatusCode::kOutOfRange,
                ErrorKind::kOverflow, n, "Add");
}

TEST_F(ErrorKindsTest, ReentryKind) {
  Make(10, 1 << 16);
  absl::Status inner;
  ASSERT_TRUE(dict_
                  ->Write([&](Batch&) {
                    inner = dict_->Put("k", "v");
                    return absl::OkStatus();
                  })
                  .ok());
  ExpectFailure(inner, absl::StatusCode::kFailedPrecondition,
                ErrorKind::kReentrant, name_.name(), "Put");
}

TEST_F(ErrorKindsTest, KeyTooLongNamesTheDictOnceAndIsNotTheWholeKey) {
  Make(10, 1 << 16);
  const std::string key(kMaxKeySize + 1, 'k');
  const std::string& n = name_.name();
  const auto kIA = absl::StatusCode::kInvalidArgument;
  std::string value;
  ExpectFailure(dict_->Put(key, "v"), kIA, ErrorKind::kKeyTooLong, n, "Put");
  ExpectFailure(dict_->Get(key, &value), kIA, ErrorKind::kKeyTooLong, n, "Get");
  ExpectFailure(dict_->Erase(key), kIA, ErrorKind::kKeyTooLong, n, "Erase");
  ExpectFailure(dict_->Contains(key).status(), kIA, ErrorKind::kKeyTooLong, n,
                "Contains");
  ExpectFailure(dict_->Write([&](Batch& b) { return b.Erase(key); }), kIA,
                ErrorKind::kKeyTooLong, n, "Write: Erase");
  EXPECT_LT(dict_->Put(key, "v").message().size(), 200u);
}

TEST(ErrorKindsStaticTest, CreateAndAttachKinds) {
  Options bad;
  bad.max_items = 0;
  absl::Status s = ZeroCopyDict::Create("kinds-bad-options", bad).status();
  ExpectFailure(s, absl::StatusCode::kInvalidArgument, ErrorKind::kBadOptions,
                "kinds-bad-options", "Create");
  s = ZeroCopyDict::Attach("../etc/passwd").status();
  ExpectFailure(s, absl::StatusCode::kInvalidArgument, ErrorKind::kBadName,
                "../etc/passwd", "Attach");
  // A missing dict is NotFound with a message (not a missing key).
  s = ZeroCopyDict::Attach("kinds-never-created").status();
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_TRUE(absl::StrContains(s.message(), "kinds-never-created")) << s;
}

TEST(ErrorKindsStaticTest, KindsSurviveCopiesAndHaveNames) {
  ZeroCopyDict moved_from = [] {
    ScopedName name("moved");
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name());
    ZeroCopyDict a = *std::move(d);
    ZeroCopyDict b = std::move(a);
    return a;  // moved-from
  }();
  absl::Status s = moved_from.Put("k", "v");
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kMovedFrom);
  absl::Status copy = s;
  EXPECT_EQ(GetErrorKind(copy), ErrorKind::kMovedFrom);
  EXPECT_STREQ(ErrorKindName(ErrorKind::kTableFull), "table_full");
  EXPECT_EQ(GetErrorKind(absl::OkStatus()), ErrorKind::kUnspecified);
  EXPECT_EQ(GetErrorKind(absl::InternalError("x")), ErrorKind::kUnspecified);
  // A missing key's NotFound carries nothing and allocates no message.
  EXPECT_EQ(GetLockHolderPid(s), 0);
}

}  // namespace
}  // namespace zcipc
