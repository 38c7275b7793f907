// Attach must refuse a segment that is not ours, of another version or
// layout, or whose size disagrees with its header (KF #17), with distinct
// codes; and whatever bytes a segment holds, no operation may crash or hang.
//
// The tests write the segment file (/dev/shm/zcipc.<name>) directly. Only the
// header fields at fixed offsets are part of the contract:
//   0 magic (u64), 8 format version (u32), 12 header size (u32),
//   16 layout fingerprint (u64), 24 segment size (u64).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/segment_file.h"
#include "engine/layout/layout.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ChildResult;
using ::zcipc_test::HasCode;
using ::zcipc_test::HasCodeAndName;
using ::zcipc_test::IsOk;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;
using ::zcipc_test::StartChild;
using ::zcipc_test::ToString;
using ::zcipc_test::WaitChild;

constexpr absl::StatusCode kDataLoss = absl::StatusCode::kDataLoss;
constexpr absl::StatusCode kFailedPrecondition =
    absl::StatusCode::kFailedPrecondition;

constexpr off_t kMagicOffset = 0;
constexpr off_t kVersionOffset = 8;
constexpr off_t kHeaderSizeOffset = 12;
constexpr off_t kFingerprintOffset = 16;
constexpr off_t kSegmentSizeOffset = 24;

// Small, so that random flips often land in the header, slots and blocks.
Options BaseOptions() {
  Options options;
  options.max_items = 32;
  options.heap_size = 64 << 10;
  return options;
}

// For attaching to damaged segments: give up quickly on a lock or creator.
Options CorruptOptions() {
  Options options;
  options.lock_timeout = absl::Milliseconds(200);
  return options;
}

using Known = std::map<std::string, std::string>;

Known KnownEntries() {
  Known known;
  for (int i = 0; i < 20; ++i) {
    std::string value(static_cast<size_t>(i * 97 % 700), '\0');
    for (size_t j = 0; j < value.size(); ++j) {
      value[j] = static_cast<char>((j * 7 + i) & 0xff);
    }
    known[absl::StrCat("key-", i)] = value;
  }
  return known;
}

using ::zcipc_test::ReadWholeFile;
using ::zcipc_test::WriteWholeFile;

template <typename T>
bool PatchFile(const std::string& path, off_t offset, T value) {
  int fd = open(path.c_str(), O_RDWR);
  if (fd < 0) return false;
  bool ok = pwrite(fd, &value, sizeof(value), offset) ==
            static_cast<ssize_t>(sizeof(value));
  close(fd);
  return ok;
}

template <typename T>
T ReadField(const std::string& image, size_t offset) {
  T value{};
  if (image.size() >= offset + sizeof(T)) {
    std::memcpy(&value, image.data() + offset, sizeof(T));
  }
  return value;
}

bool TruncateFile(const std::string& path, off_t size) {
  return truncate(path.c_str(), size) == 0;
}

class CorruptSegmentTest : public ::testing::Test {
 protected:
  ~CorruptSegmentTest() override {
    // If Unlink refused a damaged segment, do not leave it in /dev/shm.
    for (const auto& name : names_) unlink(SegmentPath(name->name()).c_str());
  }

  const std::string& NewName(absl::string_view tag = "corrupt") {
    names_.emplace_back(std::make_unique<ScopedName>(tag));
    return names_.back()->name();
  }

  // Creates `name` with the known entries and closes it; returns the image.
  ::testing::AssertionResult MakeSegment(const std::string& name,
                                         std::string* image) {
    absl::StatusOr<ZeroCopyDict> dict =
        ZeroCopyDict::Create(name, BaseOptions());
    if (!dict.ok()) {
      return ::testing::AssertionFailure() << "Create: " << dict.status();
    }
    for (const auto& [key, value] : known_) {
      absl::Status s = dict->Put(key, value);
      if (!s.ok()) return ::testing::AssertionFailure() << "Put: " << s;
    }
    absl::Status s = dict->Check();
    if (!s.ok()) return ::testing::AssertionFailure() << "Check: " << s;
    if (!ReadWholeFile(SegmentPath(name), image)) {
      return ::testing::AssertionFailure()
             << "cannot read " << SegmentPath(name);
    }
    if (image->size() < 32 ||
        static_cast<uint64_t>(image->size()) != dict->GetStats().segment_size) {
      return ::testing::AssertionFailure()
             << "file size " << image->size() << " vs segment_size "
             << dict->GetStats().segment_size;
    }
    return ::testing::AssertionSuccess();
  }

