// Command dispatch: finds the command, parses its flags, checks its
// arguments and runs it.
//
// Why not absl::ParseCommandLine: this Abseil (20220623) has no subcommands,
// exits with code 1 on a bad flag (the tool's contract says 2), prints every
// flag of the binary for --help, and takes a negative number ("add d k -5")
// for a flag. So the command line is split here, and each flag's value is
// parsed by Abseil itself (CommandLineFlag::ParseFrom, the same parser
// ParseCommandLine uses, including absl::Duration and ByteSize values).

#include "tools/zcipc/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "tools/zcipc/flags.h"
#include "zcipc/options.h"

namespace zcipc {
namespace cli {

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"ls",
       "",
       "list every dict on this machine",
       "Lists every dict in /dev/shm (files zcipc.<name>; other files are "
       "ignored): items, capacity (max items, now: a dict grows), heap used "
       "and size, segment size, how often it grew (with \"growing\" while "
       "its table is being migrated), format version, and whether a writer "
       "holds the lock (with its pid); --json adds the slot count and the "
       "largest the segment may grow to. A file that does not attach as a dict "
       "is listed with the "
       "error; a counter that cannot be true (more items than max items, "
       "more heap used than the heap) is shown as CORRUPT.",
       {"json"},
       0,
       0,
       RunLs},
      {"stat",
       "NAME",
       "header, occupancy, probes, allocator, lock holder",
       "Prints the dict's header (format version, layout fingerprint, region "
       "offsets), occupancy and tombstones, its capacity now and its growth "
       "(how often it grew, the largest its segment may become, whether its "
       "table is being migrated), the probe-length histogram, the "
       "allocator's free lists per size class (read under the writer lock), "
       "the write, purge and repair counters, the change feed (the last "
       "change number, the oldest change the change log still holds, its "
       "size), the lock holder and any "
       "pending intent of a writer. Counters that cannot be true are shown "
       "as CORRUPT (run zcipc check); with the lock busy the free lists are "
       "not walked and the largest free block is unknown. With --json, an "
       "error is a JSON object too.",
       {"json", "lock_timeout"},
       1,
       1,
       RunStat},
      {"check",
       "NAME",
       "full integrity check (exit 1 with a report)",
       "Runs the engine's integrity check (like fsck) under the writer lock: "
       "header, every slot, every heap block, the free lists and the "
       "counters. Exit 0 if the dict is sound; exit 1 with a report naming "
       "the first problem if it is not, or if it does not even attach (not "
       "a regular file, no header, a corrupt header); exit 3 if it could "
       "not be checked because another process held the writer lock for "
       "--lock-timeout. With --json, every outcome is a JSON object.",
       {"json", "lock_timeout"},
       1,
       1,
       RunCheck},
      {"watch",
       "NAME",
       "live view, or --follow: every change as it happens",
       "Shows a view of the dict in place, like top(1): items, tombstones, "
       "heap use, writes and writes per second, repairs, the lock holder. "
       "The view is redrawn when the dict changes, at most every --interval, "
       "and at least every --idle-refresh when it does not. Ctrl-C quits. "
       "With --follow, prints every change instead, one line each, as it "
       "happens: SEQ put|erase KEY = VALUE, where VALUE is the key's current "
       "value (read when the line is printed) or (gone) if the key no longer "
       "exists; keys and values are quoted with C escapes (with --hex or "
       "--base64: their bytes in that encoding), an int or a float value as "
       "a number, a pickle as (pickle) \"...\", and --json writes one JSON "
       "object per line (key/value, or key_base64/value_base64 for bytes "
       "that are not UTF-8, and the value's type, as dump does). --follow "
       "starts after --since=SEQ (default: "
       "the dict's current change number: only new changes). If changes "
       "were lost before they were read (the change log is a ring), it "
       "prints SEQ missed N changes, then every key as SEQ resync KEY = "
       "VALUE, then SEQ resynced ITEMS, and goes on from SEQ. A dict created "
       "with --change-log-bytes=0 has no change log: --follow exits 2. "
       "SIGINT and SIGTERM end --follow with exit 0. If the dict is unlinked "
       "or replaced by a new dict of the same name, watch says so and exits "
       "1.",
       {"interval", "idle_refresh", "count", "follow", "since", "json", "hex",
        "base64", "lock_timeout"},
       1,
       1,
       RunWatch},
      {"get",
       "NAME KEY",
       "print a key's value (by its type)",
       "Prints the value of KEY (a lock-free read) followed by a newline, "
       "by the type stored with it: bytes and text as they are, an int as a "
       "decimal number, a float as the shortest decimal that reads back "
       "exactly (as Python's repr), a Python pickle as base64 (with a note "
       "on stderr). Exit 1 if the key or the dict does not exist. With "
       "--hex or --base64 KEY is given and the value's bytes printed in "
       "that encoding, whatever its type; --raw writes the value's exact "
       "bytes; --int64 prints a counter kept by `add`; --json prints "
       "{\"key\":...,\"value\":...,\"type\":...} as dump writes an entry "
       "(an int or a float as a JSON number; no type for bytes).",
       {"hex", "base64", "raw", "int64", "json", "lock_timeout"},
       2,
       2,
       RunGet},
      {"put",
       "NAME KEY [VALUE]",
       "set a key (VALUE or stdin), with --type",
       "Inserts or replaces KEY. Without VALUE, the value is all of stdin, "
       "byte for byte (with --hex or --base64: stdin holds the encoded "
       "value); reading stops with exit 1 as soon as stdin holds more than "
       "the dict's heap size. --type stores the value's type with it: bytes "
       "(the default), text (exit 2 if the value is not UTF-8), int (VALUE "
       "is a decimal int64, stored as 8 bytes little-endian: a counter "
       "`add` counts on) or float (VALUE is a decimal number, stored as an "
       "8-byte little-endian double); a VALUE that is no such number is "
       "exit 2.",
       {"hex", "base64", "type", "lock_timeout"},
       2,
       3,
       RunPut},
      {"del",
       "NAME KEY",
       "erase a key",
       "Erases KEY. Exit 1 if the key or the dict does not exist.",
       {"hex", "base64", "lock_timeout"},
       2,
       2,
       RunDel},
      {"add",
       "NAME KEY DELTA",
       "add DELTA to a counter; print the new value",
       "Adds DELTA (a signed 64-bit integer, may be negative) to the counter "
       "at KEY, atomically across processes, and prints the new value. An "
       "absent key counts from 0; a value that is not an 8-byte counter is "
       "an error (exit 1).",
       {"hex", "base64", "lock_timeout"},
       3,
       3,
       RunAdd},
      {"create",
       "NAME",
       "create a new dict",
       "Creates the dict NAME with room for --max-items entries and "
       "--heap-size bytes of keys and values at first, and a change log (for "
       "watch --follow) of --change-log-bytes. A write that finds the dict "
       "full grows it (the table doubles, the heap grows by at least an "
       "eighth), up to a segment of --max-segment-size bytes; zcipc grow "
       "grows it ahead of time. Exit 1 if it already exists (nothing is "
       "wiped).",
       {"max_items", "heap_size", "change_log_bytes", "max_segment_size"},
       1,
       1,
       RunCreate},
      {"grow",
       "NAME",
       "grow a dict now (--max-items, --heap-size)",
       "Grows the dict NAME now to hold at least --max-items entries and "
       "--heap-size bytes of keys and values (a flag left out keeps that "
       "figure as it is; give at least one). A dict never shrinks: figures "
       "at or below its capacity change nothing. Readers in every process "
       "keep reading while it grows; writers wait for the writer lock (up to "
       "--lock-timeout) while the table migrates. Prints the capacity "
       "afterwards (--json: as an object). Exit 1 if the dict does not "
       "exist or would pass its largest segment size (zcipc stat shows it; "
       "set by create --max-segment-size), 2 for bad flags.",
       {"max_items", "heap_size", "json", "lock_timeout"},
       1,
       1,
       RunGrow},
      {"unlink",
       "NAME",
       "remove a dict's name",
       "Removes the dict from /dev/shm. Processes that have it open keep "
       "using it until they close it. Exit 1 if it does not exist.",
       {},
       1,
       1,
       RunUnlink},
      {"dump",
       "NAME",
       "write every entry as JSON lines (sorted by key)",
       "Writes a header line (sizes and entry count), one JSON object per "
       "entry, sorted by key: {\"key\":...,\"value\":...}, where a key or "
       "value that is not UTF-8 text is written as \"key_base64\" / "
       "\"value_base64\", a value's type (other than bytes) as \"type\" "
       "(text, int, float, pickle; an int or a float as a JSON number), and "
       "an end line {\"end\":true,\"items\":N}. `zcipc load` reads it back, "
       "types included.",
       {"lock_timeout"},
       1,
       1,
       RunDump},
      {"load",
       "NAME",
       "read JSON lines (from dump) on stdin into a dict",
       "Reads the output of `zcipc dump` from stdin and puts every entry "
       "into NAME. The whole input is checked before anything is written: a "
       "bad line, or a dump with fewer or more entries than its header and "
       "end line say, changes nothing (exit 1). A NAME that does not exist "
       "is created (with --max-items and --heap-size if given, else the "
       "dumped dict's sizes; its change log has --change-log-bytes), grows "
       "as the entries go in, and is removed again if they do not fit "
       "(past --max-segment-size): all or nothing. For an existing NAME, "
       "--max-items, --heap-size, --change-log-bytes and --max-segment-size "
       "are usage errors.",
       {"max_items", "heap_size", "change_log_bytes", "max_segment_size",
        "lock_timeout"},
       1,
       1,
       RunLoad},
      {"bench",
       "NAME",
       "quick single-process read/write figures",
       "Creates NAME as a scratch dict (exit 1 if it exists) sized for what "
       "the run stores, times inserts, lock-free reads (hits and misses), "
       "replacements (in place, or relocating for values over 4 KiB), "
       "counter adds and erases in this one process, each phase for at most "
       "--duration, prints ns per operation, and unlinks the dict, also "
       "when interrupted (SIGINT, SIGTERM, SIGHUP).",
       {"keys", "value_size", "duration", "json"},
       1,
       1,
       RunBench},
      {"sync",
       "NAME --redis=URL --prefix=P",
       "keep a dict in step with other machines through Redis",
       "Runs in the foreground until SIGINT or SIGTERM: pushes the dict's "
       "changes to Redis (hash {P}:data, stream {P}:log) and applies the "
       "changes other machines made (docs/SYNC.md). --status shows every "
       "node's published state (lag in changes and ms, last error, resyncs, "
       "skipped values) and exits.",
       {"redis", "prefix", "direction", "stream_max_len", "origin", "status",
        "json"},
       1,
       1,
       RunSync},
      {"version",
       "",
       "print the zcipc and format versions",
       "Prints this zcipc's release and the on-segment format version it "
       "reads and writes, e.g. \"zcipc 2.0.0 (format version 3)\" "
       "(also: zcipc --version). A dict of another format version does not "
       "attach.",
       {},
       0,
       0,
       RunVersion},
  };
  return *commands;
}

