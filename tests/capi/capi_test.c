/* The C API (include/zcipc/zcipc.h) from C11: every function, its results
 * and its error paths, including NULL arguments. Compiled with
 * -std=c11 -Wall -Werror (tests/capi/BUILD.bazel). */

#define _POSIX_C_SOURCE 200809L /* pthreads, getpid */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcipc/zcipc.h"

static int failures = 0;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, \
              __LINE__, #cond, zcipc_last_error());                           \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

/* rc must be `code`, and the thread's last error must say so. */
#define CHECK_FAILS(expr, code)                                              \
  do {                                                                       \
    int rc_ = (expr);                                                        \
    if (rc_ != (code)) {                                                     \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", __FILE__, \
              __LINE__, #expr, rc_, (int)(code), zcipc_last_error());        \
      ++failures;                                                            \
    } else {                                                                 \
      CHECK(zcipc_last_error_code() == (code));                              \
      CHECK(zcipc_last_error()[0] != '\0');                                  \
    }                                                                        \
  } while (0)

#define CHECK_OK(expr) CHECK((expr) == ZCIPC_OK)

static char name_a[64];
static char name_b[64];

static void TestOptions(void) {
  zcipc_options o;
  memset(&o, 0xff, sizeof o);
  zcipc_options_init(&o);
  CHECK(o.max_items == 10000);
  CHECK(o.heap_size == 100ull << 20);
  CHECK(o.lock_timeout_ms == 10000);
  zcipc_options_init(NULL); /* does nothing, does not crash */
}

static void TestOpenErrors(void) {
  zcipc_dict* d = (zcipc_dict*)&d; /* not NULL: failures must reset it */
  zcipc_options o;
  zcipc_options_init(&o);

  CHECK_FAILS(zcipc_create(NULL, &o, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(d == NULL);
  CHECK(strstr(zcipc_last_error(), "name") != NULL);
  CHECK_FAILS(zcipc_create(name_a, &o, NULL), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_attach(NULL, NULL, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_attach(name_a, NULL, NULL), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_open_or_create(NULL, NULL, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_open_or_create(name_a, NULL, NULL), ZCIPC_INVALID_ARGUMENT);

  d = (zcipc_dict*)&d;
  CHECK_FAILS(zcipc_create("bad/name", &o, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_BAD_NAME);
  CHECK(d == NULL);

  zcipc_options bad = o;
  bad.max_items = 0;
  CHECK_FAILS(zcipc_create(name_a, &bad, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_BAD_OPTIONS);
  bad = o;
  bad.lock_timeout_ms = -1;
  CHECK_FAILS(zcipc_create(name_a, &bad, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_BAD_OPTIONS);
  CHECK(strstr(zcipc_last_error(), "lock_timeout_ms") != NULL);

  CHECK_FAILS(zcipc_attach(name_a, NULL, &d), ZCIPC_NOT_FOUND);
  CHECK(strstr(zcipc_last_error(), name_a) != NULL);
  CHECK_FAILS(zcipc_unlink(name_a), ZCIPC_NOT_FOUND);
  CHECK_FAILS(zcipc_unlink(NULL), ZCIPC_INVALID_ARGUMENT);
  zcipc_close(NULL); /* does nothing */
}

static void TestLifecycle(void) {
  zcipc_options o;
  zcipc_options_init(&o);
  o.max_items = 100;
  o.heap_size = 1 << 20;
  zcipc_dict* a = NULL;
  CHECK_OK(zcipc_create(name_a, &o, &a));
  CHECK(a != NULL);
  zcipc_dict* again = NULL;
  CHECK_FAILS(zcipc_create(name_a, &o, &again), ZCIPC_ALREADY_EXISTS);
  CHECK(strstr(zcipc_last_error(), name_a) != NULL);

  zcipc_dict* b = NULL;
  CHECK_OK(zcipc_attach(name_a, NULL, &b));
  zcipc_dict* c = NULL;
  CHECK_OK(zcipc_open_or_create(name_a, NULL, &c));
  CHECK_OK(zcipc_put(a, "k", 1, "v1", 2));
  char buf[8];
  size_t len = 0;
  CHECK_OK(zcipc_get(b, "k", 1, buf, sizeof buf, &len));
  CHECK(len == 2 && memcmp(buf, "v1", 2) == 0);
  CHECK_OK(zcipc_get(c, "k", 1, buf, sizeof buf, &len));
  CHECK(zcipc_size(c) == 1);

  /* Unlink: the name goes, open handles keep working. */
  CHECK_OK(zcipc_unlink(name_a));
  CHECK_OK(zcipc_put(b, "k2", 2, "v2", 2));
  CHECK(zcipc_size(a) == 2);
  zcipc_dict* gone = NULL;
  CHECK_FAILS(zcipc_attach(name_a, NULL, &gone), ZCIPC_NOT_FOUND);
  zcipc_close(a);
  zcipc_close(b);
  zcipc_close(c);

  /* open_or_create creates when absent. */
  CHECK_OK(zcipc_open_or_create(name_a, &o, &a));
  CHECK(zcipc_size(a) == 0);
  zcipc_close(a);
  CHECK_OK(zcipc_unlink(name_a));
}

struct ReadCtx {
  char seen[16];
  size_t len;
  int calls;
};

static void OnRead(const void* value, size_t value_len, void* ctx) {
  struct ReadCtx* r = (struct ReadCtx*)ctx;
  r->len = value_len;
  if (value_len <= sizeof r->seen) memcpy(r->seen, value, value_len);
  ++r->calls;
}

static void TestData(zcipc_dict* d) {
  char buf[16];
  size_t len = 0;

  /* put / get, binary bytes, the empty key and value. */
  const char key[] = {'a', '\0', 'b'};
  const char value[] = {'\0', 'x', '\xff'};
  CHECK_OK(zcipc_put(d, key, sizeof key, value, sizeof value));
  CHECK_OK(zcipc_get(d, key, sizeof key, buf, sizeof buf, &len));
  CHECK(len == 3 && memcmp(buf, value, 3) == 0);
  CHECK_OK(zcipc_put(d, NULL, 0, NULL, 0));
  len = 99;
  CHECK_OK(zcipc_get(d, NULL, 0, buf, sizeof buf, &len));
  CHECK(len == 0);
  CHECK_OK(zcipc_put(d, "k", 1, "hello world", 11)); /* replace below */
  CHECK_OK(zcipc_put(d, "k", 1, "hello", 5));

  /* A small buffer: OUT_OF_RANGE, and the length is still set. */
  len = 0;
  CHECK_FAILS(zcipc_get(d, "k", 1, buf, 3, &len), ZCIPC_OUT_OF_RANGE);
  CHECK(len == 5);
  CHECK(strstr(zcipc_last_error(), "buffer") != NULL);
  len = 0;
  CHECK_FAILS(zcipc_get(d, "k", 1, NULL, 0, &len), ZCIPC_OUT_OF_RANGE);
  CHECK(len == 5);
  CHECK_OK(zcipc_get(d, "k", 1, buf, 5, &len)); /* exactly fits */
  CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);

  /* Missing key: NOT_FOUND with a message naming the dict and the key. */
  len = 77;
  CHECK_FAILS(zcipc_get(d, "nope", 4, buf, sizeof buf, &len), ZCIPC_NOT_FOUND);
  CHECK(len == 77);
  CHECK(strstr(zcipc_last_error(), name_b) != NULL);
  CHECK(strstr(zcipc_last_error(), "nope") != NULL);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_UNSPECIFIED);

  /* A success leaves the thread's last error alone. */
  CHECK_OK(zcipc_get(d, "k", 1, buf, sizeof buf, &len));
  CHECK(strstr(zcipc_last_error(), "nope") != NULL);
  CHECK(zcipc_last_error_code() == ZCIPC_NOT_FOUND);

  /* NULL arguments. */
  CHECK_FAILS(zcipc_put(NULL, "k", 1, "v", 1), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_put(d, NULL, 1, "v", 1), ZCIPC_INVALID_ARGUMENT);
  CHECK(strstr(zcipc_last_error(), "key") != NULL);
  CHECK_FAILS(zcipc_put(d, "k", 1, NULL, 1), ZCIPC_INVALID_ARGUMENT);
  CHECK(strstr(zcipc_last_error(), "value") != NULL);
  CHECK_FAILS(zcipc_get(NULL, "k", 1, buf, sizeof buf, &len),
              ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_get(d, NULL, 1, buf, sizeof buf, &len),
              ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_get(d, "k", 1, NULL, 5, &len), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_get(d, "k", 1, buf, sizeof buf, NULL),
              ZCIPC_INVALID_ARGUMENT);

  /* A key over 64 KiB. */
  size_t big_len = 64 * 1024 + 1;
  char* big = calloc(big_len, 1);
  CHECK(big != NULL);
  CHECK_FAILS(zcipc_put(d, big, big_len, "v", 1), ZCIPC_INVALID_ARGUMENT);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_KEY_TOO_LONG);
  free(big);

  /* read */
  struct ReadCtx r;
  memset(&r, 0, sizeof r);
  CHECK_OK(zcipc_read(d, "k", 1, OnRead, &r));
  CHECK(r.calls >= 1 && r.len == 5 && memcmp(r.seen, "hello", 5) == 0);
  memset(&r, 0, sizeof r);
  CHECK_FAILS(zcipc_read(d, "nope", 4, OnRead, &r), ZCIPC_NOT_FOUND);
  CHECK(r.calls == 0);
  CHECK_FAILS(zcipc_read(d, "k", 1, NULL, &r), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_read(NULL, "k", 1, OnRead, &r), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_read(d, NULL, 1, OnRead, &r), ZCIPC_INVALID_ARGUMENT);

  /* erase */
  CHECK_OK(zcipc_erase(d, NULL, 0));
  CHECK_FAILS(zcipc_erase(d, NULL, 0), ZCIPC_NOT_FOUND);
  CHECK_FAILS(zcipc_erase(NULL, "k", 1), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_erase(d, NULL, 2), ZCIPC_INVALID_ARGUMENT);

  /* add */
  int64_t result = 0;
  CHECK_OK(zcipc_add(d, "n", 1, 5, &result));
  CHECK(result == 5);
  CHECK_OK(zcipc_add(d, "n", 1, -7, &result));
  CHECK(result == -2);
  CHECK_OK(zcipc_add(d, "n", 1, 2, NULL));
  CHECK_OK(zcipc_get(d, "n", 1, buf, sizeof buf, &len));
  CHECK(len == 8);
  for (int i = 0; i < 8; ++i) CHECK(buf[i] == 0); /* 0, little-endian */
  CHECK_FAILS(zcipc_add(d, "k", 1, 1, &result), ZCIPC_FAILED_PRECONDITION);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_NOT_A_COUNTER);
  CHECK_OK(zcipc_add(d, "n", 1, INT64_MAX, &result));
  CHECK_FAILS(zcipc_add(d, "n", 1, 1, &result), ZCIPC_OUT_OF_RANGE);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_OVERFLOW);
  CHECK(result == INT64_MAX); /* unchanged on failure */
  CHECK_FAILS(zcipc_add(NULL, "n", 1, 1, &result), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_add(d, NULL, 1, 1, &result), ZCIPC_INVALID_ARGUMENT);

  /* compare_and_swap */
  int stored = -1;
  CHECK_OK(zcipc_compare_and_swap(d, "c", 1, NULL, 0, "one", 3, &stored));
  CHECK(stored == 1);
  CHECK_OK(zcipc_compare_and_swap(d, "c", 1, NULL, 0, "two", 3, &stored));
  CHECK(stored == 0); /* present: not stored */
  CHECK_OK(zcipc_compare_and_swap(d, "c", 1, "xxx", 3, "two", 3, &stored));
  CHECK(stored == 0);
  CHECK_OK(zcipc_compare_and_swap(d, "c", 1, "one", 3, "two", 3, &stored));
  CHECK(stored == 1);
  CHECK_OK(zcipc_get(d, "c", 1, buf, sizeof buf, &len));
  CHECK(len == 3 && memcmp(buf, "two", 3) == 0);
  CHECK_OK(zcipc_compare_and_swap(d, "c", 1, "two", 3, "", 0, NULL));
  CHECK_OK(zcipc_compare_and_swap(d, "c", 1, "", 0, "three", 5, &stored));
  CHECK(stored == 1); /* a non-NULL empty expected matches the empty value */
  CHECK_FAILS(zcipc_compare_and_swap(NULL, "c", 1, NULL, 0, "v", 1, &stored),
              ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_compare_and_swap(d, NULL, 1, NULL, 0, "v", 1, &stored),
              ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_compare_and_swap(d, "c", 1, NULL, 0, NULL, 1, &stored),
              ZCIPC_INVALID_ARGUMENT);

  /* size */
  CHECK(zcipc_size(d) == 4); /* key, k, n, c */
  CHECK(zcipc_size(NULL) == 0);
  CHECK(zcipc_last_error_code() == ZCIPC_INVALID_ARGUMENT);
}

struct EachCtx {
  int calls;
  int stop_after;
  size_t bytes;
};

static int OnEach(const void* key, size_t key_len, const void* value,
                  size_t value_len, void* ctx) {
  struct EachCtx* e = (struct EachCtx*)ctx;
  (void)key;
  (void)value;
  ++e->calls;
  e->bytes += key_len + value_len;
  return e->stop_after > 0 && e->calls >= e->stop_after;
}

static void TestForEach(zcipc_dict* d) {
  struct EachCtx e = {0, 0, 0};
  CHECK_OK(zcipc_for_each(d, OnEach, &e));
  CHECK(e.calls == 4);
  CHECK(e.bytes == (3 + 3) + (1 + 5) + (1 + 8) + (1 + 5));
  struct EachCtx stop = {0, 2, 0};
  CHECK_OK(zcipc_for_each(d, OnEach, &stop));
  CHECK(stop.calls == 2);
  CHECK_FAILS(zcipc_for_each(d, NULL, &e), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_for_each(NULL, OnEach, &e), ZCIPC_INVALID_ARGUMENT);
}

static void TestFull(void) {
  zcipc_options_ex o;
  zcipc_options_ex_init(&o);
  o.max_items = 2;
  o.heap_size = 4096;
  o.auto_grow = 0; /* full means full */
  zcipc_dict* d = NULL;
  CHECK_OK(zcipc_create_ex(name_a, &o, &d));
  if (d == NULL) return;
  CHECK_OK(zcipc_put(d, "a", 1, "1", 1));
  CHECK_OK(zcipc_put(d, "b", 1, "2", 1));
  CHECK_FAILS(zcipc_put(d, "c", 1, "3", 1), ZCIPC_RESOURCE_EXHAUSTED);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_TABLE_FULL);
  static char value[8192];
  CHECK_FAILS(zcipc_put(d, "a", 1, value, sizeof value),
              ZCIPC_RESOURCE_EXHAUSTED);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_HEAP_FULL);
  CHECK(zcipc_size(d) == 2);
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
}

/* Each thread has its own last error. */
static void* OtherThread(void* arg) {
  (void)arg;
  /* Nothing failed on this thread yet. */
  if (zcipc_last_error()[0] != '\0') return "a message already";
  if (zcipc_last_error_code() != ZCIPC_OK) return "a code already";
  if (zcipc_unlink("bad/name") != ZCIPC_INVALID_ARGUMENT) return "unlink";
  if (strstr(zcipc_last_error(), "bad/name") == NULL) return "message";
  return NULL;
}

static void TestThreadLocalError(void) {
  zcipc_dict* d = NULL;
  CHECK_FAILS(zcipc_attach(name_a, NULL, &d), ZCIPC_NOT_FOUND);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, OtherThread, NULL) == 0);
  void* failure = "not joined";
  CHECK(pthread_join(t, &failure) == 0);
  CHECK(failure == NULL);
  CHECK(zcipc_last_error_code() == ZCIPC_NOT_FOUND); /* this thread's */
  CHECK(strstr(zcipc_last_error(), name_a) != NULL);
}

