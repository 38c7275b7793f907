// Helpers shared by the zcipc tests: unique dict names that are unlinked when
// a test ends, status assertions, self-checking values (LevelDB style: a value
// carries its key, a generation and a checksum, so a reader can tell a torn or
// misplaced value from a good one), and fork() helpers for multi-process
// tests. The names, the value format and the process helpers are the ones the
// tools use too (tools/proc/proc.h, tools/proc/self_check.h); this header adds
// what needs GoogleTest or the dict, and the tests' defaults.

#ifndef ZCIPC_TESTS_TEST_UTIL_H_
#define ZCIPC_TESTS_TEST_UTIL_H_

// The system and Abseil headers below are more than this file needs: tests
// rely on getting them from here (fork/wait, signals, string formatting).
#include <execinfo.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tools/proc/proc.h"
#include "tools/proc/self_check.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_test {

// absl::string_view is Abseil's own class in this build: convert explicitly.
inline std::string ToString(absl::string_view s) {
  return std::string(s.data(), s.size());
}

// A dict name unique to this process and call ("zt-<tag>-<pid>-<n>").
using ::zcipc_proc::UniqueName;

// The file that backs a dict's segment.
inline std::string SegmentPath(absl::string_view name) {
  return absl::StrCat("/dev/shm/zcipc.", ToString(name));
}