namespace {

// The flags given on the command line (for FlagWasGiven).
std::set<std::string>& GivenFlags() {
  static auto* given = new std::set<std::string>;
  return *given;
}

constexpr char kOverview[] =
    "zcipc: list, inspect, check, edit, dump and load zcipc shared-memory\n"
    "dicts (/dev/shm/zcipc.<name>).\n";

constexpr char kExitCodes[] =
    "Exit codes: 0 ok, 1 not found or failed (a missing dict or key, a "
    "failed\ncheck, an error from the dict), 2 usage, 3 check could not run "
    "(the writer\nlock is held).\n";

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string FlagDisplayName(absl::string_view name) {
  return absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}}));
}

std::string GeneralHelp() {
  std::string out = absl::StrCat(kOverview,
                                 "\nusage: zcipc COMMAND [ARGS] "
                                 "[FLAGS]\n\ncommands:\n");
  for (const Command& c : Commands()) {
    std::string left = absl::StrCat(c.name, " ", c.usage);
    left.resize(std::max<size_t>(left.size(), 22), ' ');
    absl::StrAppend(&out, "  ", left, "  ", c.summary, "\n");
  }
  absl::StrAppend(&out,
                  "\n'zcipc help COMMAND' or 'zcipc COMMAND --help' shows a "
                  "command's flags.\n",
                  kExitCodes);
  return out;
}