  // Attach to `name` must fail with `code` and name the dict, and must not
  // change the file.
  void ExpectAttachFails(const std::string& name, absl::StatusCode code) {
    std::string before, after;
    ASSERT_TRUE(ReadWholeFile(SegmentPath(name), &before));
    EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::Attach(name, CorruptOptions()),
                               code, name));
    ASSERT_TRUE(ReadWholeFile(SegmentPath(name), &after));
    EXPECT_TRUE(before == after) << "a failed Attach modified the segment";
    // The damaged dict can still be removed by name.
    EXPECT_TRUE(IsOk(ZeroCopyDict::Unlink(name)));
  }

  const Known known_ = KnownEntries();

 private:
  std::deque<std::unique_ptr<ScopedName>> names_;
};

// The harness itself: an untouched segment attaches and holds its data.
TEST_F(CorruptSegmentTest, UntouchedSegmentAttaches) {
  const std::string& name = NewName();
  std::string image;
  ASSERT_TRUE(MakeSegment(name, &image));
  EXPECT_EQ(ReadField<uint32_t>(image, kVersionOffset), kFormatVersion);
  EXPECT_EQ(ReadField<uint64_t>(image, kSegmentSizeOffset), image.size());
  ASSERT_TRUE(WriteWholeFile(SegmentPath(name), image));  // rewrite, same bytes
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Attach(name, CorruptOptions()));
  EXPECT_EQ(dict.Size(), known_.size());
  for (const auto& [key, value] : known_) {
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get(key));
    EXPECT_TRUE(got == value) << key;
  }
  EXPECT_TRUE(IsOk(dict.Check()));
}

TEST_F(CorruptSegmentTest, BadMagicIsDataLossAndNeverOverwritten) {
  const std::string& name = NewName();
  std::string image;
  ASSERT_TRUE(MakeSegment(name, &image));
  const uint64_t magic = ReadField<uint64_t>(image, kMagicOffset);
  ASSERT_TRUE(PatchFile<uint64_t>(SegmentPath(name), kMagicOffset,
                                  magic ^ 0x00ff000000000000ull));
  std::string damaged;
  ASSERT_TRUE(ReadWholeFile(SegmentPath(name), &damaged));
  // Neither OpenOrCreate nor Create may re-initialise a file that is not
  // ours.
  EXPECT_TRUE(HasCodeAndName(ZeroCopyDict::OpenOrCreate(name, CorruptOptions()),
                             kDataLoss, name));
  EXPECT_TRUE(HasCode(ZeroCopyDict::Create(name, BaseOptions()),
                      absl::StatusCode::kAlreadyExists));
  std::string after;
  ASSERT_TRUE(ReadWholeFile(SegmentPath(name), &after));
  EXPECT_TRUE(after == damaged);
  ExpectAttachFails(name, kDataLoss);
}

TEST_F(CorruptSegmentTest, ZeroMagicIsDataLoss) {
  const std::string& name = NewName();
  std::string image;
  ASSERT_TRUE(MakeSegment(name, &image));
  ASSERT_TRUE(PatchFile<uint64_t>(SegmentPath(name), kMagicOffset, 0));
  ExpectAttachFails(name, kDataLoss);
}

TEST_F(CorruptSegmentTest, OtherFormatVersionIsFailedPrecondition) {
  for (uint32_t version : {kFormatVersion + 1, uint32_t{0xffffffff}}) {
    SCOPED_TRACE(absl::StrCat("version ", version));
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    ASSERT_TRUE(
        PatchFile<uint32_t>(SegmentPath(name), kVersionOffset, version));
    ExpectAttachFails(name, kFailedPrecondition);
  }
}

