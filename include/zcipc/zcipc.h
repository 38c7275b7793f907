/* zcipc: the C API (C11; usable from C++ and through any foreign-function
 * interface: ctypes, cffi, Rust, Go, Node).
 *
 * The same shared-memory dictionary as zcipc::ZeroCopyDict
 * (zcipc/zero_copy_dict.h), with keys and values as byte ranges
 * (pointer + length). A dict written through this API is the same dict the
 * C++ API, the zcipc CLI and other processes see.
 *
 * Results
 *   Every int result is ZCIPC_OK (0) or the absl::StatusCode of the failure
 *   under its upper-snake-case name (ZCIPC_NOT_FOUND, ...). The codes mean
 *   what they mean in the C++ API (zcipc/zero_copy_dict.h lists which call
 *   returns which). zcipc_last_error() is the message of the calling thread's
 *   last failed call; zcipc_last_error_kind() says which failure of one code
 *   it was (a full table from a full heap, ...): programs branch on the code
 *   and the kind, never on the message.
 *
 * Pointers
 *   A byte range may be NULL only when its length is 0 (the empty key or
 *   value). A NULL name, handle, required output or callback is
 *   ZCIPC_INVALID_ARGUMENT with a message, never a crash. `options` may be
 *   NULL everywhere: the defaults of zcipc_options_init().
 *
 * Thread safety
 *   A zcipc_dict* may be used by any number of threads at once (every call
 *   but zcipc_close). zcipc_close must not race with another call on the same
 *   handle, and a callback must not close the dict it is called for. Any
 *   number of processes may hold handles to the same dict. The last error is
 *   per thread. Callbacks run on the calling thread; zcipc_read's callback may
 *   run more than once for one call (see zcipc_read). Reads (get, read,
 *   for_each, size) are lock-free; writes take the dict's writer lock, and a
 *   writer killed at any instruction is repaired by the next process.
 *
 * Lifetime
 *   A dict lives until zcipc_unlink removes its name; zcipc_close unmaps the
 *   handle and never unlinks.
 *
 * Example:
 *   zcipc_dict* d;
 *   if (zcipc_open_or_create("telemetry", NULL, &d) != ZCIPC_OK) {
 *     fprintf(stderr, "%s\n", zcipc_last_error());
 *     return 1;
 *   }
 *   zcipc_put(d, "requests", 8, "42", 2);
 *   char buf[64];
 *   size_t len;
 *   if (zcipc_get(d, "requests", 8, buf, sizeof buf, &len) == ZCIPC_OK) {
 *     printf("%.*s\n", (int)len, buf);
 *   }
 *   zcipc_close(d);
 */

#ifndef ZCIPC_ZCIPC_H_
#define ZCIPC_ZCIPC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results: ZCIPC_OK or an absl::StatusCode number (macros, so that #if can
 * test them too). */
#define ZCIPC_OK 0
#define ZCIPC_CANCELLED 1
#define ZCIPC_UNKNOWN 2
#define ZCIPC_INVALID_ARGUMENT 3
#define ZCIPC_DEADLINE_EXCEEDED 4
#define ZCIPC_NOT_FOUND 5
#define ZCIPC_ALREADY_EXISTS 6
#define ZCIPC_PERMISSION_DENIED 7
#define ZCIPC_RESOURCE_EXHAUSTED 8
#define ZCIPC_FAILED_PRECONDITION 9
#define ZCIPC_ABORTED 10
#define ZCIPC_OUT_OF_RANGE 11
#define ZCIPC_UNIMPLEMENTED 12
#define ZCIPC_INTERNAL 13
#define ZCIPC_UNAVAILABLE 14
#define ZCIPC_DATA_LOSS 15
#define ZCIPC_UNAUTHENTICATED 16

