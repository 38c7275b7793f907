// Machine-readable failure kinds. Every zcipc failure is an absl::Status whose
// code says what class of failure it is (see zero_copy_dict.h) and whose
// message is for people. Where a program must tell failures of one code apart
// (a full table from a full heap, a writer-lock timeout from a read that
// waited on a stopped writer), it asks GetErrorKind(), never the message.
// The kind travels as a Status payload under kErrorKindUrl.

#ifndef ZCIPC_STATUS_H_
#define ZCIPC_STATUS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace zcipc {

enum class ErrorKind : int {
  kUnspecified = 0,  // no kind attached (OK, NotFound of a key, others)
  // ResourceExhausted.
  kTableFull = 1,  // max_items live entries
  kHeapFull = 2,   // no free block large enough
  // DeadlineExceeded.
  kLockTimeout = 3,  // the writer lock was not acquired within lock_timeout
  kReadTimeout = 4,  // a lock-free read waited lock_timeout on an entry a
                     // live writer left half-written (it is stopped)
  // FailedPrecondition.
  kReentrant = 5,     // a write from inside this thread's Write/Update
  kNotAFile = 6,      // the name is a directory, symlink, FIFO, socket, ...
  kIncompatible = 7,  // another format version or layout fingerprint
  kNotACounter = 8,   // Add on a value that is not 8 bytes
  kMovedFrom = 9,     // a moved-from handle
  // DataLoss.
  kNoHeader = 10,  // empty or short file, or no magic: not (yet) a dict and
                   // nobody is creating it
  kCorrupt = 11,   // a header, slot, block or counter failed validation
  // InvalidArgument.
  kBadName = 12,
  kBadOptions = 13,
  kKeyTooLong = 14,
  // OutOfRange.
  kOverflow = 15,  // Add past int64
  // PermissionDenied.
  kPermission = 16,  // the file belongs to another user or its mode bars us
  // OutOfRange.
  kChangesLost = 17,  // ReadChanges: the change after `since` is no longer
                      // in the change log; rescan with ForEach
  // (kChangesLost is the last kind: decoding checks against it.)
};

// The payload type URL that carries the kind.
inline constexpr char kErrorKindUrl[] = "type.zcipc.dev/zcipc.ErrorKind";

// The kind attached to `status` (kUnspecified when none).
ErrorKind GetErrorKind(const absl::Status& status);

// The pid that held the writer lock when a kLockTimeout or kReadTimeout
// failure was made (0 if unknown or another kind).
int64_t GetLockHolderPid(const absl::Status& status);

// The kind's name ("table_full", ...), for logs and JSON output.
const char* ErrorKindName(ErrorKind kind);

// Attaches `kind` (and, for the timeout kinds, the lock holder's pid) to a
// non-OK status. Used by the engine; OK passes through unchanged.
absl::Status WithErrorKind(absl::Status status, ErrorKind kind,
                           int64_t lock_holder_pid = 0);

}  // namespace zcipc

#endif  // ZCIPC_STATUS_H_