// A dict of the previous format (version 1: the flock writer lock) is
// refused with what to do about it, not misread.
TEST_F(CorruptSegmentTest, PreviousFormatSaysHowToMoveIt) {
  const std::string& name = NewName();
  std::string image;
  ASSERT_TRUE(MakeSegment(name, &image));
  ASSERT_TRUE(PatchFile<uint32_t>(SegmentPath(name), kVersionOffset,
                                  kFormatVersion - 1));
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(d.status())) << d.status();
  EXPECT_EQ(GetErrorKind(d.status()), ErrorKind::kIncompatible);
  EXPECT_TRUE(absl::StrContains(d.status().message(), "zcipc dump"))
      << d.status();
  EXPECT_TRUE(absl::StrContains(d.status().message(), "zcipc load"))
      << d.status();
}

TEST_F(CorruptSegmentTest, OtherLayoutFingerprintIsFailedPrecondition) {
  for (uint64_t flip : {uint64_t{1}, uint64_t{1} << 63, ~uint64_t{0}}) {
    SCOPED_TRACE(absl::StrCat("xor ", flip));
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    const uint64_t fingerprint = ReadField<uint64_t>(image, kFingerprintOffset);
    ASSERT_TRUE(PatchFile<uint64_t>(SegmentPath(name), kFingerprintOffset,
                                    fingerprint ^ flip));
    ExpectAttachFails(name, kFailedPrecondition);
  }
}

// The header size is not given a code of its own by the contract: another
// header size is another layout or a damaged header, never OK.
TEST_F(CorruptSegmentTest, OtherHeaderSizeIsRefused) {
  for (int64_t delta : {8, -8, 4096}) {
    SCOPED_TRACE(absl::StrCat("header size delta ", delta));
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    const uint32_t header_size = ReadField<uint32_t>(image, kHeaderSizeOffset);
    ASSERT_TRUE(PatchFile<uint32_t>(
        SegmentPath(name), kHeaderSizeOffset,
        static_cast<uint32_t>(static_cast<int64_t>(header_size) + delta)));
    absl::Status s = ZeroCopyDict::Attach(name, CorruptOptions()).status();
    EXPECT_TRUE(s.code() == kDataLoss || s.code() == kFailedPrecondition) << s;
    EXPECT_TRUE(IsOk(ZeroCopyDict::Unlink(name)));
  }
}

TEST_F(CorruptSegmentTest, SegmentSizeFieldChangedIsDataLoss) {
  for (int64_t delta : {4096, -4096, 1, -1}) {
    SCOPED_TRACE(absl::StrCat("segment size delta ", delta));
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    const uint64_t size = ReadField<uint64_t>(image, kSegmentSizeOffset);
    ASSERT_TRUE(PatchFile<uint64_t>(
        SegmentPath(name), kSegmentSizeOffset,
        static_cast<uint64_t>(static_cast<int64_t>(size) + delta)));
    ExpectAttachFails(name, kDataLoss);
  }
}

// KF #17: a truncated segment is refused, never mapped past its end.
TEST_F(CorruptSegmentTest, TruncatedSegmentIsDataLoss) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"half", -1}, {"100 bytes", 100}, {"header only", 32}, {"empty", 0}};
  for (const auto& [label, size] : cases) {
    SCOPED_TRACE(label);
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    const off_t new_size =
        size < 0 ? static_cast<off_t>(image.size() / 2) : size;
    ASSERT_TRUE(TruncateFile(SegmentPath(name), new_size));
    const absl::Time start = absl::Now();
    // An empty file looks like a dict being created: Attach waits up to
    // lock_timeout for its creator, then gives up.
    ExpectAttachFails(name, kDataLoss);
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }
}

// A file shorter than the end of its heap (the header's heap_offset +
// heap_size_now) is DataLoss, however little is missing.
TEST_F(CorruptSegmentTest, SegmentShorterThanItsHeapIsDataLoss) {
  for (int64_t missing : {1, 16, 4096}) {
    SCOPED_TRACE(absl::StrCat(missing, " bytes short of the heap's end"));
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    const uint64_t heap_end =
        ReadField<uint64_t>(image, offsetof(layout::Header, heap_offset)) +
        ReadField<uint64_t>(image, offsetof(layout::Header, heap_size_now));
    ASSERT_GT(heap_end, 8192u);
    ASSERT_LE(heap_end, image.size());
    ASSERT_TRUE(TruncateFile(SegmentPath(name),
                             static_cast<off_t>(heap_end - missing)));
    ExpectAttachFails(name, kDataLoss);
  }
}

