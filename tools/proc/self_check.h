// Self-checking values (LevelDB style) for the multi-process tests and the
// torture runs: a value carries its key, a generation and a checksum, so a
// reader can tell a torn, truncated or misplaced value from a good one
// without knowing what the writer did. The one format:
//
//   <key>|<generation>|<padding>|<checksum>
//
// where <generation> is decimal, <padding> is zero or more letters that
// depend on the generation and their position, and <checksum> is the 64-bit
// FNV-1a of everything before it as 16 lowercase hex digits.
//
// Thread safety: the functions are pure (thread-safe).

#ifndef ZCIPC_TOOLS_PROC_SELF_CHECK_H_
#define ZCIPC_TOOLS_PROC_SELF_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace zcipc_proc {

// 64-bit FNV-1a: a checksum independent of the engine's own hash.
uint64_t Fnv1a(absl::string_view data);

// The size of the value for (key, generation) without padding: the least
// MakeValue can make.
size_t MinValueSize(absl::string_view key, uint64_t generation);

// The value for (key, generation) of max(size, MinValueSize(key,
// generation)) bytes.
std::string MakeValue(absl::string_view key, uint64_t generation, size_t size);

// True if `value` is a well-formed value for `key` (of any size): the key,
// the padding and the checksum are right. Sets *generation unless it is
// null.
bool ParseValue(absl::string_view key, absl::string_view value,
                uint64_t* generation);

}  // namespace zcipc_proc

#endif  // ZCIPC_TOOLS_PROC_SELF_CHECK_H_
