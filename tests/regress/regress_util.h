// Helpers shared by the regression tests of tests/regress/ (one test per item
// of docs/KNOWN-FAILURES.md). They add to tests/test_util.h what several of
// those tests need: the documented entry cost, deterministic pattern bytes,
// and a byte-for-byte check of a dict against a model that also proves no
// two values overlap in the segment.

#ifndef ZCIPC_TESTS_REGRESS_REGRESS_UTIL_H_
#define ZCIPC_TESTS_REGRESS_REGRESS_UTIL_H_

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc_regress {

using ::zcipc_test::ToString;

// Read() hands its function the value in place, so the view's address is
// the value's place in the segment. Under ThreadSanitizer the engine hands a
// private copy instead (engine/dict/zero_copy_dict.cc) and addresses say
// nothing.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kReadIsZeroCopy = false;
#else
inline constexpr bool kReadIsZeroCopy = true;
#endif

inline zcipc::Options MakeOptions(uint64_t max_items, uint64_t heap_size) {
  zcipc::Options options;
  options.max_items = max_items;
  options.heap_size = heap_size;
  return options;
}

// MakeOptions for a dict that never grows (Options::auto_grow = false): a
// write that finds its table or heap full is ResourceExhausted (kTableFull,
// kHeapFull), the behaviour the tests of a full dict are about.
inline zcipc::Options MakeFixedOptions(uint64_t max_items, uint64_t heap_size) {
  zcipc::Options options = MakeOptions(max_items, heap_size);
  options.auto_grow = false;
  return options;
}

// The documented heap cost of one entry (Options::heap_size): 24 header
// bytes + the key and the value each padded to 8, rounded up to 16, at
// least 32.
inline uint64_t EntryCost(size_t key_size, size_t value_size) {
  const uint64_t padded_key = (key_size + 7) / 8 * 8;
  const uint64_t padded_value = (value_size + 7) / 8 * 8;
  return std::max<uint64_t>(32,
                            (24 + padded_key + padded_value + 15) / 16 * 16);
}

// Deterministic bytes, different for every seed, covering all 256 values:
// a value overwritten by another key's bytes is told apart.
inline std::string PatternBytes(size_t size, uint64_t seed) {
  std::string s(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[i] = static_cast<char>(x & 0xff);
  }
  return s;
}

// Memory shared with forked children (tools/proc/proc.h).
using ::zcipc_test::SharedArray;

using ::zcipc_test::PipeSignal;

// stat() of the segment file; false if it does not exist.
inline bool StatSegment(absl::string_view name, struct stat* st) {
  return stat(zcipc_test::SegmentPath(name).c_str(), st) == 0;
}

// The dict holds exactly `model`, byte for byte, through Get, Read and
// ForEach; Size() agrees; and (where Read is zero-copy) no two values
// overlap in the segment, so no value can have overrun into another's block.
inline ::testing::AssertionResult MatchesModelAndDisjoint(
    const zcipc::ZeroCopyDict& dict,
    const std::map<std::string, std::string>& model) {
  if (dict.Size() != model.size()) {
    return ::testing::AssertionFailure()
           << "Size() is " << dict.Size() << ", model has " << model.size();
  }
  std::vector<std::pair<uintptr_t, std::string>> extents;  // start, key
  std::map<uintptr_t, size_t> lengths;
  for (const auto& [key, expected] : model) {
    std::string got;
    absl::Status s = dict.Get(key, &got);
    if (!s.ok()) {
      return ::testing::AssertionFailure() << "Get(" << key << "): " << s;
    }
    if (got != expected) {
      size_t i = 0;
      while (i < got.size() && i < expected.size() && got[i] == expected[i]) {
        ++i;
      }
      return ::testing::AssertionFailure()
             << "value of " << key << " differs at byte " << i << " (size "
             << got.size() << ", expected " << expected.size() << ")";
    }
    uintptr_t start = 0;
    size_t length = 0;
    s = dict.Read(key, [&](absl::string_view v) {
      start = reinterpret_cast<uintptr_t>(v.data());
      length = v.size();
    });
    if (!s.ok() || length != expected.size()) {
      return ::testing::AssertionFailure()
             << "Read(" << key << "): " << s << ", " << length << " bytes";
    }
    if (length > 0) {
      extents.emplace_back(start, key);
      lengths[start] = length;
    }
  }
  if (kReadIsZeroCopy) {
    std::sort(extents.begin(), extents.end());
    for (size_t i = 1; i < extents.size(); ++i) {
      const uintptr_t prev_end =
          extents[i - 1].first + lengths[extents[i - 1].first];
      if (prev_end > extents[i].first) {
        return ::testing::AssertionFailure()
               << "the values of " << extents[i - 1].second << " and "
               << extents[i].second << " overlap in the segment";
      }
    }
  }
  std::map<std::string, std::string> seen;
  size_t visits = 0;
  absl::Status s = dict.ForEach([&](absl::string_view k, absl::string_view v) {
    ++visits;
    seen[ToString(k)] = ToString(v);
  });
  if (!s.ok()) return ::testing::AssertionFailure() << "ForEach: " << s;
  if (visits != model.size() || seen != model) {
    return ::testing::AssertionFailure()
           << "ForEach visited " << visits << " pairs that differ from the "
           << model.size() << "-entry model";
  }
  return ::testing::AssertionSuccess();
}

// Every field of two allocator snapshots is equal (both exact).
inline ::testing::AssertionResult SameAllocatorState(
    const zcipc::AllocatorStats& a, const zcipc::AllocatorStats& b) {
  if (!a.exact || !b.exact) {
    return ::testing::AssertionFailure() << "a snapshot is not exact";
  }
  if (a.heap_size != b.heap_size || a.used_blocks != b.used_blocks ||
      a.used_bytes != b.used_bytes || a.free_blocks != b.free_blocks ||
      a.free_bytes != b.free_bytes ||
      a.largest_free_block != b.largest_free_block ||
      a.size_classes.size() != b.size_classes.size()) {
    return ::testing::AssertionFailure()
           << "allocator changed: used " << a.used_blocks << " blocks/"
           << a.used_bytes << " B -> " << b.used_blocks << "/" << b.used_bytes
           << ", free " << a.free_blocks << "/" << a.free_bytes << " -> "
           << b.free_blocks << "/" << b.free_bytes << ", largest "
           << a.largest_free_block << " -> " << b.largest_free_block;
  }
  for (size_t i = 0; i < a.size_classes.size(); ++i) {
    const zcipc::SizeClassStats& x = a.size_classes[i];
    const zcipc::SizeClassStats& y = b.size_classes[i];
    if (x.min_block_size != y.min_block_size ||
        x.max_block_size != y.max_block_size ||
        x.free_blocks != y.free_blocks || x.free_bytes != y.free_bytes) {
      return ::testing::AssertionFailure()
             << "size class " << x.min_block_size << ".." << x.max_block_size
             << " changed: " << x.free_blocks << " blocks/" << x.free_bytes
             << " B -> " << y.free_blocks << "/" << y.free_bytes;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace zcipc_regress

#endif  // ZCIPC_TESTS_REGRESS_REGRESS_UTIL_H_