/* Failure kinds: zcipc::ErrorKind (zcipc/status.h), same numbers. */
#define ZCIPC_KIND_UNSPECIFIED 0   /* none: OK, a missing key, others */
#define ZCIPC_KIND_TABLE_FULL 1    /* RESOURCE_EXHAUSTED: max_items entries */
#define ZCIPC_KIND_HEAP_FULL 2     /* RESOURCE_EXHAUSTED: no free block */
#define ZCIPC_KIND_LOCK_TIMEOUT 3  /* DEADLINE_EXCEEDED: writer lock */
#define ZCIPC_KIND_READ_TIMEOUT 4  /* DEADLINE_EXCEEDED: a stopped writer */
#define ZCIPC_KIND_REENTRANT 5     /* FAILED_PRECONDITION */
#define ZCIPC_KIND_NOT_A_FILE 6    /* FAILED_PRECONDITION */
#define ZCIPC_KIND_INCOMPATIBLE 7  /* FAILED_PRECONDITION: format or layout */
#define ZCIPC_KIND_NOT_A_COUNTER 8 /* FAILED_PRECONDITION: not an int64 */
#define ZCIPC_KIND_MOVED_FROM 9    /* FAILED_PRECONDITION (C++ only) */
#define ZCIPC_KIND_NO_HEADER 10    /* DATA_LOSS */
#define ZCIPC_KIND_CORRUPT 11      /* DATA_LOSS */
#define ZCIPC_KIND_BAD_NAME 12     /* INVALID_ARGUMENT */
#define ZCIPC_KIND_BAD_OPTIONS 13  /* INVALID_ARGUMENT */
#define ZCIPC_KIND_KEY_TOO_LONG 14 /* INVALID_ARGUMENT */
#define ZCIPC_KIND_OVERFLOW 15     /* OUT_OF_RANGE: add past int64 */
#define ZCIPC_KIND_PERMISSION 16   /* PERMISSION_DENIED */
#define ZCIPC_KIND_CHANGES_LOST 17 /* OUT_OF_RANGE: zcipc_read_changes */

/* Value types (zcipc::ValueType; 5..255 reserved, kept as they are). */
#define ZCIPC_TYPE_BYTES 0
#define ZCIPC_TYPE_TEXT 1    /* UTF-8 */
#define ZCIPC_TYPE_INT64 2   /* 8 bytes little-endian (zcipc_add's) */
#define ZCIPC_TYPE_FLOAT64 3 /* IEEE-754 double, 8 bytes little-endian */
#define ZCIPC_TYPE_PICKLE 4  /* a Python pickle */

/* Change kinds passed to zcipc_read_changes' callback. */
#define ZCIPC_CHANGE_PUT 0
#define ZCIPC_CHANGE_ERASE 1

/* The declarations, in their documented one-line form (not reflowed); each
 * call's notes follow the list. */
/* clang-format off */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif
typedef struct zcipc_dict zcipc_dict;
typedef struct { uint64_t max_items; uint64_t heap_size; int64_t lock_timeout_ms; } zcipc_options;
void zcipc_options_init(zcipc_options* options);  /* the C++ defaults */
int zcipc_create(const char* name, const zcipc_options* options, zcipc_dict** out);
int zcipc_attach(const char* name, const zcipc_options* options, zcipc_dict** out);
int zcipc_open_or_create(const char* name, const zcipc_options* options, zcipc_dict** out);
void zcipc_close(zcipc_dict* dict);
int zcipc_unlink(const char* name);
int zcipc_put(zcipc_dict* dict, const void* key, size_t key_len, const void* value, size_t value_len);
/* Copies into buf; if buf_len is too small returns ZCIPC_OUT_OF_RANGE; *value_len is always set when found. */
int zcipc_get(zcipc_dict* dict, const void* key, size_t key_len, void* buf, size_t buf_len, size_t* value_len);
int zcipc_read(zcipc_dict* dict, const void* key, size_t key_len,
               void (*fn)(const void* value, size_t value_len, void* ctx), void* ctx);
int zcipc_erase(zcipc_dict* dict, const void* key, size_t key_len);
int zcipc_add(zcipc_dict* dict, const void* key, size_t key_len, int64_t delta, int64_t* result);
/* expected == NULL: store only if the key is absent. *stored = 1 if it stored, else 0. */
int zcipc_compare_and_swap(zcipc_dict* dict, const void* key, size_t key_len, const void* expected,
                           size_t expected_len, const void* desired, size_t desired_len, int* stored);
uint64_t zcipc_size(const zcipc_dict* dict);
/* fn returns 0 to continue, non-zero to stop. */
int zcipc_for_each(zcipc_dict* dict, int (*fn)(const void* key, size_t key_len, const void* value,
                                               size_t value_len, void* ctx), void* ctx);
const char* zcipc_last_error(void);  /* the calling thread's message for its last failed call */

/* Beyond the list: the kind and the code of the thread's last failure. */
int zcipc_last_error_kind(void);
int zcipc_last_error_code(void);

