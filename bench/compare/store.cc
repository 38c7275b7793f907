#include "bench/compare/store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace zcipc {
namespace bench {

std::vector<Region> MappingsOfFile(const std::string& path) {
  std::vector<Region> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset dev inode pathname
    size_t slash = line.find('/');
    if (slash == std::string::npos || line.compare(slash, std::string::npos, path) != 0) continue;
    uintptr_t start = 0, end = 0;
    char dash;
    std::istringstream in(line);
    in >> std::hex >> start >> dash >> end;
    if (in && end > start) out.push_back({reinterpret_cast<void*>(start), end - start});
  }
  return out;
}

void Prefault(const std::vector<Region>& regions, bool write) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (const Region& r : regions) {
    uintptr_t start = reinterpret_cast<uintptr_t>(r.addr) & ~(page - 1);
    uintptr_t end = reinterpret_cast<uintptr_t>(r.addr) + r.len;
    if (end <= start) continue;
    void* p = reinterpret_cast<void*>(start);
    size_t len = end - start;
    if (madvise(p, len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0) continue;
    if (write && madvise(p, len, MADV_POPULATE_READ) == 0) continue;
    if (errno != EINVAL) continue;  // not mapped as expected: leave it alone
    // An older kernel: read one byte per page.
    uint64_t sum = 0;
    for (uintptr_t a = start; a < end; a += page) {
      sum += *reinterpret_cast<volatile const unsigned char*>(a);
    }
    if (sum == 1) fprintf(stderr, " ");
  }
}

absl::Status Store::Read(absl::string_view key,
                         absl::FunctionRef<void(absl::string_view)> fn) {
  absl::Status s = Get(key, &read_buffer_);
  if (s.ok()) fn(read_buffer_);
  return s;
}

}  // namespace bench
}  // namespace zcipc
