// Single-process tests of the public API (include/zcipc/zero_copy_dict.h):
// every operation, every error code it documents, and the failures of the
// Python package we replace (docs/KNOWN-FAILURES.md, cited as KF #n) shown
// not to happen.

#include "zcipc/zero_copy_dict.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace zcipc {
namespace {

using ::zcipc_test::HasCode;
using ::zcipc_test::HasCodeAndName;
using ::zcipc_test::IsOk;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;
using ::zcipc_test::ToString;

constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;
constexpr absl::StatusCode kAlreadyExists = absl::StatusCode::kAlreadyExists;
constexpr absl::StatusCode kInvalidArgument =
    absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kResourceExhausted =
    absl::StatusCode::kResourceExhausted;
constexpr absl::StatusCode kDeadlineExceeded =
    absl::StatusCode::kDeadlineExceeded;
constexpr absl::StatusCode kFailedPrecondition =
    absl::StatusCode::kFailedPrecondition;

Options SmallOptions(uint64_t max_items = 1000,
                     uint64_t heap_size = uint64_t{4} << 20) {
  Options options;
  options.max_items = max_items;
  options.heap_size = heap_size;
  return options;
}

// SmallOptions of a dict that never grows (auto_grow false): a write that
// finds its table or heap full is ResourceExhausted, what the tests of a
// full dict test.
Options FixedOptions(uint64_t max_items, uint64_t heap_size) {
  Options options = SmallOptions(max_items, heap_size);
  options.auto_grow = false;
  return options;
}

// The documented cost of one entry in the heap (Options::heap_size): one
// block of 24 header bytes + the key and the value each padded to 8 bytes,
// rounded up to 16 bytes, at least 32.
uint64_t EntryCost(size_t key_size, size_t value_size) {
  const uint64_t padded_key = (key_size + 7) / 8 * 8;
  const uint64_t padded_value = (value_size + 7) / 8 * 8;
  return std::max<uint64_t>(32,
                            (24 + padded_key + padded_value + 15) / 16 * 16);
}

// Deterministic bytes covering all 256 values.
std::string PatternBytes(size_t size, uint32_t seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  }
  return s;
}

std::string RandomBytes(std::mt19937_64& rng, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>(rng() & 0xff);
  return s;
}

std::map<std::string, std::string> Contents(const ZeroCopyDict& dict,
                                            int* visits = nullptr) {
  std::map<std::string, std::string> out;
  int count = 0;
  absl::Status s = dict.ForEach([&](absl::string_view k, absl::string_view v) {
    ++count;
    out[ToString(k)] = ToString(v);
  });
  EXPECT_OK(s);
  if (visits != nullptr) *visits = count;
  return out;
}

// The file size of the segment, or -1.
int64_t SegmentFileSize(absl::string_view name) {
  struct stat st;
  if (stat(SegmentPath(name).c_str(), &st) != 0) return -1;
  return st.st_size;
}

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Read() hands fn a view of the value in place, so the view's address shows
// whether an update reused the block. Under ThreadSanitizer the engine hands
// fn a private copy instead (engine/dict/zero_copy_dict.cc), and the address
// says nothing.
#if defined(__SANITIZE_THREAD__)
constexpr bool kReadIsZeroCopy = false;
#else
constexpr bool kReadIsZeroCopy = true;
#endif

// Each test gets fresh names that are unlinked when it ends.
class ZeroCopyDictTest : public ::testing::Test {
 protected:
  const std::string& NewName(absl::string_view tag = "api") {
    names_.emplace_back(std::make_unique<ScopedName>(tag));
    return names_.back()->name();
  }

  // The allocator's used + free bytes: constant over a dict's life if no
  // byte of the heap is ever lost (KF #3, #5).
  static uint64_t HeapAccounted(const ZeroCopyDict& dict) {
    AllocatorStats a = dict.GetAllocatorStats();
    EXPECT_TRUE(a.exact);
    return a.used_bytes + a.free_bytes;
  }

 private:
  std::deque<std::unique_ptr<ScopedName>> names_;
};

// ---------------------------------------------------------------------------
// Lifecycle: Create / Attach / OpenOrCreate / Unlink.

TEST_F(ZeroCopyDictTest, CreateAttachOpenOrCreateUnlink) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict created,
                       ZeroCopyDict::Create(name, SmallOptions()));
  EXPECT_EQ(created.name(), name);
  EXPECT_EQ(created.Size(), 0u);
  ASSERT_OK(created.Put("k", "v1"));
  EXPECT_TRUE(SegmentFileSize(name) > 0);

  ASSERT_OK_AND_ASSIGN(ZeroCopyDict attached, ZeroCopyDict::Attach(name));
  EXPECT_EQ(attached.name(), name);
  ASSERT_OK_AND_ASSIGN(std::string v, attached.Get("k"));
  EXPECT_EQ(v, "v1");

  // OpenOrCreate of an existing dict attaches (and keeps the data); its
  // options are ignored.
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict opened,
      ZeroCopyDict::OpenOrCreate(name, SmallOptions(5, 1 << 20)));
  ASSERT_OK_AND_ASSIGN(v, opened.Get("k"));
  EXPECT_EQ(v, "v1");
  EXPECT_EQ(opened.GetStats().max_items, 1000u);

  // OpenOrCreate of a missing name creates it with the given options.
  const std::string& fresh = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict made,
                       ZeroCopyDict::OpenOrCreate(fresh, SmallOptions(77)));
  EXPECT_EQ(made.Size(), 0u);
  EXPECT_EQ(made.GetStats().max_items, 77u);
  EXPECT_EQ(made.name(), fresh);
  EXPECT_OK(made.Check());

  ASSERT_OK(ZeroCopyDict::Unlink(name));
  EXPECT_EQ(SegmentFileSize(name), -1);
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Unlink(name), kNotFound, name));
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Attach(name), kNotFound, name));
  ASSERT_OK(ZeroCopyDict::Unlink(fresh));
  EXPECT_OK(created.Check());
}

// KF #15: creating a name that exists must not wipe or resize it.
TEST_F(ZeroCopyDictTest, CreateOfExistingNameIsAlreadyExistsAndKeepsData) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions(1000, 4 << 20)));
  ASSERT_OK(dict.Put("a", "apple"));
  ASSERT_OK(dict.Put("b", std::string(5000, 'b')));
  const int64_t file_size = SegmentFileSize(name);
  const Stats before = dict.GetStats();

  // Same options, smaller ones, larger ones: all refused.
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Create(name, SmallOptions()),
                             kAlreadyExists, name));
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Create(name, SmallOptions(8, 65536)),
                             kAlreadyExists, name));
  EXPECT_TRUE(
      HasCodeAndName(ZeroCopyDict::Create(name, SmallOptions(100000, 64 << 20)),
                     kAlreadyExists, name));

  EXPECT_EQ(SegmentFileSize(name), file_size);
  const Stats after = dict.GetStats();
  EXPECT_EQ(after.segment_size, before.segment_size);
  EXPECT_EQ(after.max_items, before.max_items);
  EXPECT_EQ(after.heap_size, before.heap_size);
  EXPECT_EQ(after.size, 2u);
  ASSERT_OK_AND_ASSIGN(std::string a, dict.Get("a"));
  EXPECT_EQ(a, "apple");
  ASSERT_OK_AND_ASSIGN(std::string b, dict.Get("b"));
  EXPECT_EQ(b, std::string(5000, 'b'));

  ASSERT_OK_AND_ASSIGN(ZeroCopyDict other, ZeroCopyDict::Attach(name));
  ASSERT_OK_AND_ASSIGN(a, other.Get("a"));
  EXPECT_EQ(a, "apple");
  EXPECT_EQ(other.Size(), 2u);
  EXPECT_OK(dict.Check());
}

