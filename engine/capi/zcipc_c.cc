// The C API (include/zcipc/zcipc.h) over zcipc::ZeroCopyDict: argument
// checks, Status -> code + per-thread message, and no exception ever crosses
// the C boundary.

#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "zcipc/options.h"
#include "zcipc/status.h"
#include "zcipc/zcipc.h"
#include "zcipc/zero_copy_dict.h"

struct zcipc_dict {
  explicit zcipc_dict(zcipc::ZeroCopyDict d) : dict(std::move(d)) {}
  zcipc::ZeroCopyDict dict;
};

namespace zcipc {
namespace {

// The C constants are the C++ enumerators' numbers.
static_assert(ZCIPC_OK == static_cast<int>(absl::StatusCode::kOk));
static_assert(ZCIPC_CANCELLED ==
              static_cast<int>(absl::StatusCode::kCancelled));
static_assert(ZCIPC_UNKNOWN == static_cast<int>(absl::StatusCode::kUnknown));
static_assert(ZCIPC_INVALID_ARGUMENT ==
              static_cast<int>(absl::StatusCode::kInvalidArgument));
static_assert(ZCIPC_DEADLINE_EXCEEDED ==
              static_cast<int>(absl::StatusCode::kDeadlineExceeded));
static_assert(ZCIPC_NOT_FOUND == static_cast<int>(absl::StatusCode::kNotFound));
static_assert(ZCIPC_ALREADY_EXISTS ==
              static_cast<int>(absl::StatusCode::kAlreadyExists));
static_assert(ZCIPC_PERMISSION_DENIED ==
              static_cast<int>(absl::StatusCode::kPermissionDenied));
static_assert(ZCIPC_RESOURCE_EXHAUSTED ==
              static_cast<int>(absl::StatusCode::kResourceExhausted));
static_assert(ZCIPC_FAILED_PRECONDITION ==
              static_cast<int>(absl::StatusCode::kFailedPrecondition));
static_assert(ZCIPC_ABORTED == static_cast<int>(absl::StatusCode::kAborted));
static_assert(ZCIPC_OUT_OF_RANGE ==
              static_cast<int>(absl::StatusCode::kOutOfRange));
static_assert(ZCIPC_UNIMPLEMENTED ==
              static_cast<int>(absl::StatusCode::kUnimplemented));
static_assert(ZCIPC_INTERNAL == static_cast<int>(absl::StatusCode::kInternal));
static_assert(ZCIPC_UNAVAILABLE ==
              static_cast<int>(absl::StatusCode::kUnavailable));
static_assert(ZCIPC_DATA_LOSS == static_cast<int>(absl::StatusCode::kDataLoss));
static_assert(ZCIPC_UNAUTHENTICATED ==
              static_cast<int>(absl::StatusCode::kUnauthenticated));

static_assert(ZCIPC_KIND_UNSPECIFIED ==
              static_cast<int>(ErrorKind::kUnspecified));
static_assert(ZCIPC_KIND_TABLE_FULL == static_cast<int>(ErrorKind::kTableFull));
static_assert(ZCIPC_KIND_HEAP_FULL == static_cast<int>(ErrorKind::kHeapFull));
static_assert(ZCIPC_KIND_LOCK_TIMEOUT ==
              static_cast<int>(ErrorKind::kLockTimeout));
static_assert(ZCIPC_KIND_READ_TIMEOUT ==
              static_cast<int>(ErrorKind::kReadTimeout));
static_assert(ZCIPC_KIND_REENTRANT == static_cast<int>(ErrorKind::kReentrant));
static_assert(ZCIPC_KIND_NOT_A_FILE == static_cast<int>(ErrorKind::kNotAFile));
static_assert(ZCIPC_KIND_INCOMPATIBLE ==
              static_cast<int>(ErrorKind::kIncompatible));
static_assert(ZCIPC_KIND_NOT_A_COUNTER ==
              static_cast<int>(ErrorKind::kNotACounter));
static_assert(ZCIPC_KIND_MOVED_FROM == static_cast<int>(ErrorKind::kMovedFrom));
static_assert(ZCIPC_KIND_NO_HEADER == static_cast<int>(ErrorKind::kNoHeader));
static_assert(ZCIPC_KIND_CORRUPT == static_cast<int>(ErrorKind::kCorrupt));
static_assert(ZCIPC_KIND_BAD_NAME == static_cast<int>(ErrorKind::kBadName));
static_assert(ZCIPC_KIND_BAD_OPTIONS ==
              static_cast<int>(ErrorKind::kBadOptions));
static_assert(ZCIPC_KIND_KEY_TOO_LONG ==
              static_cast<int>(ErrorKind::kKeyTooLong));
static_assert(ZCIPC_KIND_OVERFLOW == static_cast<int>(ErrorKind::kOverflow));
static_assert(ZCIPC_KIND_PERMISSION ==
              static_cast<int>(ErrorKind::kPermission));
static_assert(ZCIPC_KIND_CHANGES_LOST ==
              static_cast<int>(ErrorKind::kChangesLost));

// The calling thread's last failure.
struct LastError {
  std::string message;
  int code = ZCIPC_OK;
  int kind = ZCIPC_KIND_UNSPECIFIED;
};

LastError& ThreadLastError() {
  thread_local LastError last;
  return last;
}

// Records a failure and returns its code. The message is built here so that
// a failure to allocate it leaves an empty message, never an exception.
template <typename... Pieces>
int Fail(absl::StatusCode code, ErrorKind kind, const Pieces&... pieces) {
  LastError& last = ThreadLastError();
  last.code = static_cast<int>(code);
  last.kind = static_cast<int>(kind);
  try {
    last.message = absl::StrCat(pieces...);
  } catch (...) {
    last.message.clear();  // keeps its capacity: no allocation
  }
  return last.code;
}

// A key for a message: C-escaped, at most 64 bytes of it.
std::string ShowKey(absl::string_view key) {
  constexpr size_t kShown = 64;
  std::string shown = absl::CHexEscape(key.substr(0, kShown));
  if (key.size() > kShown)
    absl::StrAppend(&shown, "... (", key.size(), " bytes)");
  return shown;
}

// OK -> ZCIPC_OK; otherwise records the failure. A missing key's NotFound
// carries no message in C++ (it is the common, cheap case); here it gets
// one naming the dict and the key.
int Result(const absl::Status& status, const zcipc_dict* dict = nullptr,
           absl::string_view op = "", absl::string_view key = "") {
  if (status.ok()) return ZCIPC_OK;
  if (absl::IsNotFound(status) && status.message().empty() && dict != nullptr) {
    return Fail(status.code(), GetErrorKind(status), "dict '",
                dict->dict.name(), "': ", op, ": key '", ShowKey(key),
                "' not found");
  }
  return Fail(status.code(), GetErrorKind(status), status.message());
}

int InvalidArgument(absl::string_view function, absl::string_view what) {
  return Fail(absl::StatusCode::kInvalidArgument, ErrorKind::kUnspecified,
              function, ": ", what);
}

// Runs body, turning an exception (an allocation failure in the C++ layer,
// or anything else) into a result: none may cross the C boundary.
template <typename Body>
int Guarded(absl::string_view function, Body body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(absl::StatusCode::kResourceExhausted, ErrorKind::kUnspecified,
                function, ": out of memory");
  } catch (const std::exception& e) {
    return Fail(absl::StatusCode::kInternal, ErrorKind::kUnspecified, function,
                ": ", e.what());
  } catch (...) {
    return Fail(absl::StatusCode::kInternal, ErrorKind::kUnspecified, function,
                ": unknown exception");
  }
}

// A byte range from C: NULL only with length 0.
bool ToView(const void* data, size_t len, absl::string_view* out) {
  if (data == nullptr) {
    *out = absl::string_view();
    return len == 0;
  }
  *out = absl::string_view(static_cast<const char*>(data), len);
  return true;
}

int BadRange(absl::string_view function, absl::string_view what, size_t len) {
  return Fail(absl::StatusCode::kInvalidArgument, ErrorKind::kUnspecified,
              function, ": ", what, " is NULL but its length is ", len,
              " (NULL only with length 0)");
}

// The C++ Options for `options` (NULL: the defaults).
int ToOptions(absl::string_view function, const zcipc_options* options,
              Options* out) {
  *out = Options();
  if (options == nullptr) return ZCIPC_OK;
  if (options->lock_timeout_ms < 0) {
    return Fail(absl::StatusCode::kInvalidArgument, ErrorKind::kBadOptions,
                function, ": lock_timeout_ms is ", options->lock_timeout_ms,
                " (must be >= 0)");
  }
  out->max_items = options->max_items;
  out->heap_size = options->heap_size;
  out->lock_timeout = absl::Milliseconds(options->lock_timeout_ms);
  return ZCIPC_OK;
}

// The C++ Options for `options` with the growth settings (NULL: the
// defaults).
int ToOptions(absl::string_view function, const zcipc_options_ex* options,
              Options* out) {
  if (options == nullptr) {
    *out = Options();
    return ZCIPC_OK;
  }
  const zcipc_options base{options->max_items, options->heap_size,
                           options->lock_timeout_ms};
  int rc = ToOptions(function, &base, out);
  if (rc != ZCIPC_OK) return rc;
  out->max_segment_size = options->max_segment_size;
  out->auto_grow = options->auto_grow != 0;
  return ZCIPC_OK;
}

using OpenFn = absl::StatusOr<ZeroCopyDict> (*)(absl::string_view,
                                                const Options&);

// zcipc_create and the other openers, with zcipc_options or zcipc_options_ex.
template <typename OptionsStruct>
int Open(absl::string_view function, OpenFn open, const char* name,
         const OptionsStruct* options, zcipc_dict** out) {
  return Guarded(function, [&]() -> int {
    if (out == nullptr) return InvalidArgument(function, "out is NULL");
    *out = nullptr;
    if (name == nullptr) return InvalidArgument(function, "name is NULL");
    Options opts;
    int rc = ToOptions(function, options, &opts);
    if (rc != ZCIPC_OK) return rc;
    absl::StatusOr<ZeroCopyDict> dict = open(name, opts);
    if (!dict.ok()) return Result(dict.status());
    *out = new zcipc_dict(*std::move(dict));
    return ZCIPC_OK;
  });
}

}  // namespace
}  // namespace zcipc

