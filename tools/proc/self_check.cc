#include "tools/proc/self_check.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zcipc_proc {

namespace {

constexpr size_t kChecksumDigits = 16;

char PaddingChar(uint64_t generation, size_t i) {
  return static_cast<char>('a' + (generation + i) % 26);
}

}  // namespace

uint64_t Fnv1a(absl::string_view data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

size_t MinValueSize(absl::string_view key, uint64_t generation) {
  // key | generation | (no padding) | checksum
  return key.size() + 1 + absl::StrCat(generation).size() + 2 + kChecksumDigits;
}

std::string MakeValue(absl::string_view key, uint64_t generation, size_t size) {
  const size_t min_size = MinValueSize(key, generation);
  const size_t padding = size > min_size ? size - min_size : 0;
  std::string value = absl::StrCat(key, "|", generation, "|");
  value.reserve(min_size + padding);
  for (size_t i = 0; i < padding; ++i) {
    value.push_back(PaddingChar(generation, i));
  }
  value.push_back('|');
  absl::StrAppend(&value, absl::StrFormat("%016x", Fnv1a(value)));
  return value;
}

bool ParseValue(absl::string_view key, absl::string_view value,
                uint64_t* generation) {
  if (value.size() < key.size() + 1 + kChecksumDigits ||
      value.substr(0, key.size()) != key || value[key.size()] != '|') {
    return false;
  }
  const absl::string_view body =
      value.substr(0, value.size() - kChecksumDigits);
  if (absl::StrFormat("%016x", Fnv1a(body)) !=
      value.substr(value.size() - kChecksumDigits)) {
    return false;
  }
  // body = key|generation|padding|
  absl::string_view rest = body.substr(key.size() + 1);
  const size_t bar = rest.find('|');
  if (bar == absl::string_view::npos || bar == 0 || rest.back() != '|') {
    return false;
  }
  uint64_t gen = 0;
  if (!absl::SimpleAtoi(rest.substr(0, bar), &gen) ||
      absl::StrCat(gen) != rest.substr(0, bar)) {
    return false;
  }
  const absl::string_view padding = rest.substr(bar + 1, rest.size() - bar - 2);
  for (size_t i = 0; i < padding.size(); ++i) {
    if (padding[i] != PaddingChar(gen, i)) return false;
  }
  if (generation != nullptr) *generation = gen;
  return true;
}

}  // namespace zcipc_proc