TEST_F(ZeroCopyDictTest, AttachOrUnlinkOfMissingDictIsNotFound) {
  const std::string& name = NewName("missing");
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Attach(name), kNotFound, name));
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Unlink(name), kNotFound, name));
  // A failed Attach creates nothing.
  EXPECT_EQ(SegmentFileSize(name), -1);
}

// KF #18: names are validated before anything touches the file system.
TEST_F(ZeroCopyDictTest, InvalidNamesAreInvalidArgument) {
  const std::vector<std::string> bad_names = {
      "",
      ".",
      "..",
      "a/b",
      "../../x",
      "/abs",
      std::string(kMaxNameLength + 1, 'n'),
      "caf\xc3\xa9",
      "a b",
      " ",
      std::string("a\0b", 3),
      "tab\tname",
      "new\nline",
      "star*",
  };
  for (const std::string& bad : bad_names) {
    SCOPED_TRACE(absl::StrCat("name \"", absl::CEscape(bad), "\""));
    for (int op = 0; op < 4; ++op) {
      absl::Status s;
      switch (op) {
        case 0:
          s = ZeroCopyDict::Create(bad, SmallOptions()).status();
          break;
        case 1:
          s = ZeroCopyDict::Attach(bad).status();
          break;
        case 2:
          s = ZeroCopyDict::OpenOrCreate(bad, SmallOptions()).status();
          break;
        case 3:
          s = ZeroCopyDict::Unlink(bad);
          break;
      }
      SCOPED_TRACE(absl::StrCat("operation ", op));
      EXPECT_TRUE(HasCode(s, kInvalidArgument));
    }
  }
  // Nothing escaped the shared-memory folder.
  struct stat st;
  EXPECT_NE(stat("/x", &st), 0);
  EXPECT_NE(stat("/dev/x", &st), 0);
}

// Error messages name the dict, a bad name included (raw or escaped).
TEST_F(ZeroCopyDictTest, InvalidNameMessagesQuoteTheName) {
  const std::vector<std::string> bad_names = {
      ".",
      "..",
      "a/b",
      "../../x",
      std::string(kMaxNameLength + 1, 'n'),
      "caf\xc3\xa9",
      "a b",
      std::string("a\0b", 3),
  };
  for (const std::string& bad : bad_names) {
    SCOPED_TRACE(absl::StrCat("name \"", absl::CEscape(bad), "\""));
    const absl::Status statuses[] = {
        ZeroCopyDict::Create(bad, SmallOptions()).status(),
        ZeroCopyDict::Attach(bad).status(),
        ZeroCopyDict::OpenOrCreate(bad, SmallOptions()).status(),
        ZeroCopyDict::Unlink(bad),
    };
    for (const absl::Status& s : statuses) {
      absl::string_view m = s.message();
      EXPECT_TRUE(m.find(bad) != absl::string_view::npos ||
                  m.find(absl::CEscape(bad)) != absl::string_view::npos ||
                  m.find(absl::CHexEscape(bad)) != absl::string_view::npos)
          << "message: " << s;
    }
  }
}

TEST_F(ZeroCopyDictTest, ValidNamesIncludingExactlyMaxLength) {
  const std::string pid = absl::StrCat(getpid());
  std::string longest = absl::StrCat("L", pid, "-");
  longest.resize(kMaxNameLength, 'z');
  ASSERT_EQ(longest.size(), 200u);
  const std::vector<std::string> good = {
      longest,
      absl::StrCat("Az09._-", pid),
      absl::StrCat("...", pid),
      absl::StrCat(".hidden", pid),
      absl::StrCat("-", pid, "_"),
  };
  for (const std::string& name : good) {
    SCOPED_TRACE(name);
    struct UnlinkAtEnd {
      const std::string& name;
      ~UnlinkAtEnd() { ZeroCopyDict::Unlink(name).IgnoreError(); }
    } unlink_at_end{name};
    {
      absl::StatusOr<ZeroCopyDict> dict =
          ZeroCopyDict::Create(name, SmallOptions(10, 1 << 20));
      ASSERT_TRUE(IsOk(dict));
      EXPECT_EQ(dict->name(), name);
      EXPECT_EQ(dict->GetStats().name, name);
      EXPECT_OK(dict->Put(name, name));
      ASSERT_OK_AND_ASSIGN(ZeroCopyDict again, ZeroCopyDict::Attach(name));
      ASSERT_OK_AND_ASSIGN(std::string v, again.Get(name));
      EXPECT_EQ(v, name);
    }
    EXPECT_OK(ZeroCopyDict::Unlink(name));
  }
}

TEST_F(ZeroCopyDictTest, BadOptionsAreRejectedAndCreateNothing) {
  {
    const std::string& name = NewName("opt");
    Options o = SmallOptions();
    o.heap_size = 0;  // no entry could ever fit
    EXPECT_TRUE(HasCode(ZeroCopyDict::Create(name, o), kInvalidArgument));
    EXPECT_TRUE(HasCode(ZeroCopyDict::OpenOrCreate(name, o), kInvalidArgument));
    EXPECT_EQ(SegmentFileSize(name), -1);
  }
  {
    const std::string& name = NewName("opt");
    Options o = SmallOptions();
    o.max_items = 0;  // a table that can hold nothing
    EXPECT_TRUE(HasCode(ZeroCopyDict::Create(name, o), kInvalidArgument));
    EXPECT_EQ(SegmentFileSize(name), -1);
  }
  {
    // A slot table that cannot be addressed: refused, never a crash.
    const std::string& name = NewName("opt");
    Options o = SmallOptions();
    o.max_items = uint64_t{1} << 62;
    absl::Status s = ZeroCopyDict::Create(name, o).status();
    EXPECT_TRUE(s.code() == kInvalidArgument || s.code() == kResourceExhausted)
        << s;
    EXPECT_EQ(SegmentFileSize(name), -1);
  }
}

// KF #10, #19 (inverted): closing a handle never removes the dict.
TEST_F(ZeroCopyDictTest, DestructorNeverUnlinks) {
  const std::string& name = NewName();
  {
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                         ZeroCopyDict::Create(name, SmallOptions()));
    ASSERT_OK(dict.Put("kept", "yes"));
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict second, ZeroCopyDict::Attach(name));
  }  // both handles closed
  EXPECT_GT(SegmentFileSize(name), 0);
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict, ZeroCopyDict::Attach(name));
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get("kept"));
  EXPECT_EQ(v, "yes");
  EXPECT_OK(dict.Check());
}