namespace zcipc {
namespace {

// zcipc_get and zcipc_get_typed: one lock-free copy into buf (type may be
// NULL).
int GetInto(absl::string_view fn, zcipc_dict* dict, const void* key,
            size_t key_len, void* buf, size_t buf_len, size_t* value_len,
            int* type) {
  return Guarded(fn, [&]() -> int {
    absl::string_view k;
    if (dict == nullptr) return InvalidArgument(fn, "dict is NULL");
    if (!ToView(key, key_len, &k)) return BadRange(fn, "key", key_len);
    if (buf == nullptr && buf_len != 0) return BadRange(fn, "buf", buf_len);
    if (value_len == nullptr) return InvalidArgument(fn, "value_len is NULL");
    size_t len = 0;
    ValueType t = ValueType::kBytes;
    // ReadTyped may run the function again if a writer raced; the last
    // run, the one before OK, saw the consistent value.
    absl::Status s =
        dict->dict.ReadTyped(k, [&](absl::string_view v, ValueType vt) {
          len = v.size();
          t = vt;
          if (len <= buf_len && len > 0) std::memcpy(buf, v.data(), len);
        });
    if (!s.ok()) return Result(s, dict, "Get", k);
    *value_len = len;
    if (type != nullptr) *type = static_cast<int>(t);
    if (len > buf_len) {
      return Fail(absl::StatusCode::kOutOfRange, ErrorKind::kUnspecified,
                  "dict '", dict->dict.name(), "': Get: the value of key '",
                  ShowKey(k), "' is ", len, " bytes, larger than the buffer (",
                  buf_len, " bytes)");
    }
    return ZCIPC_OK;
  });
}

}  // namespace
}  // namespace zcipc