// Owns a unique dict name and unlinks it (if it exists) on destruction, so a
// failing test leaves nothing behind in /dev/shm.
class ScopedName {
 public:
  explicit ScopedName(absl::string_view tag = "d") : name_(UniqueName(tag)) {}
  ~ScopedName() { zcipc::ZeroCopyDict::Unlink(name_).IgnoreError(); }
  ScopedName(const ScopedName&) = delete;
  ScopedName& operator=(const ScopedName&) = delete;

  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

inline ::testing::AssertionResult IsOk(const absl::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status is " << status;
}
template <typename T>
::testing::AssertionResult IsOk(const absl::StatusOr<T>& status_or) {
  return IsOk(status_or.status());
}

inline ::testing::AssertionResult HasCode(const absl::Status& status,
                                          absl::StatusCode code) {
  if (status.code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected code " << code << ", got status " << status;
}
template <typename T>
::testing::AssertionResult HasCode(const absl::StatusOr<T>& status_or,
                                   absl::StatusCode code) {
  return HasCode(status_or.status(), code);
}

// The status has `code` and its message mentions the dict name.
inline ::testing::AssertionResult HasCodeAndName(const absl::Status& status,
                                                 absl::StatusCode code,
                                                 absl::string_view name) {
  ::testing::AssertionResult result = HasCode(status, code);
  if (!result) return result;
  absl::string_view message = status.message();
  if (message.find(name) != absl::string_view::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "message of " << status << " does not contain the name \"" << name
         << "\"";
}
template <typename T>
::testing::AssertionResult HasCodeAndName(const absl::StatusOr<T>& status_or,
                                          absl::StatusCode code,
                                          absl::string_view name) {
  return HasCodeAndName(status_or.status(), code, name);
}

#define ZT_CONCAT_INNER(a, b) a##b
#define ZT_CONCAT(a, b) ZT_CONCAT_INNER(a, b)

// ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict, ZeroCopyDict::Create(name));
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ZT_ASSERT_OK_AND_ASSIGN_IMPL(ZT_CONCAT(zt_status_or_, __LINE__), lhs, rexpr)
#define ZT_ASSERT_OK_AND_ASSIGN_IMPL(status_or, lhs, rexpr) \
  auto status_or = (rexpr);                                 \
  ASSERT_TRUE(::zcipc_test::IsOk(status_or.status()));      \
  lhs = std::move(status_or).value()

#define ASSERT_OK(expr) ASSERT_TRUE(::zcipc_test::IsOk(expr))
#define EXPECT_OK(expr) EXPECT_TRUE(::zcipc_test::IsOk(expr))

using ::zcipc_proc::Fnv1a;

// A self-checking value (the format of tools/proc/self_check.h) whose
// padding is 0..max_padding-1 letters long, varying with the generation, so
// that updates alternate between in-place and relocating ones.
inline std::string MakeValue(absl::string_view key, uint64_t generation,
                             size_t max_padding = 700) {
  const size_t pad = static_cast<size_t>((Fnv1a(key) + generation * 7919) %
                                         (max_padding == 0 ? 1 : max_padding));
  return zcipc_proc::MakeValue(key, generation,
                               zcipc_proc::MinValueSize(key, generation) + pad);
}

// Checks a value made by MakeValue(key, generation, max_padding); on success
// stores its generation (unless `generation` is null). A torn, truncated or
// misplaced value fails, and so does a well-formed value of another length
// than the one MakeValue gives the generation it names.
inline bool ParseValue(absl::string_view key, absl::string_view value,
                       uint64_t* generation, size_t max_padding = 700) {
  uint64_t gen = 0;
  if (!zcipc_proc::ParseValue(key, value, &gen) ||
      value.size() != MakeValue(key, gen, max_padding).size()) {
    return false;
  }
  if (generation != nullptr) *generation = gen;
  return true;
}

// In a forked child: says why it is about to fail (stderr lands in the test
// log), then returns `code` for the child to exit with.
using ::zcipc_proc::ChildFailure;

// The result of a forked child, as waitpid reports it.
using ::zcipc_proc::ChildResult;

// Forks; the child runs `body` and leaves with _exit(body()), never running
// the parent's destructors or gtest's exit handlers; a crash prints a
// backtrace to the test log. A child that runs longer than `alarm_seconds`
// dies of SIGALRM, so a hang is reported, not waited on.
inline pid_t StartChild(const std::function<int()>& body,
                        unsigned alarm_seconds = 120) {
  return zcipc_proc::Fork(body, alarm_seconds);
}

using ::zcipc_proc::WaitChild;

// A one-shot signal between processes over a pipe.
using ::zcipc_proc::PipeSignal;

// Objects in anonymous shared memory that forked children share.
using ::zcipc_proc::SharedArray;

// A child process that holds a dict's writer lock, through the public API
// (a Write whose callback waits), until Release() or Kill(). The constructor
// returns once the lock is held (held() says whether that worked).
class LockHolderProcess {
 public:
  explicit LockHolderProcess(const std::string& name) {
    pid_ = StartChild(
        [&]() {
          ready_.CloseRead();
          release_.CloseWrite();
          absl::StatusOr<zcipc::ZeroCopyDict> d =
              zcipc::ZeroCopyDict::Attach(name);
          if (!d.ok()) return ChildFailure(20, "attach", d.status());
          absl::Status s = d->Write([&](zcipc::Batch&) {
            ready_.Fire();
            release_.Wait();  // a byte, or EOF when the parent goes
            return absl::OkStatus();
          });
          return s.ok() ? 0 : ChildFailure(21, "write", s);
        },
        120);
    ready_.CloseWrite();
    release_.CloseRead();
    held_ = pid_ > 0 && ready_.Wait();
  }
  ~LockHolderProcess() {
    if (pid_ > 0) Kill();
  }
  LockHolderProcess(const LockHolderProcess&) = delete;
  LockHolderProcess& operator=(const LockHolderProcess&) = delete;

  bool held() const { return held_; }
  pid_t pid() const { return pid_; }
  // Lets the holder's callback return and unlock; waits for the child.
  ChildResult Release() {
    release_.Fire();
    ChildResult r = WaitChild(pid_);
    pid_ = -1;
    return r;
  }
  // SIGKILL while holding the lock (a dead holder); waits for the child.
  void Kill() {
    kill(pid_, SIGKILL);
    WaitChild(pid_);
    pid_ = -1;
  }

 private:
  PipeSignal ready_;
  PipeSignal release_;
  pid_t pid_ = -1;
  bool held_ = false;
};

}  // namespace zcipc_test

#endif  // ZCIPC_TESTS_TEST_UTIL_H_