TEST_F(ZeroCopyDictTest, SecondHandleInSameProcessSeesWrites) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict first,
                       ZeroCopyDict::Create(name, SmallOptions()));
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict second, ZeroCopyDict::Attach(name));
  ASSERT_OK(first.Put("from-first", "1"));
  ASSERT_OK_AND_ASSIGN(std::string v, second.Get("from-first"));
  EXPECT_EQ(v, "1");
  ASSERT_OK(second.Put("from-second", std::string(3000, 's')));
  ASSERT_OK_AND_ASSIGN(v, first.Get("from-second"));
  EXPECT_EQ(v, std::string(3000, 's'));
  ASSERT_OK(second.Put("from-first", "updated by second"));
  ASSERT_OK_AND_ASSIGN(v, first.Get("from-first"));
  EXPECT_EQ(v, "updated by second");
  ASSERT_OK(first.Erase("from-second"));
  EXPECT_TRUE(HasCode(second.Get("from-second"), kNotFound));
  EXPECT_EQ(first.Size(), 1u);
  EXPECT_EQ(second.Size(), 1u);
  EXPECT_OK(first.Check());
  EXPECT_OK(second.Check());
}

TEST_F(ZeroCopyDictTest, UnlinkedDictKeepsWorkingForOpenHandles) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict second, ZeroCopyDict::Attach(name));
  ASSERT_OK(dict.Put("before", "1"));
  ASSERT_OK(ZeroCopyDict::Unlink(name));

  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Attach(name), kNotFound, name));
  ASSERT_OK(dict.Put("after", "2"));
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get("before"));
  EXPECT_EQ(v, "1");
  ASSERT_OK_AND_ASSIGN(v, second.Get("after"));
  EXPECT_EQ(v, "2");
  ASSERT_OK(dict.Erase("before"));
  EXPECT_EQ(second.Size(), 1u);
  EXPECT_OK(dict.Check());
  EXPECT_OK(second.Check());

  // The name is free again: a new, empty, unrelated dict.
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict reborn,
                       ZeroCopyDict::OpenOrCreate(name, SmallOptions()));
  EXPECT_EQ(reborn.Size(), 0u);
  ASSERT_OK(reborn.Put("new", "3"));
  EXPECT_TRUE(HasCode(dict.Get("new"), kNotFound));
  ASSERT_OK_AND_ASSIGN(v, dict.Get("after"));
  EXPECT_EQ(v, "2");
  EXPECT_TRUE(HasCode(reborn.Get("after"), kNotFound));
}

// ---------------------------------------------------------------------------
// Basic operations.

TEST_F(ZeroCopyDictTest, PutGetReadGetLockedEraseContainsSizeForEach) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  EXPECT_EQ(dict.Size(), 0u);
  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains("x"));
  EXPECT_FALSE(has);

  ASSERT_OK(dict.Put("x", "1"));
  ASSERT_OK(dict.Put("y", "22"));
  ASSERT_OK(dict.Put("z", "333"));
  EXPECT_EQ(dict.Size(), 3u);

  std::string out = "garbage";
  ASSERT_OK(dict.Get("y", &out));
  EXPECT_EQ(out, "22");
  ASSERT_OK_AND_ASSIGN(std::string got, dict.Get("z"));
  EXPECT_EQ(got, "333");
  out.clear();
  ASSERT_OK(dict.GetLocked("x", &out));
  EXPECT_EQ(out, "1");

  std::string seen;
  int calls = 0;
  ASSERT_OK(dict.Read("z", [&](absl::string_view v) {
    ++calls;
    seen = ToString(v);
  }));
  EXPECT_GE(calls, 1);
  EXPECT_EQ(seen, "333");

  ASSERT_OK_AND_ASSIGN(has, dict.Contains("y"));
  EXPECT_TRUE(has);

  int visits = 0;
  std::map<std::string, std::string> all = Contents(dict, &visits);
  EXPECT_EQ(visits, 3);
  EXPECT_EQ(all, (std::map<std::string, std::string>{
                     {"x", "1"}, {"y", "22"}, {"z", "333"}}));

  ASSERT_OK(dict.Erase("y"));
  EXPECT_EQ(dict.Size(), 2u);
  ASSERT_OK_AND_ASSIGN(has, dict.Contains("y"));
  EXPECT_FALSE(has);
  EXPECT_TRUE(HasCode(dict.Get("y"), kNotFound));
  EXPECT_TRUE(HasCode(dict.Erase("y"), kNotFound));

  // Re-insert after erase.
  ASSERT_OK(dict.Put("y", "again"));
  ASSERT_OK_AND_ASSIGN(got, dict.Get("y"));
  EXPECT_EQ(got, "again");
  EXPECT_EQ(dict.Size(), 3u);
  EXPECT_OK(dict.Check());
}

// Misses are cheap and silent: NotFound with an empty message (Abseil does
// not allocate for those); Read does not call fn; Contains answers false.
TEST_F(ZeroCopyDictTest, MissingKeyIsNotFoundWithEmptyMessage) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  ASSERT_OK(dict.Put("present", "p"));

  std::string out = "untouched";
  absl::Status s = dict.Get("absent", &out);
  EXPECT_TRUE(HasCode(s, kNotFound));
  EXPECT_TRUE(s.message().empty()) << s;

  absl::StatusOr<std::string> so = dict.Get("absent");
  EXPECT_TRUE(HasCode(so, kNotFound));
  EXPECT_TRUE(so.status().message().empty()) << so.status();

  s = dict.GetLocked("absent", &out);
  EXPECT_TRUE(HasCode(s, kNotFound));
  EXPECT_TRUE(s.message().empty()) << s;

  bool called = false;
  s = dict.Read("absent", [&](absl::string_view) { called = true; });
  EXPECT_TRUE(HasCode(s, kNotFound));
  EXPECT_TRUE(s.message().empty()) << s;
  EXPECT_FALSE(called);

  s = dict.Erase("absent");
  EXPECT_TRUE(HasCode(s, kNotFound));
  EXPECT_TRUE(s.message().empty()) << s;

  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains("absent"));
  EXPECT_FALSE(has);
  EXPECT_EQ(dict.Size(), 1u);
}

TEST_F(ZeroCopyDictTest, KeySizeLimit) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  const std::string max_key = PatternBytes(kMaxKeySize, 1);
  std::string too_long = PatternBytes(kMaxKeySize + 1, 1);
  ASSERT_EQ(max_key.size(), 65536u);

  ASSERT_OK(dict.Put(max_key, "largest key"));
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get(max_key));
  EXPECT_EQ(v, "largest key");
  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains(max_key));
  EXPECT_TRUE(has);

  const uint64_t free_before = dict.GetAllocatorStats().free_bytes;
  EXPECT_TRUE(HasCodeAndName(dict.Put(too_long, "x"), kInvalidArgument, name));
  EXPECT_TRUE(HasCodeAndName(dict.Get(too_long), kInvalidArgument, name));
  std::string out;
  EXPECT_TRUE(HasCodeAndName(dict.Get(too_long, &out), kInvalidArgument, name));
  EXPECT_TRUE(
      HasCodeAndName(dict.GetLocked(too_long, &out), kInvalidArgument, name));
  EXPECT_TRUE(HasCodeAndName(dict.Contains(too_long), kInvalidArgument, name));
  EXPECT_TRUE(HasCodeAndName(dict.Read(too_long, [](absl::string_view) {}),
                             kInvalidArgument, name));
  EXPECT_TRUE(HasCodeAndName(dict.Erase(too_long), kInvalidArgument, name));
  EXPECT_EQ(dict.Size(), 1u);
  EXPECT_EQ(dict.GetAllocatorStats().free_bytes, free_before);

  std::map<std::string, std::string> all = Contents(dict);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all.begin()->first, max_key);

  ASSERT_OK(dict.Erase(max_key));
  EXPECT_EQ(dict.Size(), 0u);
  EXPECT_OK(dict.Check());
}

