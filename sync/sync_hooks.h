// Test-only hooks into the sync's threads (sync/redis_sync.cc): a test
// installs a function that the push and pull threads call at named points,
// and can hold a thread there to widen a race window deterministically
// (tests/sync/redis_sync_test.cc). Without a hook (the default) each point
// costs one atomic load.

#ifndef ZCIPC_SYNC_SYNC_HOOKS_H_
#define ZCIPC_SYNC_SYNC_HOOKS_H_

#include "absl/strings/string_view.h"

namespace zcipc {
namespace sync_internal {

// Called with the sync's origin and the point's name:
//   "push_loop"      push, at the top of each round of following the feed;
//   "push_reply"     push, after a pipelined call's reply arrived and before
//                    it is processed (the stream ids recorded);
//   "pull_read"      pull, before each read of the stream;
//   "pull_batch_recorded"  pull, once the state file holds a batch's
//                    changes and before it makes them (with the sync's lock
//                    and the dict's writer lock held: the hook must not
//                    block there);
//   "pull_applied"   pull, after a batch of stream entries was applied and
//                    before the state file is rewritten;
//   "pull_snapshot"  pull, after a snapshot's reply arrived and before it
//                    is applied.
using SyncHook = void (*)(absl::string_view origin, absl::string_view point);

// Installs `hook` (nullptr removes it) for every sync of the process.
void SetSyncHookForTesting(SyncHook hook);

}  // namespace sync_internal
}  // namespace zcipc

#endif  // ZCIPC_SYNC_SYNC_HOOKS_H_
