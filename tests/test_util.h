// Helpers shared by the zcipc tests: unique dict names that are unlinked when
// a test ends, status assertions, self-checking values (LevelDB style: a value
// carries its key, a generation and a checksum, so a reader can tell a torn or
// misplaced value from a good one), and fork() helpers for multi-process
// tests.

#ifndef ZCIPC_TESTS_TEST_UTIL_H_
#define ZCIPC_TESTS_TEST_UTIL_H_

#include <execinfo.h>
#include <signal.h>
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
#include "zcipc/zero_copy_dict.h"

namespace zcipc_test {

// absl::string_view is Abseil's own class in this build: convert explicitly.
inline std::string ToString(absl::string_view s) {
  return std::string(s.data(), s.size());
}

// A dict name unique to this process and call: Bazel runs test binaries in
// parallel, and all of them share /dev/shm.
inline std::string UniqueName(absl::string_view tag) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat("zt-", ToString(tag), "-", static_cast<int64_t>(getpid()),
                      "-", counter.fetch_add(1));
}

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

// 64-bit FNV-1a: a checksum independent of the engine's own hash.
inline uint64_t Fnv1a(absl::string_view data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// A self-checking value: "<key>|<generation>|<padding>|<fnv of the rest>".
// The padding length varies with the generation (0..max_padding-1) so that
// updates alternate between in-place and relocating ones.
inline std::string MakeValue(absl::string_view key, uint64_t generation,
                             size_t max_padding = 700) {
  size_t pad = static_cast<size_t>((Fnv1a(key) + generation * 7919) %
                                   (max_padding == 0 ? 1 : max_padding));
  std::string value = absl::StrCat(ToString(key), "|", generation, "|");
  for (size_t i = 0; i < pad; ++i) {
    value.push_back(static_cast<char>('a' + (generation + i) % 26));
  }
  value.push_back('|');
  value += absl::StrFormat("%016x", Fnv1a(value));
  return value;
}

// Checks a value made by MakeValue(key, generation, max_padding); on success
// stores its generation. A torn, truncated or misplaced value fails: the
// whole value must equal the one MakeValue builds for the generation it names.
inline bool ParseValue(absl::string_view key, absl::string_view value,
                       uint64_t* generation, size_t max_padding = 700) {
  if (value.size() < key.size() + 1 || value.substr(0, key.size()) != key ||
      value[key.size()] != '|') {
    return false;
  }
  absl::string_view rest = value.substr(key.size() + 1);
  size_t bar = rest.find('|');
  if (bar == absl::string_view::npos) return false;
  uint64_t gen = 0;
  if (!absl::SimpleAtoi(rest.substr(0, bar), &gen)) return false;
  if (MakeValue(key, gen, max_padding) != ToString(value)) return false;
  if (generation != nullptr) *generation = gen;
  return true;
}

// In a forked child: says why it is about to fail (stderr lands in the test
// log), then returns `code` for the child to exit with.
inline int ChildFailure(int code, absl::string_view what,
                        const absl::Status& status) {
  std::string line =
      absl::StrCat("child ", static_cast<int64_t>(getpid()), ": ",
                   ToString(what), ": ", status.ToString(), "\n");
  (void)!write(2, line.data(), line.size());
  return code;
}

// The result of a forked child, as waitpid reports it.
struct ChildResult {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;

  bool ok() const { return exited && exit_code == 0; }
  std::string Describe() const {
    if (exited) return absl::StrCat("exited with code ", exit_code);
    return absl::StrCat("killed by signal ", signal, " (", strsignal(signal),
                        ")");
  }
};

// On SIGSEGV, SIGBUS or SIGABRT: print a backtrace to stderr (it lands in the
// test log), then die of the same signal so the parent sees it.
inline void CrashBacktraceHandler(int sig) {
  void* frames[16];
  int n = backtrace(frames, 16);
  static const char kHeader[] = "\n*** zcipc test child crashed; backtrace:\n";
  (void)!write(2, kHeader, sizeof(kHeader) - 1);
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

inline void InstallCrashBacktrace() {
  void* warm_up[1];
  (void)backtrace(warm_up, 1);  // loads the unwinder before any crash
  signal(SIGSEGV, CrashBacktraceHandler);
  signal(SIGBUS, CrashBacktraceHandler);
  signal(SIGABRT, CrashBacktraceHandler);
}

// Forks; the child runs `body` and leaves with _exit(body()), never running
// the parent's destructors or gtest's exit handlers. A child that runs longer
// than `alarm_seconds` dies of SIGALRM, so a hang is reported, not waited on.
inline pid_t StartChild(const std::function<int()>& body,
                        unsigned alarm_seconds = 120) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    InstallCrashBacktrace();
    alarm(alarm_seconds);
    int code = body();
    _exit(code);
  }
  return pid;
}

inline ChildResult WaitChild(pid_t pid) {
  ChildResult result;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

// A one-shot signal between processes over a pipe: Fire() writes a byte;
// Wait() returns true when one arrives, false at EOF (every writer closed).
class PipeSignal {
 public:
  PipeSignal() {
    if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ~PipeSignal() {
    CloseRead();
    CloseWrite();
  }
  PipeSignal(const PipeSignal&) = delete;
  PipeSignal& operator=(const PipeSignal&) = delete;

  bool valid() const { return fds_[0] >= 0; }
  void Fire() {
    char c = 1;
    if (fds_[1] >= 0) (void)!write(fds_[1], &c, 1);
  }
  bool Wait() {
    char c;
    ssize_t r;
    do {
      r = read(fds_[0], &c, 1);
    } while (r < 0 && errno == EINTR);
    return r == 1;
  }
  void CloseRead() {
    if (fds_[0] >= 0) close(fds_[0]);
    fds_[0] = -1;
  }
  void CloseWrite() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2];
};

}  // namespace zcipc_test

#endif  // ZCIPC_TESTS_TEST_UTIL_H_