TEST_F(ZeroCopyDictTest, ValuesFromZeroBytesToSeveralMiB) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name, SmallOptions(1000, uint64_t{40} << 20)));
  const std::vector<size_t> sizes = {
      0,
      1,
      2,
      7,
      8,
      15,
      16,
      17,
      23,
      24,
      25,
      31,
      32,
      33,
      63,
      64,
      65,
      100,
      255,
      256,
      1000,
      4095,
      4096,
      4097,
      65535,
      65536,
      65537,
      1 << 20,
      (3 << 20) + 5,
      5 << 20,
  };
  std::map<std::string, std::string> model;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::string key = absl::StrCat("size-", sizes[i]);
    std::string value = PatternBytes(sizes[i], static_cast<uint32_t>(i));
    ASSERT_OK(dict.Put(key, value)) << key;
    model[key] = value;
  }
  for (const auto& [key, value] : model) {
    SCOPED_TRACE(key);
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get(key));
    EXPECT_EQ(got.size(), value.size());
    EXPECT_TRUE(got == value);
    std::string locked;
    ASSERT_OK(dict.GetLocked(key, &locked));
    EXPECT_TRUE(locked == value);
    std::string read;
    ASSERT_OK(dict.Read(key, [&](absl::string_view v) { read = ToString(v); }));
    EXPECT_TRUE(read == value);
  }
  EXPECT_TRUE(Contents(dict) == model);
  EXPECT_OK(dict.Check());
  for (const auto& [key, value] : model) ASSERT_OK(dict.Erase(key));
  EXPECT_EQ(dict.Size(), 0u);
  EXPECT_OK(dict.Check());
}

TEST_F(ZeroCopyDictTest, BinaryKeysAndValues) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  std::string reversed(all_bytes.rbegin(), all_bytes.rend());

  const std::vector<std::string> keys = {
      "",
      std::string(1, '\0'),
      std::string(2, '\0'),
      std::string("a\0b", 3),
      std::string("a\0c", 3),
      std::string("a", 1),
      all_bytes,
      reversed,
      std::string(1, '\xff'),
      std::string("\xff\x00\xff", 3),
      all_bytes + all_bytes,
  };
  std::map<std::string, std::string> model;
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string value = (i % 2 == 0) ? all_bytes + std::string(i, '\0')
                                     : std::string(i, '\0') + reversed;
    ASSERT_OK(dict.Put(keys[i], value)) << absl::CEscape(keys[i]);
    model[keys[i]] = value;
  }
  EXPECT_EQ(dict.Size(), keys.size());
  for (const auto& [key, value] : model) {
    SCOPED_TRACE(absl::CEscape(key));
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get(key));
    EXPECT_TRUE(got == value);
    ASSERT_OK_AND_ASSIGN(bool has, dict.Contains(key));
    EXPECT_TRUE(has);
  }
  // Prefixes and near-misses of stored keys are other keys.
  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains(std::string(3, '\0')));
  EXPECT_FALSE(has);
  ASSERT_OK_AND_ASSIGN(has, dict.Contains("a\0"));  // C string: "a"
  EXPECT_TRUE(has);
  ASSERT_OK_AND_ASSIGN(has, dict.Contains(std::string("a\0", 2)));
  EXPECT_FALSE(has);
  ASSERT_OK_AND_ASSIGN(has, dict.Contains(all_bytes.substr(0, 255)));
  EXPECT_FALSE(has);

  int visits = 0;
  EXPECT_TRUE(Contents(dict, &visits) == model);
  EXPECT_EQ(visits, static_cast<int>(model.size()));

  ASSERT_OK(dict.Erase(std::string(1, '\0')));
  ASSERT_OK_AND_ASSIGN(std::string two_nuls, dict.Get(std::string(2, '\0')));
  EXPECT_TRUE(two_nuls == model[std::string(2, '\0')]);
  ASSERT_OK_AND_ASSIGN(std::string empty_key, dict.Get(""));
  EXPECT_TRUE(empty_key == model[""]);
  EXPECT_OK(dict.Check());
}

// KF #1, #2, #4: updates that fit reuse the block; bigger ones relocate
// without touching neighbours.
TEST_F(ZeroCopyDictTest, InPlaceAndRelocatingUpdates) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  const std::string before = PatternBytes(1000, 1);
  const std::string after = PatternBytes(1000, 2);
  const std::string neighbour_b = PatternBytes(777, 3);
  const std::string neighbour_c = PatternBytes(50, 4);
  ASSERT_OK(dict.Put("b", neighbour_b));
  ASSERT_OK(dict.Put("a", before));
  ASSERT_OK(dict.Put("c", neighbour_c));

  auto value_address = [&](absl::string_view key) -> const char* {
    const char* where = nullptr;
    EXPECT_OK(dict.Read(key, [&](absl::string_view v) { where = v.data(); }));
    return where;
  };
  auto neighbours_intact = [&]() {
    ASSERT_OK_AND_ASSIGN(std::string b, dict.Get("b"));
    EXPECT_TRUE(b == neighbour_b);
    ASSERT_OK_AND_ASSIGN(std::string c, dict.Get("c"));
    EXPECT_TRUE(c == neighbour_c);
  };

  const char* original = value_address("a");
  ASSERT_NE(original, nullptr);
  const AllocatorStats s0 = dict.GetAllocatorStats();

  // Same size: in place, allocator untouched.
  ASSERT_OK(dict.Put("a", after));
  ASSERT_OK_AND_ASSIGN(std::string got, dict.Get("a"));
  EXPECT_TRUE(got == after);
  if (kReadIsZeroCopy) EXPECT_EQ(value_address("a"), original);
  const AllocatorStats s1 = dict.GetAllocatorStats();
  EXPECT_EQ(s1.used_blocks, s0.used_blocks);
  EXPECT_EQ(s1.used_bytes, s0.used_bytes);
  EXPECT_EQ(s1.free_bytes, s0.free_bytes);
  neighbours_intact();

  // Smaller: same block.
  ASSERT_OK(dict.Put("a", "tiny"));
  ASSERT_OK_AND_ASSIGN(got, dict.Get("a"));
  EXPECT_EQ(got, "tiny");
  if (kReadIsZeroCopy) EXPECT_EQ(value_address("a"), original);
  EXPECT_EQ(dict.GetAllocatorStats().used_blocks, s0.used_blocks);
  neighbours_intact();

  // Empty.
  ASSERT_OK(dict.Put("a", ""));
  ASSERT_OK_AND_ASSIGN(got, dict.Get("a"));
  EXPECT_EQ(got, "");
  neighbours_intact();

  // Back to the original size: still fits the block.
  ASSERT_OK(dict.Put("a", before));
  ASSERT_OK_AND_ASSIGN(got, dict.Get("a"));
  EXPECT_TRUE(got == before);
  neighbours_intact();

  // Much bigger: relocates; the old block is freed (same number of used
  // blocks), nothing is lost.
  const uint64_t accounted = s0.used_bytes + s0.free_bytes;
  const std::string big = PatternBytes(100000, 5);
  ASSERT_OK(dict.Put("a", big));
  ASSERT_OK_AND_ASSIGN(got, dict.Get("a"));
  EXPECT_TRUE(got == big);
  const AllocatorStats s2 = dict.GetAllocatorStats();
  EXPECT_EQ(s2.used_blocks, s0.used_blocks);
  EXPECT_EQ(s2.used_bytes + s2.free_bytes, accounted);
  neighbours_intact();

  // Grow step by step past every size class (KF #2: a block from a larger
  // class must still be large enough).
  for (size_t size = 1; size <= 300000; size = size * 3 + 1) {
    SCOPED_TRACE(size);
    const std::string v = PatternBytes(size, static_cast<uint32_t>(size));
    ASSERT_OK(dict.Put("a", v));
    ASSERT_OK(dict.Put("d", PatternBytes(size / 2, 9)));
    ASSERT_OK_AND_ASSIGN(got, dict.Get("a"));
    EXPECT_TRUE(got == v);
    ASSERT_OK(dict.Erase("d"));
    neighbours_intact();
  }
  EXPECT_EQ(HeapAccounted(dict), accounted);
  EXPECT_OK(dict.Check());
}

