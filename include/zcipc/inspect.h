// Inspection of a dict for tools (the zcipc CLI's `stat`, `ls`, `check`) and
// tests: the header's fields, the index's probe lengths, the lock holder.
// Not needed to use a dict.
//
// Thread safety: Inspect is thread-safe and lock-free; while writers are
// active the figures are approximate (each field is read once, the set is
// not a snapshot).

#ifndef ZCIPC_INSPECT_H_
#define ZCIPC_INSPECT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {

// How far lookups walk in the index.
struct ProbeStats {
  // histogram[d]: live entries found d slots past their home slot.
  std::vector<uint64_t> histogram;
  uint64_t max = 0;  // longest hit probe (slots past home)
  double mean = 0;   // mean hit probe
  // Slots a missing key's lookup reads (up to and including the empty slot
  // that ends it), over every possible home slot.
  uint64_t max_miss = 0;
  double mean_miss = 0;
};

struct Inspection {
  Stats stats;
  uint64_t magic = 0;
  uint64_t fingerprint = 0;
  uint64_t build_fingerprint = 0;  // this build's; equal to fingerprint
  uint32_t header_size = 0;
  uint64_t journal_offset = 0;
  uint64_t slots_offset = 0;
  uint64_t heap_offset = 0;
  uint64_t created_unix_nanos = 0;
  uint64_t table_seq = 0;
  // The writer's intent record: "" when idle, else e.g.
  // "insert slot=12 phase=staged" (a writer is inside, or died there).
  std::string intent;
  // Whether a live process holds the writer lock right now (the lock word
  // names a registration whose file lock the kernel says is held), and the
  // pid that registration recorded.
  bool lock_held = false;
  int64_t lock_holder_pid = 0;
  // The lock word still names a holder that died holding it (the next
  // writer takes it over and repairs), and the pid that holder recorded.
  bool lock_abandoned = false;
  int64_t dead_holder_pid = 0;
  ProbeStats probes;
};

// Scans the header and the slot table (O(slot_count), no lock).
absl::StatusOr<Inspection> Inspect(const ZeroCopyDict& dict);

// The names of every dict on this machine (files /dev/shm/zcipc.<name> with
// a valid name), sorted. Whether each one attaches is for Attach to say.
std::vector<std::string> ListDicts();

}  // namespace zcipc

#endif  // ZCIPC_INSPECT_H_