// Wraps text at 76 columns after `indent` spaces.
std::string Wrap(absl::string_view text, size_t indent) {
  std::string out, line(indent, ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view word = text.substr(start, end - start);
    if (line.size() > indent && line.size() + 1 + word.size() > 76) {
      absl::StrAppend(&out, line, "\n");
      line.assign(indent, ' ');
    }
    if (line.size() > indent) line += ' ';
    absl::StrAppend(&line, word);
    start = end + 1;
  }
  if (line.size() > indent) absl::StrAppend(&out, line, "\n");
  return out;
}

std::string CommandHelp(const Command& c) {
  std::string out =
      absl::StrCat("usage: zcipc ", c.name, *c.usage ? " " : "", c.usage,
                   c.flags.empty() ? "" : " [FLAGS]", "\n\n", Wrap(c.help, 0));
  if (!c.flags.empty()) absl::StrAppend(&out, "\nflags:\n");
  for (const char* name : c.flags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string value =
        flag->IsOfType<bool>() ? "" : absl::StrCat("=", flag->DefaultValue());
    const std::string valid = FlagValidValues(name);
    absl::StrAppend(
        &out, "  ", FlagDisplayName(name), value, "\n",
        Wrap(absl::StrCat(flag->Help(), valid.empty() ? "" : "; ", valid), 6));
  }
  absl::StrAppend(&out, "\n", kExitCodes);
  return out;
}

