#include "tools/proc/proc.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace zcipc_proc {

namespace {

// On SIGSEGV, SIGBUS or SIGABRT: print a backtrace to stderr, then die of
// the same signal so the parent sees it.
void CrashBacktraceHandler(int sig) {
  void* frames[16];
  int n = backtrace(frames, 16);
  static const char kHeader[] = "\n*** zcipc child crashed; backtrace:\n";
  (void)!write(2, kHeader, sizeof(kHeader) - 1);
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

void InstallCrashBacktrace() {
  void* warm_up[1];
  (void)backtrace(warm_up, 1);  // loads the unwinder before any crash
  signal(SIGSEGV, CrashBacktraceHandler);
  signal(SIGBUS, CrashBacktraceHandler);
  signal(SIGABRT, CrashBacktraceHandler);
}

}  // namespace

std::string UniqueName(absl::string_view tag) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat("zt-", tag, "-", static_cast<int64_t>(getpid()), "-",
                      counter.fetch_add(1));
}

std::string ChildResult::Describe() const {
  if (exited) return absl::StrCat("exited with code ", exit_code);
  if (signal == 0) return "not waited for (waitpid failed)";
  return absl::StrCat("killed by signal ", signal, " (", strsignal(signal),
                      ")");
}

pid_t Fork(const std::function<int()>& body, unsigned alarm_seconds) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    InstallCrashBacktrace();
    if (alarm_seconds > 0) alarm(alarm_seconds);
    _exit(body());
  }
  return pid;
}

ChildResult WaitChild(pid_t pid) {
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

int ChildFailure(int code, absl::string_view what, const absl::Status& status) {
  std::string line = absl::StrCat("child ", static_cast<int64_t>(getpid()),
                                  ": ", what, ": ", status.ToString(), "\n");
  (void)!write(2, line.data(), line.size());
  return code;
}

PipeSignal::PipeSignal() {
  if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
}

PipeSignal::~PipeSignal() {
  CloseRead();
  CloseWrite();
}

void PipeSignal::Fire() {
  char c = 1;
  if (fds_[1] >= 0) (void)!write(fds_[1], &c, 1);
}

bool PipeSignal::Wait() {
  if (fds_[0] < 0) return false;
  char c;
  ssize_t r;
  do {
    r = read(fds_[0], &c, 1);
  } while (r < 0 && errno == EINTR);
  return r == 1;
}

void PipeSignal::CloseRead() {
  if (fds_[0] >= 0) close(fds_[0]);
  fds_[0] = -1;
}

void PipeSignal::CloseWrite() {
  if (fds_[1] >= 0) close(fds_[1]);
  fds_[1] = -1;
}

void SleepSeconds(double s) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace zcipc_proc
