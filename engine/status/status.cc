// The ErrorKind payload (include/zcipc/status.h), the per-thread wait hooks
// (include/zcipc/wait_hooks.h) and the engine's marker for
// "this message already names the dict and the operation".
//
// Payload encoding (not part of the API): the kErrorKindUrl payload is the
// decimal kind, optionally followed by ':' and the lock holder's pid.

#include "engine/status/status.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace zcipc {

namespace {

struct Decoded {
  ErrorKind kind = ErrorKind::kUnspecified;
  int64_t pid = 0;
};

Decoded Decode(const absl::Status& status) {
  Decoded d;
  if (status.ok()) return d;
  absl::optional<absl::Cord> payload = status.GetPayload(kErrorKindUrl);
  if (!payload.has_value()) return d;
  std::string text(*payload);
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  int kind = 0;
  if (absl::SimpleAtoi(parts.first, &kind) && kind > 0 &&
      kind <= static_cast<int>(ErrorKind::kChangesLost)) {
    d.kind = static_cast<ErrorKind>(kind);
  }
  int64_t pid = 0;
  if (!parts.second.empty() && absl::SimpleAtoi(parts.second, &pid)) {
    d.pid = pid;
  }
  return d;
}

}  // namespace

ErrorKind GetErrorKind(const absl::Status& status) {
  return Decode(status).kind;
}

int64_t GetLockHolderPid(const absl::Status& status) {
  return Decode(status).pid;
}

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnspecified:
      return "unspecified";
    case ErrorKind::kTableFull:
      return "table_full";
    case ErrorKind::kHeapFull:
      return "heap_full";
    case ErrorKind::kLockTimeout:
      return "lock_timeout";
    case ErrorKind::kReadTimeout:
      return "read_timeout";
    case ErrorKind::kReentrant:
      return "reentrant";
    case ErrorKind::kNotAFile:
      return "not_a_file";
    case ErrorKind::kIncompatible:
      return "incompatible";
    case ErrorKind::kNotACounter:
      return "not_a_counter";
    case ErrorKind::kMovedFrom:
      return "moved_from";
    case ErrorKind::kNoHeader:
      return "no_header";
    case ErrorKind::kCorrupt:
      return "corrupt";
    case ErrorKind::kBadName:
      return "bad_name";
    case ErrorKind::kBadOptions:
      return "bad_options";
    case ErrorKind::kKeyTooLong:
      return "key_too_long";
    case ErrorKind::kOverflow:
      return "overflow";
    case ErrorKind::kPermission:
      return "permission";
    case ErrorKind::kChangesLost:
      return "changes_lost";
  }
  return "unspecified";
}

absl::Status WithErrorKind(absl::Status status, ErrorKind kind,
                           int64_t lock_holder_pid) {
  if (status.ok()) return status;
  std::string text = absl::StrCat(static_cast<int>(kind));
  if (lock_holder_pid != 0) absl::StrAppend(&text, ":", lock_holder_pid);
  status.SetPayload(kErrorKindUrl, absl::Cord(text));
  return status;
}

namespace internal {

namespace {
constexpr char kContextUrl[] = "type.zcipc.dev/zcipc.Context";
}  // namespace

bool HasContext(const absl::Status& status) {
  return status.GetPayload(kContextUrl).has_value();
}

absl::Status Prefixed(absl::string_view prefix, absl::Status status) {
  if (status.ok()) return status;
  absl::Status out(status.code(),
                   status.message().empty()
                       ? std::string(prefix)
                       : absl::StrCat(prefix, ": ", status.message()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& p) {
    out.SetPayload(url, p);
  });
  return out;
}

absl::Status WithContext(absl::string_view context, absl::Status status) {
  if (status.ok() || HasContext(status)) return status;
  absl::Status out = Prefixed(context, std::move(status));
  out.SetPayload(kContextUrl, absl::Cord());
  return out;
}

absl::Status Error(absl::StatusCode code, ErrorKind kind,
                   absl::string_view message, int64_t lock_holder_pid) {
  return WithErrorKind(absl::Status(code, message), kind, lock_holder_pid);
}

}  // namespace internal
}  // namespace zcipc

namespace zcipc {

namespace {
thread_local const WaitHooks* t_wait_hooks = nullptr;
}  // namespace

const WaitHooks* SetThreadWaitHooks(const WaitHooks* hooks) {
  const WaitHooks* previous = t_wait_hooks;
  t_wait_hooks = hooks;
  return previous;
}

namespace internal {
const WaitHooks* ThreadWaitHooks() { return t_wait_hooks; }

CrashHook g_crash_hook = nullptr;
void SetCrashHookForTesting(CrashHook hook) { g_crash_hook = hook; }
}  // namespace internal

}  // namespace zcipc
