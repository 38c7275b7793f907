// The zcipc command-line tool: subcommands to list, inspect, check, edit,
// dump and load zcipc dicts (like LMDB's mdb_stat, mdb_dump and mdb_load).
//
//   zcipc ls                      every dict on this machine
//   zcipc stat NAME               header, occupancy, probes, allocator, lock
//   zcipc check NAME              integrity check (exit 1 with a report)
//   zcipc watch NAME [--follow]   live view, or every change as it happens
//   zcipc get|put|del|add ...     one key (binary-safe: --hex, --base64)
//   zcipc create NAME; zcipc grow NAME --max-items=N --heap-size=S
//   zcipc dump NAME > f; zcipc load NAME < f
//   zcipc version                 (or --version) release and format version
//
// Main() parses the command line and runs one command; the commands are in
// commands_*.cc. Exit codes: kOk (0), kFailed (1: not found, check failed or
// any other error from the dict), kUsage (2: bad command line), kBusy (3:
// `check` could not run because another process holds the writer lock).
//
// Flags are Abseil flags (flags.h), parsed per command: each command accepts
// only the flags it lists, and --max-items is accepted for --max_items.
//
// Thread safety: Main() and the commands are meant for a single-threaded
// program (they write to stdout and set flags).

#ifndef ZCIPC_TOOLS_ZCIPC_CLI_H_
#define ZCIPC_TOOLS_ZCIPC_CLI_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/zcipc/format.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

enum ExitCode { kOk = 0, kFailed = 1, kUsage = 2, kBusy = 3 };

// One parsed command line: the command and its positional arguments (flags
// are already stored in the Abseil flags).
struct Invocation {
  std::string command;
  std::vector<std::string> args;
};

struct Command {
  const char* name;
  const char* usage;               // the arguments, e.g. "NAME KEY [VALUE]"
  const char* summary;             // one line for `zcipc help`
  const char* help;                // the paragraph for `zcipc help CMD`
  std::vector<const char*> flags;  // accepted flags (Abseil names)
  size_t min_args;
  size_t max_args;
  int (*run)(const Invocation&);
};

// Every command, in the order `zcipc help` lists them.
const std::vector<Command>& Commands();

// Runs the command line (argv[0] is the program). Returns the exit code.
int Main(int argc, char** argv);

// --- Helpers shared by the commands. ---

// Prints "zcipc CMD: message" to stderr; returns kUsage.
int UsageError(const Invocation& inv, absl::string_view message);
// Prints "zcipc CMD: <status>" to stderr; returns kUsage for
// InvalidArgument (a bad name or key), kFailed otherwise.
int Fail(const Invocation& inv, const absl::Status& status);
// The exit code for a failed status: kUsage for InvalidArgument, else
// kFailed (what Fail returns).
int ExitCodeFor(const absl::Status& status);

// The status message without Abseil's code prefix, for people:
// "NOT_FOUND: ..." becomes "not found: ...".
std::string Describe(const absl::Status& status);

// Whether the flag (Abseil name, "max_items") was on the command line.
bool FlagWasGiven(absl::string_view name);

// Options from the flags --lock-timeout, --max-items, --heap-size,
// --change-log-bytes and --max-segment-size.
Options OptionsFromFlags();
// Attaches with OptionsFromFlags(). A missing dict is NotFound with a
// message that says so.
absl::StatusOr<ZeroCopyDict> AttachDict(const std::string& name);

// The encoding of keys and values given by --hex / --base64 (text if none).
Encoding EncodingFromFlags();

// Reads all of stdin (binary-safe). OutOfRange as soon as more than
// `max_bytes` have arrived (the rest is left unread).
absl::StatusOr<std::string> ReadStdin(uint64_t max_bytes = UINT64_MAX);
// Writes bytes to stdout exactly (binary-safe); false on a write error.
bool WriteStdout(absl::string_view bytes);

// The command implementations (commands_*.cc).
int RunLs(const Invocation& inv);
int RunStat(const Invocation& inv);
int RunCheck(const Invocation& inv);
int RunWatch(const Invocation& inv);
int RunGet(const Invocation& inv);
int RunPut(const Invocation& inv);
int RunDel(const Invocation& inv);
int RunAdd(const Invocation& inv);
int RunCreate(const Invocation& inv);
int RunGrow(const Invocation& inv);
int RunUnlink(const Invocation& inv);
int RunDump(const Invocation& inv);
int RunLoad(const Invocation& inv);
int RunBench(const Invocation& inv);
int RunSync(const Invocation& inv);     // commands_sync.cc
int RunVersion(const Invocation& inv);  // in cli.cc

// watch --follow (commands_follow.cc), run by RunWatch on the dict it
// attached. `name_moved` returns why the dict's name no longer denotes the
// attached dict ("dict "d" was unlinked: ..."), or "" while it does.
int RunFollow(const Invocation& inv, const ZeroCopyDict& dict,
              absl::FunctionRef<std::string()> name_moved);

}  // namespace cli
}  // namespace zcipc

#endif  // ZCIPC_TOOLS_ZCIPC_CLI_H_