// A file longer than its header's heap end is valid: growth extends the file
// before the header records the larger heap. It attaches with its entries
// intact, passes Check, and the file keeps its size.
TEST_F(CorruptSegmentTest, ExtendedSegmentAttaches) {
  for (int64_t extra : {16, 4096, 1 << 20}) {
    SCOPED_TRACE(absl::StrCat(extra, " bytes longer"));
    const std::string& name = NewName();
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image));
    ASSERT_TRUE(TruncateFile(SegmentPath(name),
                             static_cast<off_t>(image.size() + extra)));
    {
      ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                           ZeroCopyDict::Attach(name, CorruptOptions()));
      EXPECT_EQ(dict.Size(), known_.size());
      for (const auto& [key, value] : known_) {
        ASSERT_OK_AND_ASSIGN(std::string got, dict.Get(key));
        EXPECT_TRUE(got == value) << key;
      }
      EXPECT_TRUE(IsOk(dict.Check()));
    }
    std::string after;
    ASSERT_TRUE(ReadWholeFile(SegmentPath(name), &after));
    EXPECT_EQ(after.size(), image.size() + extra) << "the file was resized";
  }
}

// What a fuzz child reports back, beside its exit code.
enum FuzzExit {
  kFuzzOk = 0,
  kWrongLengthAfterCheckOk = 1,
  kPutNotReadableAfterCheckOk = 2,
  kErrorWithoutName = 3,
};

// Appends to the report pipe at once, so that a child that crashes or hangs
// has already told which operation it was in.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void Say(absl::string_view text) {
    (void)!write(fd_, text.data(), text.size());
  }

 private:
  int fd_;
};

// In a forked child: attach to the damaged dict and run every operation.
// Any status is acceptable; crashing or hanging (SIGALRM) is not, and once
// Check() said OK the dict must behave. Reports "op=CODE" steps to `fd`.
int FuzzChild(const std::string& name, const Known& known, int fd) {
  Reporter out(fd);
  int code = kFuzzOk;
  // Every error but a missing key's NotFound names the dict.
  auto step = [&](absl::string_view op, const absl::Status& s) {
    out.Say(absl::StrCat(" ", ToString(op), "=",
                         absl::StatusCodeToString(s.code())));
    if (!s.ok() && !absl::IsNotFound(s) &&
        s.message().find(name) == absl::string_view::npos) {
      out.Say(absl::StrCat(" NO-NAME-IN-MESSAGE(", s.ToString(), ")"));
      if (code == kFuzzOk) code = kErrorWithoutName;
    }
  };
  out.Say("attach...");
  absl::StatusOr<ZeroCopyDict> attached =
      ZeroCopyDict::Attach(name, CorruptOptions());
  step("attach", attached.status());
  if (!attached.ok()) return code;
  ZeroCopyDict& dict = *attached;
  int i = 0;
  for (const auto& [key, value] : known) {
    std::string value_out;
    out.Say(absl::StrCat(" [", i++, "]"));
    step("get", dict.Get(key, &value_out));
    step("contains", dict.Contains(key).status());
    step("read",
         dict.Read(key, [&](absl::string_view v) { value_out = ToString(v); }));
  }
  uint64_t pairs = 0;
  out.Say(" foreach...");
  step("foreach", dict.ForEach([&](absl::string_view k, absl::string_view v) {
    ++pairs;
  }));
  out.Say(absl::StrCat("/", pairs, " size=", dict.Size()));
  out.Say(" stats...");
  (void)dict.GetStats();

  out.Say(" check...");
  const absl::Status check = dict.Check();
  step("check", check);
  if (check.ok()) {
    for (const auto& [key, value] : known) {
      absl::StatusOr<std::string> got = dict.Get(key);
      if (got.ok() && got->size() != value.size()) {
        out.Say(absl::StrCat(" WRONG-LENGTH ", key, ": ", got->size(),
                             " bytes, expected ", value.size()));
        code = kWrongLengthAfterCheckOk;
      }
    }
  }
  out.Say(" put...");
  const absl::Status put = dict.Put("fuzz-new", "fresh value");
  step("put", put);
  if (check.ok() && put.ok()) {
    absl::StatusOr<std::string> back = dict.Get("fuzz-new");
    if (!back.ok() || *back != "fresh value") {
      out.Say(absl::StrCat(" PUT-NOT-READABLE ",
                           absl::StatusCodeToString(back.status().code())));
      code = kPutNotReadableAfterCheckOk;
    }
  }
  out.Say(" replace...");
  step("replace", dict.Put(known.begin()->first, "replacement"));
  step("erase", dict.Erase(std::next(known.begin())->first));
  step("erase-new", dict.Erase("fuzz-new"));
  out.Say(" stats...");
  (void)dict.GetStats();
  out.Say(" allocstats...");
  (void)dict.GetAllocatorStats();
  out.Say(" check2...");
  step("check2", dict.Check());
  out.Say(" done");
  return code;
}