bool IsHelp(absl::string_view arg) {
  return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help";
}

// "-5", "-0x10": a negative number is an argument, never a flag.
bool IsNegativeNumber(absl::string_view arg) {
  return arg.size() >= 2 && arg[0] == '-' &&
         absl::ascii_isdigit(static_cast<unsigned char>(arg[1]));
}

// Parses one flag token (and maybe its value, the next token). Returns
// kOk, or prints the error and returns kUsage.
int ParseFlag(const Command& command, const std::vector<std::string>& args,
              size_t* i) {
  const Invocation inv{command.name, {}};
  absl::string_view token = args[*i];
  absl::string_view body =
      absl::StripPrefix(absl::StripPrefix(token, "-"), "-");
  std::string name(body.substr(0, body.find('=')));
  absl::StrReplaceAll({{"-", "_"}}, &name);
  bool has_value = body.find('=') != absl::string_view::npos;
  std::string value =
      has_value ? std::string(body.substr(body.find('=') + 1)) : "";
  auto accepts = [&](const std::string& n) {
    return std::find_if(command.flags.begin(), command.flags.end(),
                        [&](const char* f) { return n == f; }) !=
           command.flags.end();
  };
  // --noflag for a boolean --flag, as Abseil spells it (and --no-flag).
  if (!accepts(name) && !has_value && absl::StartsWith(name, "no")) {
    std::string positive =
        std::string(absl::StripPrefix(absl::StripPrefix(name, "no"), "_"));
    const absl::CommandLineFlag* f = absl::FindCommandLineFlag(positive);
    if (accepts(positive) && f != nullptr && f->IsOfType<bool>()) {
      name = positive;
      has_value = true;
      value = "false";
    }
  }
  if (!accepts(name)) {
    return UsageError(inv, absl::StrCat("unknown flag ", token, " (see zcipc ",
                                        command.name, " --help)"));
  }
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) {
    return UsageError(inv, absl::StrCat("flag ", name, " is not defined"));
  }
  if (!has_value) {
    if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (*i + 1 < args.size()) {
      value = args[++*i];
    } else {
      return UsageError(
          inv, absl::StrCat("flag ", FlagDisplayName(name), " needs a value"));
    }
  }
  std::string error;
  const bool parsed = flag->ParseFrom(value, &error);
  if (!parsed || !FlagValueIsValid(name)) {
    const std::string valid = FlagValidValues(name);
    return UsageError(
        inv,
        absl::StrCat("bad value for ", FlagDisplayName(name), ": ",
                     parsed ? absl::StrCat(value, flag->IsOfType<std::string>()
                                                      ? " is not accepted"
                                                      : " is out of range")
                            : error,
                     valid.empty() ? "" : "; it must be ", valid));
  }
  GivenFlags().insert(name);
  return kOk;
}

}  // namespace

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    fprintf(stderr, "%s", GeneralHelp().c_str());
    return kUsage;
  }
  if (IsHelp(args[0])) {
    if (args.size() == 1) {
      printf("%s", GeneralHelp().c_str());
      return kOk;
    }
    const Command* c = FindCommand(args[1]);
    if (c == nullptr) {
      fprintf(stderr, "zcipc: unknown command '%s' (see zcipc help)\n",
              args[1].c_str());
      return kUsage;
    }
    printf("%s", CommandHelp(*c).c_str());
    return kOk;
  }
  if (args[0] == "--version") args[0] = "version";
  const Command* command = FindCommand(args[0]);
  if (command == nullptr) {
    fprintf(stderr, "zcipc: unknown command '%s' (see zcipc help)\n",
            args[0].c_str());
    return kUsage;
  }
  Invocation inv{command->name, {}};
  bool only_args = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_args || a == "-" || a.empty() || a[0] != '-' ||
        IsNegativeNumber(a)) {
      inv.args.push_back(a);
    } else if (a == "--") {
      only_args = true;
    } else if (a == "-h" || a == "--help" || a == "-help") {
      printf("%s", CommandHelp(*command).c_str());
      return kOk;
    } else if (int code = ParseFlag(*command, args, &i); code != kOk) {
      return code;
    }
  }
  if (inv.args.size() < command->min_args ||
      inv.args.size() > command->max_args) {
    return UsageError(
        inv,
        absl::StrCat(inv.args.size() < command->min_args ? "missing arguments"
                                                         : "too many arguments",
                     "\nusage: zcipc ", command->name, " ", command->usage,
                     " (see zcipc ", command->name, " --help)"));
  }
  if (absl::GetFlag(FLAGS_hex) && absl::GetFlag(FLAGS_base64)) {
    return UsageError(inv, "--hex and --base64 exclude each other");
  }
  return command->run(inv);
}

