// Running the real zcipc binary (and the other test programs Bazel passes as
// data) from the CLI tests: to its end with its stdout and stderr captured
// and its stdin fed from a string, a generated stream or a terminal (Run,
// Zcipc), or in the background with its output going to files (Child). The
// programs' paths are the test's arguments (RunAllTests or SetProgramPaths,
// from main).
//
// Every program runs as a shell would start it: default signal dispositions
// and an empty signal mask, whatever the test runner set. A program that
// outlives its time limit is killed and the test fails (a bound that turns a
// hang into a failure, not a timing assertion).
//
// Thread safety: none; call from the test's main thread (the functions fork,
// and the program paths are set once in main before the tests run).

#ifndef ZCIPC_TESTS_CLI_CLI_RUNNER_H_
#define ZCIPC_TESTS_CLI_CLI_RUNNER_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zcipc_cli_test {

using Json = nlohmann::json;

// How long a test waits for a program to finish or reach a state.
constexpr absl::Duration kPatience = absl::Seconds(60);

// Sets the programs' paths from the test's arguments: argv[1] is the zcipc
// binary, then one path for each further entry of `usage` (which names them
// all, e.g. {"PATH_TO_ZCIPC", "PATH_TO_STALL_WRITER"}). Call from main after
// InitGoogleTest; on a wrong count prints a usage line and returns false.
bool SetProgramPaths(int argc, char** argv,
                     const std::vector<std::string>& usage);

// A CLI test's whole main: InitGoogleTest, SetProgramPaths(usage) and
// RUN_ALL_TESTS; 2 on a wrong command line.
int RunAllTests(int argc, char** argv, const std::vector<std::string>& usage);

// The path given as the test's argument number `i` (1 is zcipc).
const std::string& ProgramPath(int i);
inline const std::string& ZcipcPath() { return ProgramPath(1); }

// How a program ended and what it wrote.
struct Result {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  uint64_t stdin_written = 0;  // bytes the program's stdin pipe took

  std::string Describe() const;
};

// What the program reads on stdin: `data` (then end of file), or the
// terminal `tty_fd` (the caller keeps it and closes it), or `generate` bytes
// of `data` followed by "y\n" repeated, written for as long as it reads them.
struct Stdin {
  std::string data;
  int tty_fd = -1;
  uint64_t generate = 0;
};

// Runs `program` with `args` to its end, feeding `in` on its stdin; collects
// stdout, stderr and the exit status. A program still running after
// `patience` is killed with SIGKILL and the test fails.
Result Run(const std::string& program, const std::vector<std::string>& args,
           const Stdin& in = {}, absl::Duration patience = kPatience);

// Runs zcipc with `args`, feeding `in` (or `input`) on stdin.
Result Zcipc(const std::vector<std::string>& args, const Stdin& in = {});
Result Zcipc(const std::vector<std::string>& args, const std::string& input);

#define EXPECT_EXIT_CODE(result, code) \
  EXPECT_EQ((result).exit_code, code) << (result).Describe()

// Parses `text` as JSON; fails the test (and returns a discarded value) if
// it is not.
Json ParseJson(const std::string& text);

// A program running in the background, stdin /dev/null, its stdout and
// stderr going to files in the test's temporary directory. Killed (SIGKILL)
// and reaped on destruction if not reaped before.
class Child {
 public:
  Child(const std::string& program, const std::vector<std::string>& args);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  std::string Out() const;
  std::string Err() const;

  // Waits until stdout contains `text`; false after kPatience.
  bool WaitForOutput(absl::string_view text) const;

  // Waits until the child stops (SIGSTOP: WUNTRACED) or exits; true if it
  // stopped.
  bool WaitUntilStopped();

  // Waits for the exit (killing the child after `patience`, which fails the
  // test).
  Result Wait(absl::Duration patience = kPatience);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_path_, err_path_;
};

}  // namespace zcipc_cli_test

#endif  // ZCIPC_TESTS_CLI_CLI_RUNNER_H_