TEST_F(CorruptSegmentTest, RandomByteFlipsNeverCrashOrHang) {
  constexpr int kIterations = 300;
  std::mt19937_64 rng(0x5eed2026);
  int attached = 0, checked_ok = 0, failures = 0;
  std::map<std::string, int> attach_codes;
  const absl::Time start = absl::Now();
  for (int iter = 0; iter < kIterations; ++iter) {
    const std::string& name = NewName("fuzz");
    std::string image;
    ASSERT_TRUE(MakeSegment(name, &image)) << "iteration " << iter;

    // Flip 1..16 bytes: half anywhere in the file, half in its first 4 KiB
    // (header, index) where a flip says the most.
    std::string damaged = image;
    std::vector<std::string> flips;
    const int count = 1 + static_cast<int>(rng() % 16);
    for (int f = 0; f < count; ++f) {
      const size_t span = (rng() % 2 == 0)
                              ? damaged.size()
                              : std::min<size_t>(4096, damaged.size());
      const size_t at = static_cast<size_t>(rng() % span);
      const uint8_t mask = static_cast<uint8_t>(1 + rng() % 255);
      damaged[at] = static_cast<char>(damaged[at] ^ mask);
      flips.push_back(absl::StrCat(at, "^", mask));
    }
    ASSERT_TRUE(WriteWholeFile(SegmentPath(name), damaged));

    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = StartChild(
        [&]() {
          close(fds[0]);
          return FuzzChild(name, known_, fds[1]);
        },
        /*alarm_seconds=*/30);
    ASSERT_GT(pid, 0);
    close(fds[1]);
    const ChildResult result = WaitChild(pid);
    std::string report;
    char buf[512];
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof(buf))) > 0) report.append(buf, r);
    close(fds[0]);

    if (!result.ok()) {
      ++failures;
      ADD_FAILURE() << "iteration " << iter << ": child " << result.Describe()
                    << "; flips {" << absl::StrJoin(flips, ", ")
                    << "}; report: " << report;
    }
    if (report.find(" attach=OK") != std::string::npos) ++attached;
    if (report.find(" check=OK") != std::string::npos) ++checked_ok;
    const size_t at = report.find(" attach=");
    attach_codes[at == std::string::npos
                     ? std::string("no attach result")
                     : report.substr(at + 1,
                                     report.find(' ', at + 1) - at - 1)]++;
    (void)ZeroCopyDict::Unlink(name);
  }
  std::cout << kIterations << " damaged segments in "
            << absl::FormatDuration(absl::Now() - start) << ": " << attached
            << " attached, " << checked_ok << " passed Check, " << failures
            << " failed;";
  for (const auto& [outcome, n] : attach_codes) {
    std::cout << " " << outcome << " x" << n;
  }
  std::cout << "\n";
  // The loop must have reached the operations after Attach, not only the
  // header checks.
  EXPECT_GT(attached, 0);
}

}  // namespace
}  // namespace zcipc
