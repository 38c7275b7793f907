// Value types: the tag stored beside each value (ValueType), set by typed
// writes, kBytes for untyped ones, kInt64 for Add; returned by the typed
// reads; kept through in-place updates, relocations and crash repair.

#include <signal.h>

#include <cstring>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "gtest/gtest.h"
#include "tests/engine/kill_at.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

Options Small() {
  Options o;
  o.max_items = 100;
  o.heap_size = 1 << 16;
  o.lock_timeout = absl::Seconds(5);
  return o;
}

ValueType TypeOf(const ZeroCopyDict& d, absl::string_view key,
                 std::string* value = nullptr) {
  std::string v;
  ValueType t = static_cast<ValueType>(99);
  absl::Status s = d.Get(key, &v, &t);
  EXPECT_TRUE(s.ok()) << s;
  if (value != nullptr) *value = v;
  return t;
}

TEST(ValueTypeTest, TypedWritesAreReadBackByEveryTypedRead) {
  ScopedName name("vt-rw");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("raw", "bytes").ok());
  ASSERT_TRUE(d->Put("text", "h\xc3\xa9llo", ValueType::kText).ok());
  ASSERT_TRUE(d->Put("pickle", "\x80\x04K\x01.", ValueType::kPickle).ok());
  ASSERT_TRUE(
      d->Put("reserved", "x", static_cast<ValueType>(200)).ok());  // opaque
  std::string v;
  EXPECT_EQ(TypeOf(*d, "raw", &v), ValueType::kBytes);
  EXPECT_EQ(v, "bytes");
  EXPECT_EQ(TypeOf(*d, "text", &v), ValueType::kText);
  EXPECT_EQ(v, "h\xc3\xa9llo");
  EXPECT_EQ(TypeOf(*d, "pickle"), ValueType::kPickle);
  EXPECT_EQ(static_cast<int>(TypeOf(*d, "reserved")), 200);
  // The type is optional.
  ASSERT_TRUE(d->Get("text", &v, nullptr).ok());
  EXPECT_EQ(v, "h\xc3\xa9llo");
  // The untyped reads see the same bytes.
  EXPECT_EQ(*d->Get("text"), "h\xc3\xa9llo");
  ValueType seen = ValueType::kBytes;
  ASSERT_TRUE(d->ReadTyped("text", [&](absl::string_view value, ValueType t) {
                 seen = t;
                 EXPECT_EQ(value, "h\xc3\xa9llo");
               }).ok());
  EXPECT_EQ(seen, ValueType::kText);
  std::map<std::string, ValueType> types;
  ASSERT_TRUE(
      d->ForEachTyped([&](absl::string_view k, absl::string_view, ValueType t) {
         types[std::string(k)] = t;
       }).ok());
  EXPECT_EQ(types.size(), 4u);
  EXPECT_EQ(types["raw"], ValueType::kBytes);
  EXPECT_EQ(types["text"], ValueType::kText);
  EXPECT_EQ(types["pickle"], ValueType::kPickle);
  EXPECT_TRUE(d->Check().ok());
}

TEST(ValueTypeTest, ATypeChangesWithEachWriteInPlaceOrRelocated) {
  ScopedName name("vt-change");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->Put("k", "12345678", ValueType::kText).ok());
  EXPECT_EQ(TypeOf(*d, "k"), ValueType::kText);
  ASSERT_TRUE(d->Put("k", "1234", ValueType::kFloat64).ok());  // in place
  EXPECT_EQ(TypeOf(*d, "k"), ValueType::kFloat64);
  ASSERT_TRUE(d->Put("k", "short").ok());  // untyped: bytes
  EXPECT_EQ(TypeOf(*d, "k"), ValueType::kBytes);
  ASSERT_TRUE(d->Put("k", std::string(3000, 't'), ValueType::kText).ok());
  std::string v;
  EXPECT_EQ(TypeOf(*d, "k", &v), ValueType::kText);  // relocated
  EXPECT_EQ(v.size(), 3000u);
  ASSERT_TRUE(d->Write([](Batch& b) {
                 absl::Status s = b.Put("b", "x", ValueType::kText);
                 std::string v;
                 ValueType t = ValueType::kBytes;
                 if (s.ok()) s = b.Get("b", &v, &t);
                 if (s.ok() && t != ValueType::kText) {
                   s = absl::InternalError("batch Get lost the type");
                 }
                 return s;
               }).ok());
  EXPECT_EQ(TypeOf(*d, "b"), ValueType::kText);
  EXPECT_TRUE(d->Check().ok());
}

TEST(ValueTypeTest, AddStoresInt64AndRefusesOtherTypes) {
  ScopedName name("vt-add");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d->Add("n", 5), 5);
  EXPECT_EQ(TypeOf(*d, "n"), ValueType::kInt64);
  // Raw 8 bytes (what Add stored before types) still count, and become
  // an int64.
  std::string raw(8, '\0');
  raw[0] = 7;
  ASSERT_TRUE(d->Put("old", raw).ok());
  EXPECT_EQ(*d->Add("old", 1), 8);
  EXPECT_EQ(TypeOf(*d, "old"), ValueType::kInt64);
  // Eight bytes of text or a double are not counters.
  ASSERT_TRUE(d->Put("t", "12345678", ValueType::kText).ok());
  absl::StatusOr<int64_t> r = d->Add("t", 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kNotACounter);
  ASSERT_TRUE(d->Put("f", std::string(8, '\0'), ValueType::kFloat64).ok());
  EXPECT_EQ(GetErrorKind(d->Add("f", 1).status()), ErrorKind::kNotACounter);
  EXPECT_EQ(*d->Get("t"), "12345678");  // unchanged
  // CompareAndSwap compares bytes and stores the type it is given.
  EXPECT_TRUE(*d->CompareAndSwap("t", "12345678", "abc", ValueType::kText));
  EXPECT_EQ(TypeOf(*d, "t"), ValueType::kText);
  EXPECT_TRUE(*d->CompareAndSwap("t", "abc", "def"));
  EXPECT_EQ(TypeOf(*d, "t"), ValueType::kBytes);
  // Update stores bytes.
  ASSERT_TRUE(
      d->Update("n", [](std::optional<absl::string_view>, std::string* out) {
         *out = "x";
         return absl::OkStatus();
       }).ok());
  EXPECT_EQ(TypeOf(*d, "n"), ValueType::kBytes);
}

// A writer killed while it rewrites a value in place with another type: the
// journal's redo restores the new value together with its new type.
TEST(ValueTypeTest, RepairOfAnInPlaceUpdateRestoresTheType) {
  for (const char* step : {"update.staged", "update.copied"}) {
    SCOPED_TRACE(step);
    ScopedName name("vt-crash");
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d->Put("k", "old-value", ValueType::kBytes).ok());
    pid_t victim = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) return 2;
      zcipc_test::KillAtStep(step);
      return h->Put("k", "new", ValueType::kText).ok() ? 4 : 3;
    });
    ChildResult r = WaitChild(victim);
    ASSERT_EQ(r.signal, SIGKILL) << r.Describe();
    ASSERT_TRUE(d->Check().ok());  // repairs: the journal is staged
    std::string v;
    EXPECT_EQ(TypeOf(*d, "k", &v), ValueType::kText);
    EXPECT_EQ(v, "new");
  }
}

}  // namespace
}  // namespace zcipc