// The header documents the cost of an entry; a fresh heap shows it exactly.
TEST_F(ZeroCopyDictTest, EntryCostMatchesDocumentation) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, SmallOptions()));
  const AllocatorStats empty = dict.GetAllocatorStats();
  EXPECT_TRUE(empty.exact);
  EXPECT_EQ(empty.used_blocks, 0u);
  EXPECT_EQ(empty.used_bytes, 0u);
  EXPECT_EQ(empty.free_blocks, 1u);
  EXPECT_EQ(empty.largest_free_block, empty.free_bytes);
  EXPECT_EQ(empty.fragmentation, 0.0);

  // Each shape: the key and value sizes of one new entry; the heap grows by
  // exactly its documented cost (checked per entry, so a failure names it).
  const std::vector<std::pair<size_t, size_t>> shapes = {
      {0, 0}, {1, 0}, {2, 1}, {8, 8}, {3, 5}, {9, 7}, {100, 1000}, {7, 4096}};
  AllocatorStats before = empty;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto [key_size, value_size] = shapes[i];
    std::string key = PatternBytes(key_size, static_cast<uint32_t>(i));
    if (!key.empty()) key[0] = static_cast<char>(i);  // one empty key only
    ASSERT_OK(dict.Put(key, std::string(value_size, 'v')));
    const AllocatorStats after = dict.GetAllocatorStats();
    EXPECT_EQ(after.used_blocks, before.used_blocks + 1);
    EXPECT_EQ(after.used_bytes - before.used_bytes,
              EntryCost(key_size, value_size))
        << "entry with a " << key_size << "-byte key and a " << value_size
        << "-byte value";
    EXPECT_EQ(before.free_bytes - after.free_bytes,
              after.used_bytes - before.used_bytes);
    before = after;
  }
  EXPECT_EQ(dict.GetStats().heap_used, before.used_bytes);
  EXPECT_OK(dict.Check());
}

// ---------------------------------------------------------------------------
// Limits: table full, heap full.

// KF #8: a full table still answers lookups.
TEST_F(ZeroCopyDictTest, TableFull) {
  const std::string& name = NewName();
  constexpr uint64_t kN = 100;
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, FixedOptions(kN, 4 << 20)));
  for (uint64_t i = 0; i < kN; ++i) {
    ASSERT_OK(dict.Put(absl::StrCat("key-", i), absl::StrCat("value-", i)));
  }
  EXPECT_EQ(dict.Size(), kN);
  const AllocatorStats before = dict.GetAllocatorStats();
  const uint64_t writes = dict.GetStats().writes_total;

  EXPECT_TRUE(
      HasCodeAndName(dict.Put("one-too-many", "x"), kResourceExhausted, name));
  EXPECT_EQ(dict.Size(), kN);
  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains("one-too-many"));
  EXPECT_FALSE(has);
  EXPECT_TRUE(HasCode(dict.Get("one-too-many"), kNotFound));
  const AllocatorStats after = dict.GetAllocatorStats();
  EXPECT_EQ(after.used_blocks, before.used_blocks);
  EXPECT_EQ(after.used_bytes, before.used_bytes);
  EXPECT_EQ(after.free_bytes, before.free_bytes);
  EXPECT_EQ(dict.GetStats().writes_total, writes);

  // Lookups of missing keys on a full table: NotFound, not an error.
  for (int i = 0; i < 200; ++i) {
    std::string missing = absl::StrCat("missing-", i);
    absl::Status s = dict.Get(missing).status();
    EXPECT_TRUE(HasCode(s, kNotFound));
    EXPECT_TRUE(s.message().empty());
    ASSERT_OK_AND_ASSIGN(has, dict.Contains(missing));
    EXPECT_FALSE(has);
    EXPECT_TRUE(HasCode(dict.Erase(missing), kNotFound));
  }

  // Replacing an existing key at full table works, in place or relocating.
  ASSERT_OK(dict.Put("key-7", "replaced"));
  ASSERT_OK(dict.Put("key-8", std::string(10000, '8')));
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get("key-7"));
  EXPECT_EQ(v, "replaced");
  ASSERT_OK_AND_ASSIGN(v, dict.Get("key-8"));
  EXPECT_EQ(v, std::string(10000, '8'));
  for (uint64_t i = 0; i < kN; ++i) {
    if (i == 7 || i == 8) continue;
    ASSERT_OK_AND_ASSIGN(v, dict.Get(absl::StrCat("key-", i)));
    EXPECT_EQ(v, absl::StrCat("value-", i));
  }
  EXPECT_EQ(dict.Size(), kN);
  EXPECT_OK(dict.Check());

  // Erasing one makes room for exactly one.
  ASSERT_OK(dict.Erase("key-0"));
  ASSERT_OK(dict.Put("newcomer", "n"));
  EXPECT_TRUE(HasCode(dict.Put("another", "a"), kResourceExhausted));
  EXPECT_EQ(dict.Size(), kN);
  EXPECT_OK(dict.Check());
}