/* One handle shared by several threads: their adds all count. */
enum { kThreads = 4, kAddsPerThread = 2000 };

static void* AddMany(void* arg) {
  zcipc_dict* d = (zcipc_dict*)arg;
  for (int i = 0; i < kAddsPerThread; ++i) {
    if (zcipc_add(d, "shared", 6, 1, NULL) != ZCIPC_OK) return "add failed";
    char buf[8];
    size_t len = 0;
    if (zcipc_get(d, "shared", 6, buf, sizeof buf, &len) != ZCIPC_OK) {
      return "get failed";
    }
    if (len != 8) return "not 8 bytes";
  }
  return NULL;
}

static void TestThreadsShareAHandle(void) {
  zcipc_dict* d = NULL;
  CHECK_OK(zcipc_create(name_a, NULL, &d));
  if (d == NULL) return;
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    CHECK(pthread_create(&threads[i], NULL, AddMany, d) == 0);
  }
  for (int i = 0; i < kThreads; ++i) {
    void* failure = "not joined";
    CHECK(pthread_join(threads[i], &failure) == 0);
    CHECK(failure == NULL);
  }
  int64_t total = 0;
  CHECK_OK(zcipc_add(d, "shared", 6, 0, &total));
  CHECK(total == (int64_t)kThreads * kAddsPerThread);
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
}

