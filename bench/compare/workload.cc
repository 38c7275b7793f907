#include "bench/compare/workload.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/strings/str_format.h"
#include "xxhash.h"

namespace zcipc {
namespace bench {

namespace {

uint64_t Mix(uint32_t key, uint32_t generation) {
  // splitmix64 of the pair.
  uint64_t z = (static_cast<uint64_t>(key) << 32 | generation) +
               0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::string Key(uint64_t i) { return absl::StrFormat(kKeyFormat, i); }

ValuePool::ValuePool(size_t size)
    : size_(std::max(size, kMinValueSize)),
      buffers_(kPayloads),
      payload_hash_(kPayloads) {
  std::mt19937_64 rng(0x5eed);
  for (int j = 0; j < kPayloads; ++j) {
    std::string& b = buffers_[j];
    b.assign(size_, '\0');
    for (size_t i = 8; i < size_ - 8; ++i) {
      b[i] = static_cast<char>('a' + rng() % 26);
    }
    payload_hash_[j] = XXH3_64bits(b.data() + 8, size_ - 16);
  }
}

absl::string_view ValuePool::Make(uint32_t key, uint32_t generation) {
  int j = generation % kPayloads;
  std::string& b = buffers_[j];
  char* p = &b[0];
  memcpy(p, &key, 4);
  memcpy(p + 4, &generation, 4);
  uint64_t check = payload_hash_[j] ^ Mix(key, generation);
  memcpy(p + size_ - 8, &check, 8);
  return b;
}

bool CheckValue(uint32_t key, absl::string_view value) {
  if (value.size() < kMinValueSize) return false;
  uint32_t k, generation;
  uint64_t check;
  memcpy(&k, value.data(), 4);
  memcpy(&generation, value.data() + 4, 4);
  memcpy(&check, value.data() + value.size() - 8, 8);
  if (k != key) return false;
  return (XXH3_64bits(value.data() + 8, value.size() - 16) ^
          Mix(key, generation)) == check;
}

std::vector<uint32_t> RandomSequence(uint64_t keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> dist(0, keys - 1);
  std::vector<uint32_t> seq(kSequenceLength);
  for (auto& s : seq) s = static_cast<uint32_t>(dist(rng));
  return seq;
}

std::vector<uint32_t> Permutation(uint64_t keys, uint64_t seed) {
  std::vector<uint32_t> p(keys);
  for (uint64_t i = 0; i < keys; ++i) p[i] = static_cast<uint32_t>(i);
  std::mt19937_64 rng(seed);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

Percentiles ComputePercentiles(std::vector<uint32_t>* samples) {
  Percentiles p;
  p.samples = samples->size();
  if (samples->empty()) return p;
  std::sort(samples->begin(), samples->end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(samples->size()));
    if (i >= samples->size()) i = samples->size() - 1;
    return static_cast<double>((*samples)[i]);
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(samples->back());
  return p;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace bench
}  // namespace zcipc