// KF #4, #5: a Put that does not fit changes nothing and leaks nothing.
TEST_F(ZeroCopyDictTest, HeapFull) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, FixedOptions(1000, 1 << 20)));
  const std::string a = PatternBytes(1000, 1);
  ASSERT_OK(dict.Put("a", a));
  ASSERT_OK(dict.Put("b", PatternBytes(1000, 2)));
  const AllocatorStats s0 = dict.GetAllocatorStats();
  const uint64_t writes = dict.GetStats().writes_total;

  const std::string huge(2 << 20, 'h');
  // A relocating update that cannot be allocated: old value intact.
  EXPECT_TRUE(HasCodeAndName(dict.Put("a", huge), kResourceExhausted, name));
  ASSERT_OK_AND_ASSIGN(std::string got, dict.Get("a"));
  EXPECT_TRUE(got == a);
  // An insert that cannot be allocated: no key, no leaked key block.
  EXPECT_TRUE(HasCodeAndName(dict.Put("c", huge), kResourceExhausted, name));
  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains("c"));
  EXPECT_FALSE(has);
  EXPECT_EQ(dict.Size(), 2u);
  AllocatorStats s1 = dict.GetAllocatorStats();
  EXPECT_EQ(s1.free_bytes, s0.free_bytes);
  EXPECT_EQ(s1.used_blocks, s0.used_blocks);
  EXPECT_EQ(s1.used_bytes, s0.used_bytes);
  EXPECT_EQ(dict.GetStats().writes_total, writes);
  EXPECT_OK(dict.Check());

  // Fill the heap with 16 KiB values until it refuses.
  std::map<std::string, std::string> model = {{"a", a},
                                              {"b", PatternBytes(1000, 2)}};
  int refused = 0;
  for (int i = 0; i < 1000 && refused == 0; ++i) {
    std::string key = absl::StrCat("fill-", i);
    std::string value = PatternBytes(16 << 10, static_cast<uint32_t>(i));
    const uint64_t free_before = dict.GetAllocatorStats().free_bytes;
    absl::Status s = dict.Put(key, value);
    if (s.ok()) {
      model[key] = value;
    } else {
      EXPECT_TRUE(HasCodeAndName(s, kResourceExhausted, name));
      EXPECT_EQ(dict.GetAllocatorStats().free_bytes, free_before);
      ++refused;
    }
  }
  ASSERT_EQ(refused, 1) << "the 1 MiB heap never filled up";
  EXPECT_EQ(dict.Size(), model.size());

  // At full heap: a growing update fails cleanly, a shrinking one works in
  // place.
  const uint64_t free_full = dict.GetAllocatorStats().free_bytes;
  EXPECT_TRUE(HasCode(dict.Put("fill-0", PatternBytes(200 << 10, 7)),
                      kResourceExhausted));
  ASSERT_OK_AND_ASSIGN(got, dict.Get("fill-0"));
  EXPECT_TRUE(got == model["fill-0"]);
  EXPECT_EQ(dict.GetAllocatorStats().free_bytes, free_full);
  // An insert that fits the heap's size but not its free space (the 2 MiB
  // value above was refused before the allocator was asked): no key, no
  // leaked block.
  EXPECT_TRUE(
      HasCodeAndName(dict.Put("new-at-full", PatternBytes(200 << 10, 8)),
                     kResourceExhausted, name));
  ASSERT_OK_AND_ASSIGN(has, dict.Contains("new-at-full"));
  EXPECT_FALSE(has);
  EXPECT_EQ(dict.GetAllocatorStats().free_bytes, free_full);
  EXPECT_EQ(dict.Size(), model.size());
  ASSERT_OK(dict.Put("fill-1", "shrunk"));
  model["fill-1"] = "shrunk";
  EXPECT_TRUE(Contents(dict) == model);
  EXPECT_OK(dict.Check());
}

// KF #6, #3: fill the heap, erase everything: all free space coalesces back
// into one block of the original size.
TEST_F(ZeroCopyDictTest, FreeBlocksCoalesce) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name, FixedOptions(20000, 1 << 20)));
  const AllocatorStats empty = dict.GetAllocatorStats();
  ASSERT_EQ(empty.free_blocks, 1u);
  std::mt19937_64 rng(42);
  std::map<std::string, std::string> model;
  int next = 0;
  auto fill = [&](size_t max_value) {
    int refused = 0;
    while (refused < 20) {
      std::string key = absl::StrCat("k", next++);
      std::string value = RandomBytes(rng, rng() % max_value);
      absl::Status s = dict.Put(key, value);
      if (s.ok()) {
        model[key] = value;
      } else {
        ASSERT_TRUE(HasCode(s, kResourceExhausted));
        ++refused;
      }
    }
  };
  auto erase_fraction = [&](int keep_one_in) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : model) keys.push_back(k);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keep_one_in > 0 && i % keep_one_in == 0) continue;
      ASSERT_OK(dict.Erase(keys[i]));
      model.erase(keys[i]);
    }
  };

  fill(3000);
  ASSERT_GT(model.size(), 100u);
  EXPECT_OK(dict.Check());
  erase_fraction(2);  // erase half, scattered: holes between used blocks
  EXPECT_GT(dict.GetAllocatorStats().free_blocks, 1u);
  fill(600);  // smaller values: split the holes
  fill(9000);
  EXPECT_TRUE(Contents(dict) == model);
  EXPECT_OK(dict.Check());
  erase_fraction(0);  // everything, in random order
  ASSERT_TRUE(model.empty());

  const AllocatorStats end = dict.GetAllocatorStats();
  EXPECT_TRUE(end.exact);
  EXPECT_EQ(end.used_blocks, 0u);
  EXPECT_EQ(end.used_bytes, 0u);
  EXPECT_EQ(end.free_blocks, 1u);
  EXPECT_EQ(end.free_bytes, empty.free_bytes);
  EXPECT_EQ(end.largest_free_block, end.free_bytes);
  EXPECT_EQ(end.fragmentation, 0.0);
  ASSERT_EQ(end.size_classes.size(), 1u);
  EXPECT_EQ(end.size_classes[0].free_blocks, 1u);
  EXPECT_EQ(end.size_classes[0].free_bytes, end.free_bytes);
  EXPECT_EQ(dict.Size(), 0u);
  EXPECT_OK(dict.Check());
}

// KF #7: tombstones are purged; churn does not fill the table with them.
TEST_F(ZeroCopyDictTest, TombstoneChurnStaysBounded) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name, FixedOptions(64, 1 << 20)));
  const uint64_t slots = dict.GetStats().slot_count;
  ASSERT_TRUE(IsPowerOfTwo(slots));
  const uint64_t bound = slots / 8 + 1;
  constexpr int kKeys = 20000;  // ~150 x the slot count
  constexpr int kLive = 8;
  uint64_t max_tombstones = 0;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_OK(dict.Put(absl::StrCat("churn-", i), absl::StrCat("v", i)));
    if (i >= kLive) {
      ASSERT_OK(dict.Erase(absl::StrCat("churn-", i - kLive)));
    }
    const Stats st = dict.GetStats();
    max_tombstones = std::max(max_tombstones, st.tombstones);
    ASSERT_LE(st.tombstones, bound) << "after key " << i;
    ASSERT_EQ(st.size, static_cast<uint64_t>(std::min(i + 1, kLive)));
    if (i % 1000 == 999) {
      ASSERT_OK(dict.Check()) << "after key " << i;
    }
  }
  const Stats st = dict.GetStats();
  EXPECT_GT(st.purges_total, 0u);
  EXPECT_GT(max_tombstones, 0u);
  // Lookups are still right: the live window is present, the rest is gone.
  for (int i = kKeys - kLive; i < kKeys; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string v, dict.Get(absl::StrCat("churn-", i)));
    EXPECT_EQ(v, absl::StrCat("v", i));
  }
  for (int i = 0; i < kKeys - kLive; i += 37) {
    EXPECT_TRUE(HasCode(dict.Get(absl::StrCat("churn-", i)), kNotFound));
    ASSERT_OK_AND_ASSIGN(bool has, dict.Contains(absl::StrCat("churn-", i)));
    EXPECT_FALSE(has);
  }
  EXPECT_EQ(Contents(dict).size(), static_cast<size_t>(kLive));
  // The table can still be filled to max_items after the churn.
  for (int i = 0; i < 64 - kLive; ++i) {
    ASSERT_OK(dict.Put(absl::StrCat("refill-", i), "r"));
  }
  EXPECT_EQ(dict.Size(), 64u);
  EXPECT_TRUE(HasCode(dict.Put("overflow", "o"), kResourceExhausted));
  EXPECT_OK(dict.Check());
}