bool FlagWasGiven(absl::string_view name) {
  return GivenFlags().count(std::string(name)) != 0;
}

int UsageError(const Invocation& inv, absl::string_view message) {
  fprintf(stderr, "zcipc %s: %s\n", inv.command.c_str(),
          std::string(message).c_str());
  return kUsage;
}

std::string Describe(const absl::Status& status) {
  std::string code =
      absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
  absl::StrReplaceAll({{"_", " "}}, &code);
  if (status.message().empty()) return code;
  return absl::StrCat(code, ": ", status.message());
}

int ExitCodeFor(const absl::Status& status) {
  return absl::IsInvalidArgument(status) ? kUsage : kFailed;
}

int Fail(const Invocation& inv, const absl::Status& status) {
  fprintf(stderr, "zcipc %s: %s\n", inv.command.c_str(),
          Describe(status).c_str());
  return ExitCodeFor(status);
}

Options OptionsFromFlags() {
  Options options;
  options.lock_timeout = absl::GetFlag(FLAGS_lock_timeout);
  options.max_items = absl::GetFlag(FLAGS_max_items);
  options.heap_size = absl::GetFlag(FLAGS_heap_size).bytes;
  options.change_log_bytes = absl::GetFlag(FLAGS_change_log_bytes).bytes;
  options.max_segment_size = absl::GetFlag(FLAGS_max_segment_size).bytes;
  return options;
}

absl::StatusOr<ZeroCopyDict> AttachDict(const std::string& name) {
  absl::StatusOr<ZeroCopyDict> dict =
      ZeroCopyDict::Attach(name, OptionsFromFlags());
  if (absl::IsNotFound(dict.status())) {
    return absl::NotFoundError(
        absl::StrCat("no dict \"", name, "\" (/dev/shm/zcipc.", name,
                     " does not exist; zcipc ls lists the dicts)"));
  }
  return dict;
}

Encoding EncodingFromFlags() {
  if (absl::GetFlag(FLAGS_hex)) return Encoding::kHex;
  if (absl::GetFlag(FLAGS_base64)) return Encoding::kBase64;
  return Encoding::kText;
}

absl::StatusOr<std::string> ReadStdin(uint64_t max_bytes) {
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "reading stdin");
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("stdin holds more than ", max_bytes, " bytes"));
    }
  }
}

int RunVersion(const Invocation& inv) {
  printf("zcipc %s (format version %u)\n", kProjectVersion,
         static_cast<unsigned>(kFormatVersion));
  return kOk;
}

bool WriteStdout(absl::string_view bytes) {
  fflush(stdout);
  return fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size() &&
         fflush(stdout) == 0;
}

}  // namespace cli
}  // namespace zcipc