extern "C" {

void zcipc_options_init(zcipc_options* options) {
  if (options == nullptr) return;
  const zcipc::Options defaults;
  options->max_items = defaults.max_items;
  options->heap_size = defaults.heap_size;
  options->lock_timeout_ms = absl::ToInt64Milliseconds(defaults.lock_timeout);
}

int zcipc_create(const char* name, const zcipc_options* options,
                 zcipc_dict** out) {
  return zcipc::Open("zcipc_create", &zcipc::ZeroCopyDict::Create, name,
                     options, out);
}

int zcipc_attach(const char* name, const zcipc_options* options,
                 zcipc_dict** out) {
  return zcipc::Open("zcipc_attach", &zcipc::ZeroCopyDict::Attach, name,
                     options, out);
}

int zcipc_open_or_create(const char* name, const zcipc_options* options,
                         zcipc_dict** out) {
  return zcipc::Open("zcipc_open_or_create", &zcipc::ZeroCopyDict::OpenOrCreate,
                     name, options, out);
}

void zcipc_close(zcipc_dict* dict) { delete dict; }

int zcipc_unlink(const char* name) {
  return zcipc::Guarded("zcipc_unlink", [&]() -> int {
    if (name == nullptr)
      return zcipc::InvalidArgument("zcipc_unlink", "name is NULL");
    return zcipc::Result(zcipc::ZeroCopyDict::Unlink(name));
  });
}

int zcipc_put(zcipc_dict* dict, const void* key, size_t key_len,
              const void* value, size_t value_len) {
  constexpr absl::string_view kFn = "zcipc_put";
  return zcipc::Guarded(kFn, [&]() -> int {
    absl::string_view k, v;
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (!zcipc::ToView(key, key_len, &k))
      return zcipc::BadRange(kFn, "key", key_len);
    if (!zcipc::ToView(value, value_len, &v)) {
      return zcipc::BadRange(kFn, "value", value_len);
    }
    return zcipc::Result(dict->dict.Put(k, v));
  });
}

int zcipc_get(zcipc_dict* dict, const void* key, size_t key_len, void* buf,
              size_t buf_len, size_t* value_len) {
  return zcipc::GetInto("zcipc_get", dict, key, key_len, buf, buf_len,
                        value_len, nullptr);
}

int zcipc_read(zcipc_dict* dict, const void* key, size_t key_len,
               void (*fn)(const void* value, size_t value_len, void* ctx),
               void* ctx) {
  constexpr absl::string_view kFn = "zcipc_read";
  return zcipc::Guarded(kFn, [&]() -> int {
    absl::string_view k;
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (!zcipc::ToView(key, key_len, &k))
      return zcipc::BadRange(kFn, "key", key_len);
    if (fn == nullptr) return zcipc::InvalidArgument(kFn, "fn is NULL");
    return zcipc::Result(
        dict->dict.Read(
            k, [&](absl::string_view v) { fn(v.data(), v.size(), ctx); }),
        dict, "Read", k);
  });
}

int zcipc_erase(zcipc_dict* dict, const void* key, size_t key_len) {
  constexpr absl::string_view kFn = "zcipc_erase";
  return zcipc::Guarded(kFn, [&]() -> int {
    absl::string_view k;
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (!zcipc::ToView(key, key_len, &k))
      return zcipc::BadRange(kFn, "key", key_len);
    return zcipc::Result(dict->dict.Erase(k), dict, "Erase", k);
  });
}

int zcipc_add(zcipc_dict* dict, const void* key, size_t key_len, int64_t delta,
              int64_t* result) {
  constexpr absl::string_view kFn = "zcipc_add";
  return zcipc::Guarded(kFn, [&]() -> int {
    absl::string_view k;
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (!zcipc::ToView(key, key_len, &k))
      return zcipc::BadRange(kFn, "key", key_len);
    absl::StatusOr<int64_t> sum = dict->dict.Add(k, delta);
    if (!sum.ok()) return zcipc::Result(sum.status());
    if (result != nullptr) *result = *sum;
    return ZCIPC_OK;
  });
}

int zcipc_compare_and_swap(zcipc_dict* dict, const void* key, size_t key_len,
                           const void* expected, size_t expected_len,
                           const void* desired, size_t desired_len,
                           int* stored) {
  constexpr absl::string_view kFn = "zcipc_compare_and_swap";
  return zcipc::Guarded(kFn, [&]() -> int {
    absl::string_view k, d;
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (!zcipc::ToView(key, key_len, &k))
      return zcipc::BadRange(kFn, "key", key_len);
    if (!zcipc::ToView(desired, desired_len, &d)) {
      return zcipc::BadRange(kFn, "desired", desired_len);
    }
    std::optional<absl::string_view> e;
    if (expected != nullptr) {
      e = absl::string_view(static_cast<const char*>(expected), expected_len);
    }
    absl::StatusOr<bool> swapped = dict->dict.CompareAndSwap(k, e, d);
    if (!swapped.ok()) return zcipc::Result(swapped.status());
    if (stored != nullptr) *stored = *swapped ? 1 : 0;
    return ZCIPC_OK;
  });
}

uint64_t zcipc_size(const zcipc_dict* dict) {
  if (dict == nullptr) {
    zcipc::InvalidArgument("zcipc_size", "dict is NULL");
    return 0;
  }
  return dict->dict.Size();
}

int zcipc_for_each(zcipc_dict* dict,
                   int (*fn)(const void* key, size_t key_len, const void* value,
                             size_t value_len, void* ctx),
                   void* ctx) {
  constexpr absl::string_view kFn = "zcipc_for_each";
  return zcipc::Guarded(kFn, [&]() -> int {
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (fn == nullptr) return zcipc::InvalidArgument(kFn, "fn is NULL");
    // ForEach has no early exit: once fn asks to stop, the rest of the walk
    // calls nothing.
    bool stopped = false;
    return zcipc::Result(
        dict->dict.ForEach([&](absl::string_view k, absl::string_view v) {
          if (stopped) return;
          stopped = fn(k.data(), k.size(), v.data(), v.size(), ctx) != 0;
        }));
  });
}

int zcipc_put_typed(zcipc_dict* dict, const void* key, size_t key_len,
                    const void* value, size_t value_len, int type) {
  constexpr absl::string_view kFn = "zcipc_put_typed";
  return zcipc::Guarded(kFn, [&]() -> int {
    absl::string_view k, v;
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (!zcipc::ToView(key, key_len, &k))
      return zcipc::BadRange(kFn, "key", key_len);
    if (!zcipc::ToView(value, value_len, &v))
      return zcipc::BadRange(kFn, "value", value_len);
    if (type < 0 || type > 255) {
      return zcipc::InvalidArgument(
          kFn, absl::StrCat("type ", type, " is not in 0..255"));
    }
    return zcipc::Result(
        dict->dict.Put(k, v, static_cast<zcipc::ValueType>(type)));
  });
}

int zcipc_get_typed(zcipc_dict* dict, const void* key, size_t key_len,
                    void* buf, size_t buf_len, size_t* value_len, int* type) {
  return zcipc::GetInto("zcipc_get_typed", dict, key, key_len, buf, buf_len,
                        value_len, type);
}

uint64_t zcipc_change_seq(const zcipc_dict* dict) {
  return dict == nullptr ? 0 : dict->dict.ChangeSeq();
}

int zcipc_wait_for_change(zcipc_dict* dict, uint64_t since, int64_t timeout_ms,
                          uint64_t* seq) {
  constexpr absl::string_view kFn = "zcipc_wait_for_change";
  return zcipc::Guarded(kFn, [&]() -> int {
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (timeout_ms < 0) {
      return zcipc::InvalidArgument(
          kFn, absl::StrCat("timeout_ms is ", timeout_ms, " (must be >= 0)"));
    }
    absl::StatusOr<uint64_t> r =
        dict->dict.WaitForChange(since, absl::Milliseconds(timeout_ms));
    if (!r.ok()) return zcipc::Result(r.status());
    if (seq != nullptr) *seq = *r;
    return ZCIPC_OK;
  });
}

int zcipc_read_changes(zcipc_dict* dict, uint64_t since,
                       void (*fn)(uint64_t seq, int kind, const void* key,
                                  size_t key_len, void* ctx),
                       void* ctx, uint64_t* last) {
  constexpr absl::string_view kFn = "zcipc_read_changes";
  return zcipc::Guarded(kFn, [&]() -> int {
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    if (fn == nullptr) return zcipc::InvalidArgument(kFn, "fn is NULL");
    absl::StatusOr<uint64_t> r =
        dict->dict.ReadChanges(since, [&](const zcipc::Change& c) {
          fn(c.seq,
             c.kind == zcipc::ChangeKind::kErase ? ZCIPC_CHANGE_ERASE
                                                 : ZCIPC_CHANGE_PUT,
             c.key.data(), c.key.size(), ctx);
        });
    if (!r.ok()) return zcipc::Result(r.status());
    if (last != nullptr) *last = *r;
    return ZCIPC_OK;
  });
}

void zcipc_options_ex_init(zcipc_options_ex* options) {
  if (options == nullptr) return;
  const zcipc::Options defaults;
  options->max_items = defaults.max_items;
  options->heap_size = defaults.heap_size;
  options->lock_timeout_ms = absl::ToInt64Milliseconds(defaults.lock_timeout);
  options->max_segment_size = defaults.max_segment_size;
  options->auto_grow = defaults.auto_grow ? 1 : 0;
}

int zcipc_create_ex(const char* name, const zcipc_options_ex* options,
                    zcipc_dict** out) {
  return zcipc::Open("zcipc_create_ex", &zcipc::ZeroCopyDict::Create, name,
                     options, out);
}

int zcipc_attach_ex(const char* name, const zcipc_options_ex* options,
                    zcipc_dict** out) {
  return zcipc::Open("zcipc_attach_ex", &zcipc::ZeroCopyDict::Attach, name,
                     options, out);
}

int zcipc_open_or_create_ex(const char* name, const zcipc_options_ex* options,
                            zcipc_dict** out) {
  return zcipc::Open("zcipc_open_or_create_ex",
                     &zcipc::ZeroCopyDict::OpenOrCreate, name, options, out);
}

int zcipc_reserve(zcipc_dict* dict, uint64_t max_items, uint64_t heap_size) {
  constexpr absl::string_view kFn = "zcipc_reserve";
  return zcipc::Guarded(kFn, [&]() -> int {
    if (dict == nullptr) return zcipc::InvalidArgument(kFn, "dict is NULL");
    // 0 keeps a figure: ask for the capacity now (Reserve never shrinks, so
    // a figure that grew meanwhile stays too).
    if (max_items == 0 || heap_size == 0) {
      const zcipc::Stats now = dict->dict.GetStats();
      if (max_items == 0) max_items = now.max_items;
      if (heap_size == 0) heap_size = now.heap_size;
    }
    return zcipc::Result(dict->dict.Reserve(max_items, heap_size));
  });
}

const char* zcipc_last_error(void) {
  return zcipc::ThreadLastError().message.c_str();
}

int zcipc_last_error_kind(void) { return zcipc::ThreadLastError().kind; }

int zcipc_last_error_code(void) { return zcipc::ThreadLastError().code; }

}  // extern "C"
