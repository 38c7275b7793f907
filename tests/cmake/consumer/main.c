/* A consumer of the installed zcipc C API (zcipc/zcipc.h): creates the dict
 * named by argv[1], puts, gets, unlinks. Exit 0 on success. */

#include <stdio.h>
#include <string.h>

#include "zcipc/zcipc.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: consumer_c NAME\n");
    return 2;
  }
  zcipc_options options;
  zcipc_options_init(&options);
  options.max_items = 100;
  options.heap_size = 1 << 20;
  zcipc_dict* dict = NULL;
  if (zcipc_create(argv[1], &options, &dict) != ZCIPC_OK) {
    fprintf(stderr, "%s\n", zcipc_last_error());
    return 1;
  }
  const char value[] = "hello from C";
  char buf[64];
  size_t len = 0;
  int ok = zcipc_put(dict, "greeting", 8, value, strlen(value)) == ZCIPC_OK &&
           zcipc_get(dict, "greeting", 8, buf, sizeof buf, &len) == ZCIPC_OK &&
           zcipc_unlink(argv[1]) == ZCIPC_OK;
  if (!ok) fprintf(stderr, "%s\n", zcipc_last_error());
  zcipc_close(dict);
  if (!ok || len != strlen(value) || memcmp(buf, value, len) != 0) return 1;
  printf("consumer (C): %.*s\n", (int)len, buf);
  return 0;
}