/* Value types (ZCIPC_TYPE_*: zcipc::ValueType) and the change feed. */
int zcipc_put_typed(zcipc_dict* dict, const void* key, size_t key_len, const void* value, size_t value_len, int type);
int zcipc_get_typed(zcipc_dict* dict, const void* key, size_t key_len, void* buf, size_t buf_len, size_t* value_len, int* type);
uint64_t zcipc_change_seq(const zcipc_dict* dict);
int zcipc_wait_for_change(zcipc_dict* dict, uint64_t since, int64_t timeout_ms, uint64_t* seq);
int zcipc_read_changes(zcipc_dict* dict, uint64_t since, void (*fn)(uint64_t seq, int kind, const void* key, size_t key_len, void* ctx), void* ctx, uint64_t* last);

/* Online growth: zcipc_options with the growth settings (zcipc_options stays as it is), and growing now. */
typedef struct { uint64_t max_items; uint64_t heap_size; int64_t lock_timeout_ms; uint64_t max_segment_size; int auto_grow; } zcipc_options_ex;
void zcipc_options_ex_init(zcipc_options_ex* options);  /* the C++ defaults */
int zcipc_create_ex(const char* name, const zcipc_options_ex* options, zcipc_dict** out);
int zcipc_attach_ex(const char* name, const zcipc_options_ex* options, zcipc_dict** out);
int zcipc_open_or_create_ex(const char* name, const zcipc_options_ex* options, zcipc_dict** out);
int zcipc_reserve(zcipc_dict* dict, uint64_t max_items, uint64_t heap_size);
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif
/* clang-format on */

