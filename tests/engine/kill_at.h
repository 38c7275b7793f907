// For the engine's crash tests: in a forked child, kill the process with
// SIGKILL when the write protocol reaches a crash point
// (internal::CrashPoint, engine/status/status.h).

#ifndef ZCIPC_TESTS_ENGINE_KILL_AT_H_
#define ZCIPC_TESTS_ENGINE_KILL_AT_H_

#include <signal.h>

#include <cstring>

#include "engine/status/status.h"

namespace zcipc_test {

namespace kill_at_internal {
inline const char* g_step = nullptr;
inline int g_occurrence = 1;
inline void Hook(const char* step) {
  if (std::strcmp(step, g_step) == 0 && --g_occurrence == 0) raise(SIGKILL);
}
}  // namespace kill_at_internal

// From now on, this process dies (SIGKILL) the `occurrence`-th time it
// reaches crash point `step`.
inline void KillAtStep(const char* step, int occurrence = 1) {
  kill_at_internal::g_step = step;
  kill_at_internal::g_occurrence = occurrence;
  zcipc::internal::SetCrashHookForTesting(&kill_at_internal::Hook);
}

}  // namespace zcipc_test

#endif  // ZCIPC_TESTS_ENGINE_KILL_AT_H_
