// stall_writer: a writer that stops itself (SIGSTOP) in the middle of a write,
// holding the writer lock with an entry half-written: a live writer that
// makes no progress, as under a debugger or in a frozen container. Tests in
// every language use it to check that readers and writers give up after
// lock_timeout (DeadlineExceeded, naming the pid) instead of waiting forever,
// and never "repair" a live writer.
//
//   stall_writer DICT KEY VALUE [STEP]
//
// Attaches to DICT (which must exist), then Put(KEY, VALUE), stopping at the
// write-protocol step STEP (default "update.copied": the slot's sequence is
// odd, so lock-free readers of KEY must wait; KEY must already exist with a
// value at least as long as VALUE for an in-place update). Continue it with
// SIGCONT and it finishes the Put and exits 0; kill it with SIGKILL and the
// next writer or reader repairs the entry. Exit 2 on bad usage, 1 if the
// step was never reached or the Put failed.

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "engine/dict/dict_impl.h"
#include "zcipc/zero_copy_dict.h"

namespace {

const char* g_step = "update.copied";
bool g_reached = false;

void StopAtStep(const char* step) {
  if (std::strcmp(step, g_step) == 0 && !g_reached) {
    g_reached = true;
    raise(SIGSTOP);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: stall_writer DICT KEY VALUE [STEP]\n");
    return 2;
  }
  if (argc == 5) g_step = argv[4];
  absl::StatusOr<zcipc::ZeroCopyDict> dict =
      zcipc::ZeroCopyDict::Attach(argv[1]);
  if (!dict.ok()) {
    std::fprintf(stderr, "stall_writer: %s\n",
                 dict.status().ToString().c_str());
    return 1;
  }
  zcipc::internal::SetCrashHookForTesting(&StopAtStep);
  absl::Status s = dict->Put(argv[2], argv[3]);
  if (!s.ok()) {
    std::fprintf(stderr, "stall_writer: %s\n", s.ToString().c_str());
    return 1;
  }
  if (!g_reached) {
    std::fprintf(stderr, "stall_writer: step '%s' was not reached\n", g_step);
    return 1;
  }
  return 0;
}