/* The calls in detail.
 *
 * zcipc_options_init: sets *options to the C++ defaults (zcipc::Options:
 *   10000 items, 100 MiB of heap, a 10 s lock timeout). NULL: does nothing.
 *   max_items and heap_size size a new dict at first (attach uses the
 *   dict's own); lock_timeout_ms bounds the wait for the writer lock and for
 *   an entry a stopped writer left half-written (negative:
 *   ZCIPC_INVALID_ARGUMENT). A handle opened with zcipc_options (or NULL)
 *   grows the dict when a write finds it full (auto_grow 1, below).
 *
 * zcipc_create, zcipc_attach, zcipc_open_or_create: on ZCIPC_OK, *out is a
 *   new handle to release with zcipc_close; on failure *out is NULL (when
 *   out is not NULL). create is exclusive (ZCIPC_ALREADY_EXISTS, nothing is
 *   wiped); attach fails ZCIPC_NOT_FOUND for a missing dict; open_or_create
 *   attaches or creates, safe under races. Names are 1 to 200 characters of
 *   [A-Za-z0-9._-] (ZCIPC_INVALID_ARGUMENT, ZCIPC_KIND_BAD_NAME).
 *
 * zcipc_close: unmaps and frees the handle (never unlinks). NULL: nothing.
 *
 * zcipc_unlink: removes the name; open handles keep working.
 *   ZCIPC_NOT_FOUND if absent.
 *
 * zcipc_put: inserts or replaces, growing a full dict (see
 *   zcipc_create_ex). ZCIPC_RESOURCE_EXHAUSTED (ZCIPC_KIND_TABLE_FULL or
 *   ZCIPC_KIND_HEAP_FULL: with auto_grow 0, or at max_segment_size) leaves
 *   the dict as it was; a key over 64 KiB is ZCIPC_INVALID_ARGUMENT.
 *
 * zcipc_get: lock-free copy into buf. On ZCIPC_OK and ZCIPC_OUT_OF_RANGE
 *   *value_len is the value's length (buf may be NULL with buf_len 0 to ask
 *   for it); otherwise it is left alone. ZCIPC_NOT_FOUND if absent. value_len
 *   must not be NULL.
 *
 * zcipc_read: zero-copy, lock-free: fn sees the value in place. fn may run
 *   more than once if a writer raced; only the run before a ZCIPC_OK return
 *   saw a consistent value; fn must not keep the pointer. ZCIPC_NOT_FOUND
 *   (fn not called) if absent.
 *
 * zcipc_erase: removes the key. ZCIPC_NOT_FOUND if absent.
 *
 * zcipc_add: atomic counter: the value is an 8-byte little-endian int64, an
 *   absent key starts at 0; *result (result may be NULL) gets the new
 *   value, stored as ZCIPC_TYPE_INT64. ZCIPC_FAILED_PRECONDITION
 *   (ZCIPC_KIND_NOT_A_COUNTER) for a value that is not 8 bytes or is typed
 *   text, float64 or pickle; ZCIPC_OUT_OF_RANGE (ZCIPC_KIND_OVERFLOW) when
 *   the sum overflows (the value is then unchanged).
 *
 * zcipc_compare_and_swap: stores desired if the value equals expected (a
 *   non-NULL expected with expected_len 0 expects the empty value), or, with
 *   expected == NULL, if the key is absent. stored may be NULL.
 *
 * zcipc_size: live entries, lock-free (0 for a NULL handle).
 *
 * zcipc_for_each: lock-free: fn sees a consistent copy of each entry,
 *   valid only during the call; every key present for the whole call is
 *   visited exactly once. Stopping early returns ZCIPC_OK.
 *
 * zcipc_last_error: the calling thread's message for its last failed call
 *   ("" if none yet; never NULL), valid until that thread's next failed call.
 *   A successful call leaves it alone.
 * zcipc_last_error_kind: the ZCIPC_KIND_* of that failure.
 * zcipc_last_error_code: its ZCIPC_* code (ZCIPC_OK if none yet).
 *
 * zcipc_put_typed, zcipc_get_typed: as zcipc_put and zcipc_get, with the
 *   value's type (ZCIPC_TYPE_*; a type outside 0..255 is
 *   ZCIPC_INVALID_ARGUMENT). zcipc_put stores ZCIPC_TYPE_BYTES, zcipc_add
 *   ZCIPC_TYPE_INT64. type may be NULL in zcipc_get_typed.
 *
 * zcipc_change_seq: the number of the last change (each put, erase, add,
 *   stored compare-and-swap is one; 1, 2, 3, ... without gaps), lock-free;
 *   0 for a NULL handle.
 * zcipc_wait_for_change: sleeps in the kernel until the change number
 *   passes `since` (at once if it has), then sets *seq (seq may be NULL);
 *   ZCIPC_DEADLINE_EXCEEDED after timeout_ms (negative:
 *   ZCIPC_INVALID_ARGUMENT).
 * zcipc_read_changes: lock-free: fn(seq, ZCIPC_CHANGE_PUT or
 *   ZCIPC_CHANGE_ERASE, key, key_len, ctx) for each retained change after
 *   `since`, in order (the key is valid during the call; read its value
 *   with zcipc_get); *last (last may be NULL) is the last seq delivered, or
 *   `since`. ZCIPC_OUT_OF_RANGE with ZCIPC_KIND_CHANGES_LOST when the change
 *   after `since` is no longer in the dict's change log: rescan with
 *   zcipc_for_each and go on from the zcipc_change_seq read before it.
 *   ZCIPC_FAILED_PRECONDITION if the dict has no change log.
 *
 * zcipc_options_ex_init: sets *options to the C++ defaults: those of
 *   zcipc_options_init, max_segment_size 0 and auto_grow 1. NULL: does
 *   nothing.
 * zcipc_create_ex, zcipc_attach_ex, zcipc_open_or_create_ex: as zcipc_create,
 *   zcipc_attach and zcipc_open_or_create, with the growth settings
 *   (zcipc::Options::auto_grow and max_segment_size; options NULL: the
 *   defaults). auto_grow (a setting of the handle: each handle's writes
 *   follow their own): non-zero, a write that finds the table or the heap
 *   full grows the dict (the table doubles, the heap doubles by at most
 *   4 MiB at a time, or by what one value needs) while readers in every
 *   process go on reading; 0, it fails ZCIPC_RESOURCE_EXHAUSTED (ZCIPC_KIND_TABLE_FULL
 *   or ZCIPC_KIND_HEAP_FULL) as before. max_segment_size: the largest the
 *   segment may become by growing, in bytes (0: the size of /dev/shm when
 *   the dict is created; used by create, attach reads the dict's own). Past
 *   it a write fails ZCIPC_RESOURCE_EXHAUSTED whatever auto_grow says.
 * zcipc_reserve: grows the dict now to hold at least max_items entries and
 *   heap_size bytes of keys and values (0 keeps that figure); never shrinks:
 *   figures at or below the capacity change nothing (ZCIPC_OK). Works
 *   whatever auto_grow says; takes the writer lock (ZCIPC_DEADLINE_EXCEEDED
 *   after the lock timeout). ZCIPC_RESOURCE_EXHAUSTED when the dict would
 *   pass its max_segment_size (nothing changes).
 */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZCIPC_ZCIPC_H_ */
