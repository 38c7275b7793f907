#include "tools/zcipc/flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "tools/zcipc/values.h"
#include "zcipc/options.h"

ABSL_FLAG(bool, json, false, "print JSON instead of text");
ABSL_FLAG(bool, hex, false,
          "keys and values are hex, on the command line, on stdin and in the "
          "output");
ABSL_FLAG(bool, base64, false,
          "keys and values are base64, on the command line, on stdin and in "
          "the output");
ABSL_FLAG(bool, raw, false,
          "write the value's exact bytes, without a newline (for binary "
          "values: zcipc get d k --raw > file)");
ABSL_FLAG(bool, int64, false,
          "print the value as a counter (the 8-byte little-endian int64 that "
          "add keeps)");
ABSL_FLAG(std::string, type, "bytes",
          "the type stored with the value: bytes (as given), text (must be "
          "UTF-8), int (a decimal 64-bit integer, stored as 8 bytes "
          "little-endian, as add keeps it), float (a decimal number, stored "
          "as an 8-byte little-endian double); with int and float, --hex "
          "and --base64 are for the key only");
ABSL_FLAG(absl::Duration, lock_timeout, absl::Seconds(10),
          "longest wait for the writer lock (and for a dict being created)");
ABSL_FLAG(uint64_t, max_items, 10000,
          "entries the dict holds: a new dict's capacity at first (it grows "
          "past it when full), or for grow the capacity to grow to");
ABSL_FLAG(zcipc::cli::ByteSize, heap_size, zcipc::cli::ByteSize{100ull << 20},
          "bytes for keys and values (a new dict's heap at first, or for grow "
          "the heap to grow to): 4096, 64KiB, 64MiB, 1.5GB (K/M/G = 1024^n, "
          "KB/MB/GB = 1000^n)");
ABSL_FLAG(zcipc::cli::ByteSize, max_segment_size, zcipc::cli::ByteSize{0},
          "the largest the new dict's segment may become by growing, in the "
          "syntax of --heap-size (0: the size of the file system /dev/shm "
          "when the dict is created); every process that maps the dict "
          "reserves this much address space (no memory)");
ABSL_FLAG(zcipc::cli::ByteSize, change_log_bytes,
          zcipc::cli::ByteSize{zcipc::Options().change_log_bytes},
          "bytes of the new dict's change log, the ring that watch --follow "
          "reads (0: no change log; rounded up to a power of two)");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1),
          "least time between two redraws: 500ms, 2s (the view is redrawn "
          "when the dict changes, at most this often)");
ABSL_FLAG(absl::Duration, idle_refresh, absl::Seconds(5),
          "most time between two redraws: without a change the view is "
          "redrawn after this long anyway (lock holder, writes/s)");
ABSL_FLAG(bool, follow, false,
          "print every change (seq, put or erase, key, current value) as it "
          "happens, one line each, instead of the view");
ABSL_FLAG(uint64_t, since, 0,
          "with --follow: start after this change number (default: the "
          "dict's current one, so only new changes are printed)");
ABSL_FLAG(int64_t, count, 0, "refreshes before exiting (0: until Ctrl-C)");
ABSL_FLAG(uint64_t, keys, 10000, "distinct keys");
ABSL_FLAG(zcipc::cli::ByteSize, value_size, zcipc::cli::ByteSize{100},
          "bytes per value");
ABSL_FLAG(absl::Duration, duration, absl::Milliseconds(300),
          "how long each timed phase runs");

namespace zcipc {
namespace cli {

namespace {

// A flag whose type allows more than the dict does (the limits of Options,
// include/zcipc/options.h, which Create would refuse later and less clearly).
struct FlagRange {
  const char* name;
  std::string (*valid_values)();
  bool (*is_valid)();
};

const FlagRange kFlagRanges[] = {
    {"max_items",
     [] { return absl::StrCat("an integer from 1 to ", kMaxItems); },
     [] {
       uint64_t v = absl::GetFlag(FLAGS_max_items);
       return v >= 1 && v <= kMaxItems;
     }},
    {"heap_size",
     [] {
       return absl::StrCat("a size from ", kMinHeapSize, " to ", kMaxHeapSize,
                           " bytes (", AbslUnparseFlag(ByteSize{kMinHeapSize}),
                           " to ", AbslUnparseFlag(ByteSize{kMaxHeapSize}),
                           ")");
     },
     [] {
       uint64_t v = absl::GetFlag(FLAGS_heap_size).bytes;
       return v >= kMinHeapSize && v <= kMaxHeapSize;
     }},
    {"max_segment_size",
     [] {
       return absl::StrCat("0 (the size of /dev/shm) or a size up to ",
                           kMaxSegmentSize, " bytes (",
                           AbslUnparseFlag(ByteSize{kMaxSegmentSize}), ")");
     },
     [] {
       return absl::GetFlag(FLAGS_max_segment_size).bytes <= kMaxSegmentSize;
     }},
    {"change_log_bytes",
     [] {
       return absl::StrCat(
           "0 (no change log) or a size from ", kMinChangeLogBytes, " to ",
           kMaxChangeLogBytes, " bytes (",
           AbslUnparseFlag(ByteSize{kMinChangeLogBytes}), " to ",
           AbslUnparseFlag(ByteSize{kMaxChangeLogBytes}), ")");
     },
     [] {
       uint64_t v = absl::GetFlag(FLAGS_change_log_bytes).bytes;
       return v == 0 || (v >= kMinChangeLogBytes && v <= kMaxChangeLogBytes);
     }},
    {"type", [] { return std::string("one of bytes, text, int, float"); },
     [] {
       absl::StatusOr<ValueType> t = ParseTypeName(absl::GetFlag(FLAGS_type));
       return t.ok() && *t <= ValueType::kFloat64;
     }},
    {"idle_refresh",
     [] { return std::string("a duration of more than 0 (5s, 1m, inf)"); },
     [] { return absl::GetFlag(FLAGS_idle_refresh) > absl::ZeroDuration(); }},
    {"lock_timeout",
     [] { return std::string("a duration of 0 or more (500ms, 10s, inf)"); },
     [] { return absl::GetFlag(FLAGS_lock_timeout) >= absl::ZeroDuration(); }},
};

const FlagRange* FindRange(absl::string_view name) {
  for (const FlagRange& r : kFlagRanges) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

}  // namespace

std::string FlagValidValues(absl::string_view name) {
  const FlagRange* r = FindRange(name);
  return r == nullptr ? "" : r->valid_values();
}

bool FlagValueIsValid(absl::string_view name) {
  const FlagRange* r = FindRange(name);
  return r == nullptr || r->is_valid();
}

}  // namespace cli
}  // namespace zcipc
