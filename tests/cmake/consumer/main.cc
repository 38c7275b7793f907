// A consumer of the installed zcipc C++ API: creates the dict named by
// argv[1], puts, gets, counts, unlinks. Exit 0 on success.

#include <cstdio>
#include <string>

#include "zcipc/zero_copy_dict.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer NAME\n");
    return 2;
  }
  const std::string name = argv[1];
  zcipc::Options options;
  options.max_items = 100;
  options.heap_size = 1 << 20;
  absl::StatusOr<zcipc::ZeroCopyDict> dict =
      zcipc::ZeroCopyDict::Create(name, options);
  if (!dict.ok()) {
    std::fprintf(stderr, "%s\n", dict.status().ToString().c_str());
    return 1;
  }
  absl::Status s = dict->Put("greeting", "hello from C++");
  std::string value;
  if (s.ok()) s = dict->Get("greeting", &value);
  absl::StatusOr<int64_t> n = dict->Add("count", 2);
  if (s.ok()) s = n.status();
  if (s.ok()) s = zcipc::ZeroCopyDict::Unlink(name);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  if (value != "hello from C++" || *n != 2 || dict->Size() != 2) {
    std::fprintf(stderr, "consumer: unexpected value '%s'\n", value.c_str());
    return 1;
  }
  std::printf("consumer (C++): %s\n", value.c_str());
  return 0;
}
