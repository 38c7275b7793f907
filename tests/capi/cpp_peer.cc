// The C++ side of tests/capi/ctypes_test.py: a separate process on the C++
// API (zcipc/zero_copy_dict.h) beside the Python process on the C API.
//
//   cpp_peer write NAME N        attaches NAME and, for i = 1..N, puts
//                                "latest" = decimal i, "entry-<i % 64>" =
//                                "value-<i>", and adds 1 to "counter" and to
//                                "shared-counter"; then puts "writer-done".
//   cpp_peer expect NAME KEY HEX [KEY HEX]...
//                                exit 0 if each KEY's value is the bytes HEX
//                                (lower-case hex; "-" for: absent).
// Any failure prints its status and exits 1.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "zcipc/zero_copy_dict.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "cpp_peer: %s\n", status.ToString().c_str());
  return 1;
}

int Write(zcipc::ZeroCopyDict& dict, int64_t n) {
  for (int64_t i = 1; i <= n; ++i) {
    absl::Status s = dict.Put("latest", absl::StrCat(i));
    if (s.ok())
      s = dict.Put(absl::StrCat("entry-", i % 64), absl::StrCat("value-", i));
    if (s.ok()) s = dict.Add("counter", 1).status();
    if (s.ok()) s = dict.Add("shared-counter", 1).status();
    if (!s.ok()) return Fail(s);
  }
  absl::Status s = dict.Put("writer-done", "1");
  return s.ok() ? 0 : Fail(s);
}

int Expect(const zcipc::ZeroCopyDict& dict, int argc, char** argv) {
  int mismatches = 0;
  for (int i = 0; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string want_hex = argv[i + 1];
    std::string value;
    absl::Status s = dict.Get(key, &value);
    if (want_hex == "-") {
      if (!absl::IsNotFound(s)) {
        std::fprintf(stderr, "cpp_peer: key '%s' should be absent: %s\n",
                     key.c_str(), s.ToString().c_str());
        ++mismatches;
      }
      continue;
    }
    if (!s.ok()) return Fail(s);
    if (absl::BytesToHexString(value) != want_hex) {
      std::fprintf(stderr, "cpp_peer: key '%s' is %s, expected %s\n",
                   key.c_str(), absl::BytesToHexString(value).c_str(),
                   want_hex.c_str());
      ++mismatches;
    }
  }
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cpp_peer write|expect NAME ...\n");
    return 2;
  }
  const std::string mode = argv[1];
  absl::StatusOr<zcipc::ZeroCopyDict> dict =
      zcipc::ZeroCopyDict::Attach(argv[2]);
  if (!dict.ok()) return Fail(dict.status());
  if (mode == "write" && argc == 4) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(argv[3], &n)) return 2;
    return Write(*dict, n);
  }
  if (mode == "expect" && argc % 2 == 1) {
    return Expect(*dict, argc - 3, argv + 3);
  }
  std::fprintf(stderr, "cpp_peer: bad arguments\n");
  return 2;
}
