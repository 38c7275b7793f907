// A fixed amount of work on each hot path, for instruction counts under
// valgrind --tool=callgrind (bench/callgrind.sh). Not timed: callgrind
// counts the instructions each path executes, which unlike wall-clock time
// does not move with the load of the machine.
//
//   hotpath_probe --op=get|read|put|write100|floor|floor_fill|flock|none
//   --keys=10000
//                 --value_size=100 --iters=100000
//
// Every op first fills a dict of `keys` keys (the "none" op only fills), so
// the count of an op is (count(op) - count(none)) / iters; the floor (an
// absl::flat_hash_map find and copy) is (count(floor) - count(floor_fill))
// / iters.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "zcipc/zero_copy_dict.h"

namespace {

const char* Flag(int argc, char** argv, const char* name, const char* def) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
        argv[i][2 + n] == '=') {
      return argv[i] + 3 + n;
    }
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  std::string op = Flag(argc, argv, "op", "get");
  const int64_t keys = atoll(Flag(argc, argv, "keys", "10000"));
  const int64_t size = atoll(Flag(argc, argv, "value_size", "100"));
  const int64_t iters = atoll(Flag(argc, argv, "iters", "100000"));

  std::string name = absl::StrCat("probe-", getpid());
  zcipc::Options o;
  o.max_items = keys + 1000;
  o.heap_size = (keys + 1000) * (size + 64) + (16 << 20);
  absl::StatusOr<zcipc::ZeroCopyDict> d = zcipc::ZeroCopyDict::Create(name, o);
  if (!d.ok()) {
    fprintf(stderr, "%s\n", d.status().ToString().c_str());
    return 1;
  }
  (void)zcipc::ZeroCopyDict::Unlink(name);  // the mapping lives on
  std::vector<std::string> names;
  std::string value(size, 'v');
  for (int64_t i = 0; i < keys; ++i) {
    names.push_back(absl::StrFormat("key:%08d", i));
    if (!d->Put(names.back(), value).ok()) return 1;
  }
  std::mt19937 rng(12345);
  std::vector<uint32_t> seq(1 << 16);
  for (auto& s : seq) s = rng() % keys;

  std::string out;
  uint64_t sum = 0;
  if (op == "get") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Get(names[seq[n & 0xffff]], &out).ok()) return 2;
      sum += out.size();
    }
  } else if (op == "read") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Read(names[seq[n & 0xffff]], [&](absl::string_view v) {
              sum += v.size();
            }).ok()) {
        return 2;
      }
    }
  } else if (op == "put") {
    for (int64_t n = 0; n < iters; ++n) {
      if (!d->Put(names[seq[n & 0xffff]], value).ok()) return 2;
    }
  } else if (op == "write100") {
    for (int64_t n = 0; n < iters; n += 100) {
      absl::Status s = d->Write([&](zcipc::Batch& b) -> absl::Status {
        for (int64_t j = n; j < n + 100; ++j) {
          absl::Status st = b.Put(names[seq[j & 0xffff]], value);
          if (!st.ok()) return st;
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return 2;
    }
  } else if (op == "floor") {
    // The in-process floor of the comparison: flat_hash_map find + copy.
    absl::flat_hash_map<std::string, std::string> map;
    for (int64_t i = 0; i < keys; ++i) map[names[i]] = value;
    for (int64_t n = 0; n < iters; ++n) {
      out.assign(map.find(names[seq[n & 0xffff]])->second);
      sum += out.size();
    }
  } else if (op == "floor_fill") {
    absl::flat_hash_map<std::string, std::string> map;
    for (int64_t i = 0; i < keys; ++i) map[names[i]] = value;
  } else if (op == "flock") {
    std::string path = absl::StrCat("/dev/shm/zcipc-probe-flock-", getpid());
    int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
    unlink(path.c_str());
    for (int64_t n = 0; n < iters; ++n) {
      flock(fd, LOCK_EX);
      flock(fd, LOCK_UN);
    }
    close(fd);
  } else if (op != "none") {
    fprintf(stderr, "unknown --op=%s\n", op.c_str());
    return 1;
  }
  printf("%s keys=%lld size=%lld iters=%lld sum=%llu\n", op.c_str(),
         static_cast<long long>(keys), static_cast<long long>(size),
         static_cast<long long>(iters), static_cast<unsigned long long>(sum));
  return 0;
}