/* Typed values and the change feed. */
struct Seen {
  uint64_t seqs[64];
  int kinds[64];
  char keys[64][16];
  int n;
};

static void OnChange(uint64_t seq, int kind, const void* key, size_t key_len,
                     void* ctx) {
  struct Seen* seen = (struct Seen*)ctx;
  if (seen->n < 64 && key_len < 16) {
    seen->seqs[seen->n] = seq;
    seen->kinds[seen->n] = kind;
    memcpy(seen->keys[seen->n], key, key_len);
    seen->keys[seen->n][key_len] = '\0';
  }
  seen->n++;
}

static void TestTypesAndChanges(zcipc_dict* d) {
  const uint64_t start = zcipc_change_seq(d);
  CHECK_OK(zcipc_put_typed(d, "tt", 2, "text", 4, ZCIPC_TYPE_TEXT));
  char buf[16];
  size_t len = 0;
  int type = -1;
  CHECK_OK(zcipc_get_typed(d, "tt", 2, buf, sizeof buf, &len, &type));
  CHECK(len == 4 && memcmp(buf, "text", 4) == 0 && type == ZCIPC_TYPE_TEXT);
  int64_t n = 0;
  CHECK_OK(zcipc_add(d, "tn", 2, 3, &n));
  CHECK_OK(zcipc_get_typed(d, "tn", 2, buf, sizeof buf, &len, &type));
  CHECK(len == 8 && type == ZCIPC_TYPE_INT64);
  CHECK_OK(zcipc_put(d, "tt", 2, "b", 1));
  CHECK_OK(zcipc_get_typed(d, "tt", 2, buf, sizeof buf, &len, NULL));
  CHECK_OK(zcipc_get_typed(d, "tt", 2, buf, sizeof buf, &len, &type));
  CHECK(type == ZCIPC_TYPE_BYTES);
  CHECK_FAILS(zcipc_put_typed(d, "tt", 2, "x", 1, 256), ZCIPC_INVALID_ARGUMENT);
  len = 0;
  CHECK_FAILS(zcipc_get_typed(d, "tt", 2, buf, 0, &len, &type),
              ZCIPC_OUT_OF_RANGE);
  CHECK(len == 1);
  CHECK_FAILS(zcipc_get_typed(d, "tt", 2, NULL, 4, &len, &type),
              ZCIPC_INVALID_ARGUMENT);
  CHECK_OK(zcipc_erase(d, "tt", 2));
  CHECK(zcipc_change_seq(d) == start + 4);

  uint64_t seq = 0;
  CHECK_OK(zcipc_wait_for_change(d, start, 0, &seq));
  CHECK(seq == start + 4);
  CHECK_FAILS(zcipc_wait_for_change(d, seq, 1, &seq), ZCIPC_DEADLINE_EXCEEDED);
  CHECK_FAILS(zcipc_wait_for_change(d, seq, -1, &seq), ZCIPC_INVALID_ARGUMENT);

  struct Seen seen;
  memset(&seen, 0, sizeof seen);
  uint64_t last = 0;
  CHECK_OK(zcipc_read_changes(d, start, OnChange, &seen, &last));
  CHECK(last == start + 4 && seen.n == 4);
  CHECK(seen.seqs[0] == start + 1 && strcmp(seen.keys[0], "tt") == 0 &&
        seen.kinds[0] == ZCIPC_CHANGE_PUT);
  CHECK(strcmp(seen.keys[1], "tn") == 0);
  CHECK(seen.seqs[3] == start + 4 && strcmp(seen.keys[3], "tt") == 0 &&
        seen.kinds[3] == ZCIPC_CHANGE_ERASE);
  CHECK_FAILS(zcipc_read_changes(d, start, NULL, NULL, &last),
              ZCIPC_INVALID_ARGUMENT);
}

