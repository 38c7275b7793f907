// watch --follow: every change of a dict, one line each, as it happens.
//
// It reads the dict's change log (ZeroCopyDict::ReadChanges) from the change
// it has reached, prints each change with the key's current value (Get: the
// log holds no values), and waits for the next change with WaitForChange (a
// futex; never a timer that polls). The change log is a ring: when changes
// were overwritten before they were read (OutOfRange, ErrorKind::kChangesLost)
// it reads ChangeSeq() S0, prints how many changes it missed (S0 minus the
// change it had reached), prints every key (ForEach) as a resync line and
// goes on from S0; a change made during the rescan is printed again after it,
// so applying the lines in order reproduces the dict. Values are shown by
// their type (tools/zcipc/values.h). docs/CLI.md describes the output.

#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "tools/zcipc/values.h"
#include "zcipc/options.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;

// The longest single wait for a change: how long a SIGINT or SIGTERM, or the
// dict's name being unlinked, may go unnoticed while the dict is idle.
// WaitForChange itself is not interrupted by a signal.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);

volatile sig_atomic_t stop_signal = 0;

void OnStopSignal(int signo) { stop_signal = signo; }

// Catches SIGINT and SIGTERM for its lifetime (the signal sets stop_signal),
// then restores what was there before.
class StopSignals {
 public:
  StopSignals() {
    stop_signal = 0;
    struct sigaction action = {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  bool stopped() const { return stop_signal != 0; }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

// A change copied out of the ReadChanges callback (its key is valid only
// there).
struct ReadChange {
  uint64_t seq;
  ChangeKind kind;
  std::string key;
};

// Writes the lines: text (keys and values quoted with C escapes, or in
// --hex / --base64) or JSON (one object per line, as dump writes keys and
// values). Each line is flushed as it is written, so that a reader on a
// pipe sees it at once.
class Printer {
 public:
  Printer(bool json, Encoding encoding) : json_(json), encoding_(encoding) {}

  // A put or erase; `value` null if the key is gone.
  bool Change(uint64_t seq, ChangeKind kind, absl::string_view key,
              const std::string* value, ValueType type) {
    const char* kind_name = kind == ChangeKind::kPut ? "put" : "erase";
    if (json_) {
      Json line{{"seq", seq}, {"kind", kind_name}};
      SetBytes(&line, "key", key);
      if (value != nullptr) {
        SetJsonValue(&line, "value", *value, type);
      } else {
        line["gone"] = true;
      }
      return Write(line.dump());
    }
    return Write(absl::StrCat(seq, " ", kind_name, " ", Bytes(key),
                              value != nullptr
                                  ? absl::StrCat(" = ", Value(*value, type))
                                  : std::string(" (gone)")));
  }

  bool Missed(uint64_t seq, uint64_t reached) {
    if (json_) {
      return Write(Json{
          {"seq", seq},
          {"kind", "missed"},
          {"missed", seq - reached},
          {"after",
           reached}}.dump());
    }
    return Write(absl::StrCat(seq, " missed ", seq - reached,
                              " changes (after change ", reached,
                              ", the change log no longer holds them): "
                              "resync"));
  }

  bool Resync(uint64_t seq, absl::string_view key, absl::string_view value,
              ValueType type) {
    if (json_) {
      Json line{{"seq", seq}, {"kind", "resync"}};
      SetBytes(&line, "key", key);
      SetJsonValue(&line, "value", value, type);
      return Write(line.dump());
    }
    return Write(
        absl::StrCat(seq, " resync ", Bytes(key), " = ", Value(value, type)));
  }

  bool Resynced(uint64_t seq, uint64_t items) {
    if (json_) {
      return Write(
          Json{{"seq", seq}, {"kind", "resynced"}, {"items", items}}.dump());
    }
    return Write(
        absl::StrCat(seq, " resynced ", items, items == 1 ? " key" : " keys"));
  }

 private:
  static void SetBytes(Json* object, const char* field,
                       absl::string_view bytes) {
    std::pair<std::string, std::string> f = JsonBytesField(field, bytes);
    (*object)[f.first] = std::move(f.second);
  }

  std::string Bytes(absl::string_view bytes) const {
    if (encoding_ != Encoding::kText) return Encode(bytes, encoding_);
    return absl::StrCat("\"", absl::CHexEscape(bytes), "\"");
  }

  // A value by its type (values.h); with --hex or --base64, its bytes.
  std::string Value(absl::string_view bytes, ValueType type) const {
    if (encoding_ != Encoding::kText) return Encode(bytes, encoding_);
    return ValueForLine(bytes, type);
  }

  static bool Write(const std::string& line) {
    return fwrite(line.data(), 1, line.size(), stdout) == line.size() &&
           fputc('\n', stdout) != EOF && fflush(stdout) == 0;
  }

  const bool json_;
  const Encoding encoding_;
};

// What watch --follow says about a dict without a change log.
std::string NoChangeLogText(const std::string& name) {
  return absl::StrCat("dict \"", name,
                      "\" has no change log (it was created with "
                      "--change-log-bytes=0), so watch --follow cannot list "
                      "its changes; zcipc watch ",
                      name, " (without --follow) still shows it");
}

}  // namespace

int RunFollow(const Invocation& inv, const ZeroCopyDict& dict,
              absl::FunctionRef<std::string()> name_moved) {
  const std::string& name = inv.args[0];
  Printer out(absl::GetFlag(FLAGS_json), EncodingFromFlags());
  StopSignals signals;
  uint64_t seq = dict.ChangeSeq();
  if (FlagWasGiven("since")) {
    const uint64_t since = absl::GetFlag(FLAGS_since);
    if (since > seq) {
      return UsageError(inv, absl::StrCat("--since=", since,
                                          " is past the last change of "
                                          "dict \"",
                                          name, "\" (", seq,
                                          "): was the dict created again?"));
    }
    seq = since;
  }
  std::vector<ReadChange> changes;
  std::string value;
  ValueType type = ValueType::kBytes;
  for (;;) {
    if (signals.stopped()) return kOk;
    if (std::string why = name_moved(); !why.empty()) {
      fflush(stdout);
      fprintf(stderr, "zcipc watch: %s\n", why.c_str());
      return kFailed;
    }
    changes.clear();
    absl::StatusOr<uint64_t> read =
        dict.ReadChanges(seq, [&changes](const Change& c) {
          changes.push_back(ReadChange{c.seq, c.kind, std::string(c.key)});
        });
    if (absl::IsFailedPrecondition(read.status())) {
      return UsageError(inv, NoChangeLogText(name));
    }
    if (!read.ok() && GetErrorKind(read.status()) != ErrorKind::kChangesLost) {
      return Fail(inv, read.status());
    }
    // The changes delivered (all of them, or those before the loss).
    for (const ReadChange& c : changes) {
      if (signals.stopped()) return kOk;
      absl::Status got = dict.Get(c.key, &value, &type);
      if (!got.ok() && !absl::IsNotFound(got)) return Fail(inv, got);
      if (!out.Change(c.seq, c.kind, c.key, got.ok() ? &value : nullptr,
                      type)) {
        return kFailed;
      }
      seq = c.seq;
    }
    if (!read.ok()) {
      // Lost changes: rescan, then go on from the change number read
      // before the rescan.
      const uint64_t resync_seq = dict.ChangeSeq();
      if (!out.Missed(resync_seq, seq)) return kFailed;
      uint64_t items = 0;
      bool written = true;
      absl::Status scanned = dict.ForEachTyped(
          [&](absl::string_view key, absl::string_view v, ValueType t) {
            if (!written || signals.stopped()) return;
            written = out.Resync(resync_seq, key, v, t);
            ++items;
          });
      if (signals.stopped()) return kOk;
      if (!written) return kFailed;
      if (!scanned.ok()) return Fail(inv, scanned);
      if (!out.Resynced(resync_seq, items)) return kFailed;
      seq = resync_seq;
      continue;
    }
    seq = *read;
    absl::StatusOr<uint64_t> next = dict.WaitForChange(seq, kWaitSlice);
    if (!next.ok() && !absl::IsDeadlineExceeded(next.status())) {
      return Fail(inv, next.status());
    }
  }
}

}  // namespace cli
}  // namespace zcipc
