// The Abseil flags of the zcipc tool. Every flag is defined once here; each
// command lists the ones it accepts (cli.cc), so `zcipc get --max-items=1`
// is a usage error, not a silently ignored flag.

#ifndef ZCIPC_TOOLS_ZCIPC_FLAGS_H_
#define ZCIPC_TOOLS_ZCIPC_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/zcipc/format.h"

ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(bool, hex);
ABSL_DECLARE_FLAG(bool, base64);
ABSL_DECLARE_FLAG(bool, raw);
ABSL_DECLARE_FLAG(bool, int64);
ABSL_DECLARE_FLAG(std::string, type);
ABSL_DECLARE_FLAG(absl::Duration, lock_timeout);
ABSL_DECLARE_FLAG(uint64_t, max_items);
ABSL_DECLARE_FLAG(zcipc::cli::ByteSize, heap_size);
ABSL_DECLARE_FLAG(zcipc::cli::ByteSize, change_log_bytes);
ABSL_DECLARE_FLAG(zcipc::cli::ByteSize, max_segment_size);
ABSL_DECLARE_FLAG(absl::Duration, interval);
ABSL_DECLARE_FLAG(absl::Duration, idle_refresh);
ABSL_DECLARE_FLAG(bool, follow);
ABSL_DECLARE_FLAG(uint64_t, since);
ABSL_DECLARE_FLAG(int64_t, count);
ABSL_DECLARE_FLAG(uint64_t, keys);
ABSL_DECLARE_FLAG(zcipc::cli::ByteSize, value_size);
ABSL_DECLARE_FLAG(absl::Duration, duration);

namespace zcipc {
namespace cli {

// The values a flag (Abseil name, "max_items") accepts beyond its type, in
// words for messages and help: "an integer from 1 to 4294967296". Empty if
// every value of its type is accepted.
std::string FlagValidValues(absl::string_view name);
// Whether the flag's current value is one of them (true if it has no range).
bool FlagValueIsValid(absl::string_view name);

}  // namespace cli
}  // namespace zcipc

#endif  // ZCIPC_TOOLS_ZCIPC_FLAGS_H_