static void TestOptionsEx(void) {
  zcipc_options_ex o;
  memset(&o, 0xff, sizeof o);
  zcipc_options_ex_init(&o);
  CHECK(o.max_items == 10000);
  CHECK(o.heap_size == 100ull << 20);
  CHECK(o.lock_timeout_ms == 10000);
  CHECK(o.max_segment_size == 0);
  CHECK(o.auto_grow == 1);
  zcipc_options_ex_init(NULL); /* does nothing, does not crash */

  zcipc_dict* d = (zcipc_dict*)&d;
  CHECK_FAILS(zcipc_create_ex(NULL, &o, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(d == NULL);
  CHECK_FAILS(zcipc_create_ex(name_a, &o, NULL), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_attach_ex(NULL, NULL, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK_FAILS(zcipc_open_or_create_ex(name_a, NULL, NULL),
              ZCIPC_INVALID_ARGUMENT);
  zcipc_options_ex bad = o;
  bad.lock_timeout_ms = -1;
  CHECK_FAILS(zcipc_create_ex(name_a, &bad, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_BAD_OPTIONS);
  bad = o;
  bad.max_items = 0;
  CHECK_FAILS(zcipc_create_ex(name_a, &bad, &d), ZCIPC_INVALID_ARGUMENT);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_BAD_OPTIONS);
  CHECK_FAILS(zcipc_attach_ex(name_a, &o, &d), ZCIPC_NOT_FOUND);
  CHECK(d == NULL);

  /* NULL options: the defaults. */
  CHECK_OK(zcipc_open_or_create_ex(name_a, NULL, &d));
  CHECK(d != NULL);
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
  CHECK_FAILS(zcipc_reserve(NULL, 10, 10), ZCIPC_INVALID_ARGUMENT);
}

/* A dict opened with the defaults grows when full (auto_grow). */
static void TestAutoGrow(void) {
  zcipc_options o;
  zcipc_options_init(&o);
  o.max_items = 2;
  o.heap_size = 4096;
  zcipc_dict* d = NULL;
  CHECK_OK(zcipc_create(name_a, &o, &d));
  if (d == NULL) return;
  static char value[200];
  char key[16];
  enum { kKeys = 200 }; /* far past 2 items and the 4 KiB heap */
  int rc = ZCIPC_OK;    /* the first failure stops the loop */
  for (int i = 0; rc == ZCIPC_OK && i < kKeys; ++i) {
    snprintf(key, sizeof key, "g%d", i);
    memset(value, 'a' + i % 26, sizeof value);
    rc = zcipc_put(d, key, strlen(key), value, sizeof value);
  }
  CHECK(rc == ZCIPC_OK);
  CHECK(zcipc_size(d) == kKeys);
  /* Another handle (one that would not grow it) reads every entry. */
  zcipc_options_ex fixed;
  zcipc_options_ex_init(&fixed);
  fixed.auto_grow = 0;
  zcipc_dict* f = NULL;
  CHECK_OK(zcipc_attach_ex(name_a, &fixed, &f));
  char got[sizeof value];
  size_t len = 0;
  int same = 0;
  for (int i = 0; f != NULL && i < kKeys; ++i) {
    snprintf(key, sizeof key, "g%d", i);
    memset(value, 'a' + i % 26, sizeof value);
    same += zcipc_get(f, key, strlen(key), got, sizeof got, &len) == ZCIPC_OK &&
            len == sizeof value && memcmp(got, value, len) == 0;
  }
  CHECK(same == kKeys);
  zcipc_close(f);
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
}

/* zcipc_reserve on a handle that does not grow by itself: the room it
 * makes is there, 0 keeps a figure, and it never shrinks. */
static void TestReserve(void) {
  zcipc_options_ex o;
  zcipc_options_ex_init(&o);
  o.max_items = 2;
  o.heap_size = 4096;
  o.auto_grow = 0;
  zcipc_dict* d = NULL;
  CHECK_OK(zcipc_create_ex(name_a, &o, &d));
  if (d == NULL) return;
  CHECK_OK(zcipc_put(d, "a", 1, "1", 1));
  CHECK_OK(zcipc_put(d, "b", 1, "2", 1));
  CHECK_FAILS(zcipc_put(d, "c", 1, "3", 1), ZCIPC_RESOURCE_EXHAUSTED);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_TABLE_FULL);

  CHECK_OK(zcipc_reserve(d, 1000, 0)); /* the heap as it is */
  char key[16];
  int rc = ZCIPC_OK; /* the first failure stops the loop */
  for (int i = 0; rc == ZCIPC_OK && i < 20; ++i) {
    snprintf(key, sizeof key, "r%d", i);
    rc = zcipc_put(d, key, strlen(key), "v", 1);
  }
  CHECK(rc == ZCIPC_OK);
  static char value[8192];
  CHECK_FAILS(zcipc_put(d, "big", 3, value, sizeof value),
              ZCIPC_RESOURCE_EXHAUSTED);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_HEAP_FULL);

  CHECK_OK(zcipc_reserve(d, 0, 1 << 20)); /* the items as they are */
  CHECK_OK(zcipc_put(d, "big", 3, value, sizeof value));
  CHECK_OK(zcipc_reserve(d, 1, 4096)); /* never shrinks */
  CHECK_OK(zcipc_reserve(d, 0, 0));
  size_t len = 0;
  CHECK(zcipc_get(d, "big", 3, NULL, 0, &len) == ZCIPC_OUT_OF_RANGE);
  CHECK(len == sizeof value);
  CHECK(zcipc_size(d) == 23);

  /* Past the dict's max_segment_size: nothing changes. */
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
  o.max_segment_size = 4u << 20;
  o.heap_size = 1 << 20;
  CHECK_OK(zcipc_create_ex(name_a, &o, &d));
  if (d == NULL) return;
  CHECK_FAILS(zcipc_reserve(d, 0, 64u << 20), ZCIPC_RESOURCE_EXHAUSTED);
  CHECK(strstr(zcipc_last_error(), name_a) != NULL);
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
}

/* 100,000 changes overrun the default 1 MiB log: the loss is reported. */
static void TestChangesLost(void) {
  zcipc_dict* d = NULL;
  CHECK_OK(zcipc_create(name_a, NULL, &d));
  if (d == NULL) return;
  char key[8];
  for (int i = 0; i < 100000; ++i) {
    snprintf(key, sizeof key, "k%d", i % 100);
    CHECK_OK(zcipc_put(d, key, strlen(key), "v", 1));
  }
  struct Seen seen;
  memset(&seen, 0, sizeof seen);
  uint64_t last = 7;
  CHECK_FAILS(zcipc_read_changes(d, 0, OnChange, &seen, &last),
              ZCIPC_OUT_OF_RANGE);
  CHECK(zcipc_last_error_kind() == ZCIPC_KIND_CHANGES_LOST);
  CHECK(last == 7 && seen.n == 0);
  CHECK_OK(
      zcipc_read_changes(d, zcipc_change_seq(d) - 2, OnChange, &seen, &last));
  CHECK(seen.n == 2 && last == zcipc_change_seq(d));
  zcipc_close(d);
  CHECK_OK(zcipc_unlink(name_a));
}

int main(void) {
  snprintf(name_a, sizeof name_a, "capi-test-a-%ld", (long)getpid());
  snprintf(name_b, sizeof name_b, "capi-test-b-%ld", (long)getpid());
  zcipc_unlink(name_a);
  zcipc_unlink(name_b);

  TestOptions();
  TestOpenErrors();
  TestLifecycle();
  zcipc_options o;
  zcipc_options_init(&o);
  o.max_items = 64;
  o.heap_size = 1 << 20;
  zcipc_dict* d = NULL;
  CHECK_OK(zcipc_create(name_b, &o, &d));
  if (d != NULL) {
    TestData(d);
    TestForEach(d);
    TestTypesAndChanges(d);
    zcipc_close(d);
  }
  CHECK_OK(zcipc_unlink(name_b));
  TestFull();
  TestOptionsEx();
  TestAutoGrow();
  TestReserve();
  TestChangesLost();
  TestThreadLocalError();
  TestThreadsShareAHandle();

  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("capi_test: all checks passed\n");
  return 0;
}
