// The engine's side of include/zcipc/status.h: how parts make kinded errors,
// and the one place a failure gets its "dict 'NAME': Op" context.
//
// Context rule. Parts (layout, index, allocator, lock, platform) make errors
// that say what went wrong but not which dict or operation. DictImpl adds
// "dict 'NAME': Op: " exactly once, through WithContext, which marks the
// status so that an outer layer (a Batch inside Write, Write itself) does not
// add it again. No code looks at message text to decide anything.
//
// Thread safety: pure functions.

#ifndef ZCIPC_ENGINE_STATUS_STATUS_H_
#define ZCIPC_ENGINE_STATUS_STATUS_H_

#include <cstdint>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "zcipc/status.h"
#include "zcipc/wait_hooks.h"

namespace zcipc {
namespace internal {

// A status of `code` with `kind` attached.
absl::Status Error(absl::StatusCode code, ErrorKind kind,
                   absl::string_view message, int64_t lock_holder_pid = 0);

// DataLoss with ErrorKind::kCorrupt: shared memory failed validation.
inline absl::Status CorruptError(absl::string_view message) {
  return Error(absl::StatusCode::kDataLoss, ErrorKind::kCorrupt, message);
}

// "prefix: message", payloads kept (no context mark): for a step inside an
// operation ("repair", a path).
absl::Status Prefixed(absl::string_view prefix, absl::Status status);

// True if WithContext already prefixed this status.
bool HasContext(const absl::Status& status);

// "context: message", payloads kept, marked as having its context. OK and
// already-prefixed statuses pass unchanged.
absl::Status WithContext(absl::string_view context, absl::Status status);

// Test-only: called at every crash point of the write protocol and the
// writer lock with the step's name ("insert.staged", "lock.acquired", ...).
// A test installs a hook that kills (or stops) the process at a chosen step
// to exercise every repair path.
using CrashHook = void (*)(const char* step);
void SetCrashHookForTesting(CrashHook hook);
extern CrashHook g_crash_hook;
inline void CrashPoint(const char* step) {
  if (ABSL_PREDICT_FALSE(g_crash_hook != nullptr)) g_crash_hook(step);
}

// The calling thread's wait hooks (zcipc/wait_hooks.h), or nullptr.
const WaitHooks* ThreadWaitHooks();

}  // namespace internal
}  // namespace zcipc

#endif  // ZCIPC_ENGINE_STATUS_STATUS_H_
