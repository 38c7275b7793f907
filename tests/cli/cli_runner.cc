#include "tests/cli/cli_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/segment_file.h"
#include "tools/proc/proc.h"

namespace zcipc_cli_test {
namespace {

// argv of the test: [0] the test, [1] zcipc, then the others.
std::vector<std::string>* program_paths = nullptr;

// In a forked child: gives the program the signals as a shell would (the
// test runner may ignore or block some) and execs it; never returns.
[[noreturn]] void ExecInChild(const std::string& program,
                              const std::vector<std::string>& args) {
  for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(signo, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

void SetExit(const zcipc_proc::ChildResult& how, Result* r) {
  if (how.exited) r->exit_code = how.exit_code;
  r->signal = how.signal;
}

std::string ReadFile(const std::string& path) {
  std::string text;
  zcipc_test::ReadWholeFile(path, &text);
  return text;
}

}  // namespace

bool SetProgramPaths(int argc, char** argv,
                     const std::vector<std::string>& usage) {
  if (argc != static_cast<int>(usage.size()) + 1) {
    fprintf(stderr, "usage: %s %s\n", argv[0],
            absl::StrJoin(usage, " ").c_str());
    return false;
  }
  program_paths = new std::vector<std::string>(argv, argv + argc);
  return true;
}

int RunAllTests(int argc, char** argv, const std::vector<std::string>& usage) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!SetProgramPaths(argc, argv, usage)) return 2;
  return RUN_ALL_TESTS();
}

const std::string& ProgramPath(int i) {
  if (program_paths == nullptr || i < 1 ||
      i >= static_cast<int>(program_paths->size())) {
    fprintf(stderr, "no program path %d: call SetProgramPaths from main\n", i);
    abort();
  }
  return (*program_paths)[i];
}

std::string Result::Describe() const {
  return absl::StrCat("exit ", exit_code, " signal ", signal, "\n--- stdout:\n",
                      out, "\n--- stderr:\n", err);
}

Result Run(const std::string& program, const std::vector<std::string>& args,
           const Stdin& in, absl::Duration patience) {
  Result r;
  int pin[2], pout[2], perr[2];
  if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 ||
      pipe2(perr, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << strerror(errno);
    return r;
  }
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in.tty_fd >= 0 ? in.tty_fd : pin[0], 0);
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    if (in.tty_fd > 2) close(in.tty_fd);
    ExecInChild(program, args);
  }
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    for (int fd : {pin[1], pout[0], perr[0]}) close(fd);
    return r;
  }
  const uint64_t to_write = in.generate != 0 ? in.generate : in.data.size();
  std::string chunk = in.data;
  if (in.generate != 0) {
    for (int i = 0; i < 32768; ++i) chunk += "y\n";
  }
  int in_fd = pin[1];
  if (to_write == 0 || in.tty_fd >= 0) {
    close(in_fd);
    in_fd = -1;
  }
  fcntl(pout[0], F_SETFL, O_NONBLOCK);
  fcntl(perr[0], F_SETFL, O_NONBLOCK);
  if (in_fd >= 0) fcntl(in_fd, F_SETFL, O_NONBLOCK);
  bool out_open = true, err_open = true;
  // A program that exits before reading all its input must not kill us.
  signal(SIGPIPE, SIG_IGN);
  const absl::Time deadline = absl::Now() + patience;
  while (out_open || err_open || in_fd >= 0) {
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({pout[0], POLLIN, 0});
    if (err_open) fds.push_back({perr[0], POLLIN, 0});
    if (in_fd >= 0) fds.push_back({in_fd, POLLOUT, 0});
    const int64_t wait_ms = std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
    const int ready = poll(fds.data(), fds.size(),
                           static_cast<int>(std::min<int64_t>(wait_ms, 60000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      ADD_FAILURE() << "poll: " << strerror(errno);
      kill(pid, SIGKILL);
      break;
    }
    if (ready == 0) {
      if (absl::Now() < deadline) continue;
      ADD_FAILURE() << program << " did not finish within " << patience
                    << "; killing it";
      kill(pid, SIGKILL);
      break;
    }
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == in_fd) {
        const uint64_t offset = in.generate != 0 ? 0 : r.stdin_written;
        const uint64_t n = std::min<uint64_t>(to_write - r.stdin_written,
                                              chunk.size() - offset);
        const ssize_t w = write(in_fd, chunk.data() + offset, n);
        if (w > 0) r.stdin_written += static_cast<uint64_t>(w);
        if ((w < 0 && errno != EAGAIN) || r.stdin_written == to_write) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      const ssize_t n = read(p.fd, buf, sizeof(buf));
      if (n > 0) {
        (p.fd == pout[0] ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        (p.fd == pout[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(pout[0]);
  close(perr[0]);
  SetExit(zcipc_proc::WaitChild(pid), &r);
  return r;
}

Result Zcipc(const std::vector<std::string>& args, const Stdin& in) {
  return Run(ZcipcPath(), args, in);
}

Result Zcipc(const std::vector<std::string>& args, const std::string& input) {
  Stdin in;
  in.data = input;
  return Zcipc(args, in);
}

Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << text;
  return j;
}

Child::Child(const std::string& program, const std::vector<std::string>& args) {
  static int counter = 0;
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string base =
      absl::StrCat(tmp ? tmp : "/tmp", "/child-", getpid(), "-", counter++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  fflush(stdout);
  fflush(stderr);
  pid_ = fork();
  if (pid_ == 0) {
    const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out =
        open(out_path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    const int err =
        open(err_path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    dup2(null, 0);
    dup2(out, 1);
    dup2(err, 2);
    ExecInChild(program, args);
  }
  if (pid_ < 0) ADD_FAILURE() << "fork: " << strerror(errno);
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    zcipc_proc::WaitChild(pid_);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

std::string Child::Out() const { return ReadFile(out_path_); }
std::string Child::Err() const { return ReadFile(err_path_); }

bool Child::WaitForOutput(absl::string_view text) const {
  const absl::Time deadline = absl::Now() + kPatience;
  while (absl::Now() < deadline) {
    if (absl::StrContains(Out(), text)) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

bool Child::WaitUntilStopped() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, WUNTRACED);
  } while (got < 0 && errno == EINTR);
  if (got == pid_ && WIFSTOPPED(status)) return true;
  reaped_ = true;
  return false;
}

Result Child::Wait(absl::Duration patience) {
  Result r;
  if (pid_ <= 0 || reaped_) {
    ADD_FAILURE() << "no child to wait for";
    return r;
  }
  int status = 0;
  const absl::Time deadline = absl::Now() + patience;
  bool killed = false;
  for (;;) {
    const pid_t got = waitpid(pid_, &status, WNOHANG);
    if (got == pid_) {
      if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
      break;
    }
    if (got < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << strerror(errno);
      break;
    }
    if (!killed && absl::Now() > deadline) {
      ADD_FAILURE() << "the child did not exit within " << patience
                    << "; killing it";
      kill(pid_, SIGKILL);
      killed = true;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  reaped_ = true;
  r.out = Out();
  r.err = Err();
  return r;
}

}  // namespace zcipc_cli_test