// ---------------------------------------------------------------------------
// Handles, stats, lock.

TEST_F(ZeroCopyDictTest, MovedFromHandleIsFailedPrecondition) {
  const std::string& name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict a,
                       ZeroCopyDict::Create(name, SmallOptions()));
  ASSERT_OK(a.Put("k", "v"));
  ZeroCopyDict b(std::move(a));

  auto expect_dead = [](ZeroCopyDict& d) {
    EXPECT_TRUE(HasCode(d.Put("k", "x"), kFailedPrecondition));
    std::string out;
    EXPECT_TRUE(HasCode(d.Get("k", &out), kFailedPrecondition));
    EXPECT_TRUE(HasCode(d.Get("k"), kFailedPrecondition));
    EXPECT_TRUE(HasCode(d.GetLocked("k", &out), kFailedPrecondition));
    bool called = false;
    EXPECT_TRUE(HasCode(d.Read("k", [&](absl::string_view) { called = true; }),
                        kFailedPrecondition));
    EXPECT_FALSE(called);
    EXPECT_TRUE(HasCode(d.Erase("k"), kFailedPrecondition));
    EXPECT_TRUE(HasCode(d.Contains("k"), kFailedPrecondition));
    called = false;
    EXPECT_TRUE(HasCode(
        d.ForEach([&](absl::string_view, absl::string_view) { called = true; }),
        kFailedPrecondition));
    EXPECT_FALSE(called);
    EXPECT_TRUE(HasCode(d.Check(), kFailedPrecondition));
    EXPECT_EQ(d.Size(), 0u);
    // Must not crash; the values are unspecified.
    (void)d.GetStats();
    (void)d.GetAllocatorStats();
    (void)d.name();
  };
  // NOLINTNEXTLINE(bugprone-use-after-move): testing the moved-from state.
  expect_dead(a);

  ASSERT_OK_AND_ASSIGN(std::string v, b.Get("k"));
  EXPECT_EQ(v, "v");
  EXPECT_EQ(b.name(), name);

  // Move assignment: the target drops its own dict and takes the source's.
  const std::string& other_name = NewName();
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict c,
                       ZeroCopyDict::Create(other_name, SmallOptions()));
  ASSERT_OK(c.Put("other", "o"));
  c = std::move(b);
  expect_dead(b);
  EXPECT_EQ(c.name(), name);
  ASSERT_OK_AND_ASSIGN(v, c.Get("k"));
  EXPECT_EQ(v, "v");
  EXPECT_TRUE(HasCode(c.Get("other"), kNotFound));

  // A moved-from handle can be assigned to again.
  a = std::move(c);
  ASSERT_OK(a.Put("k2", "v2"));
  EXPECT_EQ(a.Size(), 2u);
  EXPECT_OK(a.Check());
  // The other dict was only closed, not harmed.
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict reopened, ZeroCopyDict::Attach(other_name));
  ASSERT_OK_AND_ASSIGN(v, reopened.Get("other"));
  EXPECT_EQ(v, "o");
}

// Options::max_items: "The slot table is the smallest power of two that keeps
// max_items at a load factor <= 0.75."
TEST_F(ZeroCopyDictTest, SlotCountIsSmallestPowerOfTwoForLoadFactor) {
  const std::vector<std::pair<uint64_t, uint64_t>> cases = {
      {1, 2},     {3, 4},      {4, 8},      {12, 16},      {13, 32},
      {100, 256}, {768, 1024}, {769, 2048}, {10000, 16384}};
  for (const auto& [max_items, slots] : cases) {
    const std::string& name = NewName("slots");
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                         ZeroCopyDict::Create(name, SmallOptions(max_items)));
    EXPECT_EQ(dict.GetStats().slot_count, slots) << "max_items " << max_items;
  }
}

TEST_F(ZeroCopyDictTest, StatsAreConsistent) {
  const std::vector<uint64_t> max_items_cases = {3, 100, 768, 769, 10000};
  for (uint64_t max_items : max_items_cases) {
    SCOPED_TRACE(absl::StrCat("max_items ", max_items));
    const std::string& name = NewName("stats");
    const Options options = SmallOptions(max_items, 2 << 20);
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                         ZeroCopyDict::Create(name, options));
    Stats st = dict.GetStats();
    EXPECT_EQ(st.name, name);
    EXPECT_EQ(st.format_version, kFormatVersion);
    EXPECT_EQ(static_cast<int64_t>(st.segment_size), SegmentFileSize(name));
    EXPECT_EQ(st.max_items, max_items);
    EXPECT_TRUE(IsPowerOfTwo(st.slot_count)) << st.slot_count;
    EXPECT_LE(max_items * 4, st.slot_count * 3) << st.slot_count;
    EXPECT_GE(st.heap_size, options.heap_size);
    EXPECT_LT(st.heap_size, st.segment_size);
    EXPECT_EQ(st.size, 0u);
    EXPECT_EQ(st.tombstones, 0u);
    EXPECT_EQ(st.load_factor, 0.0);
    EXPECT_EQ(st.heap_used, 0u);
    EXPECT_LE(st.heap_free, st.heap_size);
    EXPECT_EQ(st.writes_total, 0u);
    EXPECT_EQ(st.purges_total, 0u);
    EXPECT_EQ(st.repairs_total, 0u);
    EXPECT_EQ(st.writer_pid, 0);

    const uint64_t n = std::min<uint64_t>(max_items, 50);
    for (uint64_t i = 0; i < n; ++i) {
      ASSERT_OK(dict.Put(absl::StrCat("k", i), std::string(i * 10, 'v')));
    }
    ASSERT_OK(dict.Erase("k0"));
    st = dict.GetStats();
    const AllocatorStats alloc = dict.GetAllocatorStats();
    EXPECT_EQ(st.size, n - 1);
    EXPECT_EQ(st.size, dict.Size());
    EXPECT_DOUBLE_EQ(st.load_factor, static_cast<double>(st.size) /
                                         static_cast<double>(st.slot_count));
    EXPECT_LE(st.heap_used, st.heap_size);
    EXPECT_LE(st.heap_free, st.heap_size);
    EXPECT_EQ(st.writes_total, n + 1);  // n puts and one erase
    EXPECT_EQ(st.writer_pid, 0);
    EXPECT_LE(st.tombstones, st.slot_count / 8 + 1);

    // The allocator's view agrees with the counters.
    EXPECT_TRUE(alloc.exact);
    EXPECT_EQ(alloc.heap_size, st.heap_size);
    EXPECT_EQ(alloc.used_bytes, st.heap_used);
    EXPECT_EQ(alloc.free_bytes, st.heap_free);
    EXPECT_EQ(alloc.used_blocks, n - 1);
    EXPECT_LE(alloc.largest_free_block, alloc.free_bytes);
    if (alloc.free_bytes > 0) {
      EXPECT_DOUBLE_EQ(alloc.fragmentation,
                       1.0 - static_cast<double>(alloc.largest_free_block) /
                                 static_cast<double>(alloc.free_bytes));
    }
    uint64_t class_blocks = 0, class_bytes = 0, previous_max = 0;
    for (const SizeClassStats& c : alloc.size_classes) {
      EXPECT_GE(c.free_blocks, 1u);
      EXPECT_LE(c.min_block_size, c.max_block_size);
      EXPECT_GE(c.min_block_size, previous_max) << "classes not sorted";
      EXPECT_GE(c.free_bytes, c.free_blocks * c.min_block_size);
      EXPECT_TRUE(static_cast<unsigned __int128>(c.free_bytes) <=
                  static_cast<unsigned __int128>(c.free_blocks) *
                      c.max_block_size)
          << c.free_bytes << " bytes in " << c.free_blocks
          << " blocks of at most " << c.max_block_size;
      previous_max = c.max_block_size;
      class_blocks += c.free_blocks;
      class_bytes += c.free_bytes;
    }
    EXPECT_EQ(class_blocks, alloc.free_blocks);
    EXPECT_EQ(class_bytes, alloc.free_bytes);
    EXPECT_OK(dict.Check());

    // Attach reads the dict's own geometry, not the options passed.
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict other,
                         ZeroCopyDict::Attach(name, SmallOptions(5, 65536)));
    const Stats ost = other.GetStats();
    EXPECT_EQ(ost.max_items, max_items);
    EXPECT_EQ(ost.slot_count, st.slot_count);
    EXPECT_EQ(ost.heap_size, st.heap_size);
    EXPECT_EQ(ost.size, st.size);
  }
}

// Another process holds the writer lock: writes time out with
// DeadlineExceeded naming the holder's pid, lock-free reads go on (KF #12).
TEST_F(ZeroCopyDictTest, LockTimeoutIsDeadlineExceededAndReadsStayLockFree) {
  const std::string& name = NewName();
  Options options = SmallOptions();
  options.lock_timeout = absl::Milliseconds(150);
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict, ZeroCopyDict::Create(name, options));
  ASSERT_OK(dict.Put("k", "v"));
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict attached,
                       ZeroCopyDict::Attach(name, options));

  zcipc_test::LockHolderProcess holder(name);
  ASSERT_TRUE(holder.held());

  absl::Time start = absl::Now();
  absl::Status s = dict.Put("k", "w");
  absl::Duration waited = absl::Now() - start;
  EXPECT_TRUE(HasCodeAndName(s, kDeadlineExceeded, name));
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kLockTimeout);
  EXPECT_EQ(GetLockHolderPid(s), holder.pid()) << s;
  EXPECT_GE(waited, absl::Milliseconds(140));
  EXPECT_LT(waited, absl::Seconds(5));
  EXPECT_TRUE(HasCode(attached.Put("new", "n"), kDeadlineExceeded));
  EXPECT_TRUE(HasCode(dict.Erase("k"), kDeadlineExceeded));
  std::string out;
  EXPECT_TRUE(HasCode(dict.GetLocked("k", &out), kDeadlineExceeded));
  EXPECT_TRUE(HasCode(dict.Check(), kDeadlineExceeded));
  EXPECT_FALSE(dict.GetAllocatorStats().exact);

  // Reads never take the lock.
  start = absl::Now();
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get("k"));
  EXPECT_EQ(v, "v");
  ASSERT_OK_AND_ASSIGN(v, attached.Get("k"));
  EXPECT_EQ(v, "v");
  ASSERT_OK_AND_ASSIGN(bool has, dict.Contains("k"));
  EXPECT_TRUE(has);
  ASSERT_OK(dict.Read("k", [&](absl::string_view r) { v = ToString(r); }));
  EXPECT_EQ(v, "v");
  EXPECT_EQ(Contents(dict).size(), 1u);
  EXPECT_EQ(dict.Size(), 1u);
  EXPECT_EQ(dict.GetStats().size, 1u);
  EXPECT_TRUE(HasCode(dict.Get("new"), kNotFound));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(140))
      << "a read waited for the writer lock";

  ASSERT_TRUE(holder.Release().ok());
  ASSERT_OK(dict.Put("k", "w"));
  ASSERT_OK_AND_ASSIGN(v, attached.Get("k"));
  EXPECT_EQ(v, "w");
  EXPECT_TRUE(dict.GetAllocatorStats().exact);
  EXPECT_OK(dict.Check());
}

// ---------------------------------------------------------------------------
// A deterministic random model test: std::map is the oracle.

TEST_F(ZeroCopyDictTest, RandomOperationsMatchStdMap) {
  const std::string& name = NewName("model");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name, SmallOptions(1000, uint64_t{16} << 20)));
  std::mt19937_64 rng(20261125);
  std::vector<std::string> pool;
  std::set<std::string> unique;
  while (pool.size() < 600) {
    size_t size = rng() % 8 == 0 ? rng() % 2001 : rng() % 24;
    std::string key = RandomBytes(rng, size);
    if (unique.insert(key).second) pool.push_back(key);
  }
  const uint64_t accounted = HeapAccounted(dict);
  std::map<std::string, std::string> model;
  uint64_t writes = 0;
  constexpr int kOps = 20000;
  for (int op = 0; op < kOps; ++op) {
    const std::string& key = pool[rng() % pool.size()];
    const int kind = static_cast<int>(rng() % 10);
    auto it = model.find(key);
    if (kind < 5) {  // Put
      size_t size = rng() % 4 == 0 ? rng() % 2001 : rng() % 64;
      std::string value = RandomBytes(rng, size);
      ASSERT_OK(dict.Put(key, value)) << "op " << op;
      model[key] = value;
      ++writes;
    } else if (kind < 7) {  // Erase
      absl::Status s = dict.Erase(key);
      if (it == model.end()) {
        ASSERT_TRUE(HasCode(s, kNotFound)) << "op " << op;
      } else {
        ASSERT_OK(s) << "op " << op;
        model.erase(it);
        ++writes;
      }
    } else if (kind == 9 && op % 2 == 1) {  // Contains
      ASSERT_OK_AND_ASSIGN(bool has, dict.Contains(key));
      ASSERT_EQ(has, it != model.end()) << "op " << op;
    } else {  // Get through one of the three copying read paths
      std::string got;
      absl::Status s;
      if (kind == 7) {
        s = dict.Get(key, &got);
      } else if (kind == 8) {
        s = dict.Read(key, [&](absl::string_view v) { got = ToString(v); });
      } else {
        s = dict.GetLocked(key, &got);
      }
      if (it == model.end()) {
        ASSERT_TRUE(HasCode(s, kNotFound)) << "op " << op;
      } else {
        ASSERT_OK(s) << "op " << op;
        ASSERT_TRUE(got == it->second)
            << "op " << op << ": value of " << absl::CEscape(key) << " differs";
      }
    }
    ASSERT_EQ(dict.Size(), model.size()) << "op " << op;
    if (op % 1000 == 999) {
      ASSERT_OK(dict.Check()) << "op " << op;
      ASSERT_TRUE(Contents(dict) == model) << "op " << op;
      ASSERT_EQ(HeapAccounted(dict), accounted) << "op " << op;
      ASSERT_EQ(dict.GetStats().writes_total, writes) << "op " << op;
    }
  }
  EXPECT_OK(dict.Check());
  EXPECT_TRUE(Contents(dict) == model);
  for (const std::string& key : pool) {
    absl::StatusOr<std::string> got = dict.Get(key);
    auto it = model.find(key);
    if (it == model.end()) {
      EXPECT_TRUE(HasCode(got, kNotFound));
    } else {
      ASSERT_OK(got);
      EXPECT_TRUE(*got == it->second);
    }
  }
}

}  // namespace
}  // namespace zcipc
