// The relaxed shared-memory copies (engine/layout/relaxed.h) at every length
// around the word size: exact bytes, zeroed padding on the shared side, and
// no access outside the private buffer (each private buffer is a heap
// allocation of exactly n bytes, so ASan reports any overrun).

#include "engine/layout/relaxed.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace zcipc {
namespace relaxed {
namespace {

constexpr size_t kMaxLen = 80;

// An 8-aligned shared area with room for the padding, filled with a marker.
struct Shared {
  alignas(8) char bytes[kMaxLen + 16];
  Shared() { memset(bytes, 0xA5, sizeof(bytes)); }
};

std::unique_ptr<char[]> Private(size_t n, int seed) {
  std::unique_ptr<char[]> p(new char[n == 0 ? 1 : n]);
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<char>(seed * 31 + i * 7 + 1);
  return p;
}

TEST(RelaxedTest, CopyToSharedWritesBytesAndZeroesPadding) {
  for (size_t n = 0; n <= kMaxLen; ++n) {
    SCOPED_TRACE(n);
    Shared s;
    std::unique_ptr<char[]> src = Private(n, 1);
    CopyToShared(s.bytes, src.get(), n);
    EXPECT_EQ(0, memcmp(s.bytes, src.get(), n));
    size_t padded = (n + 7) & ~size_t{7};
    for (size_t i = n; i < padded; ++i) EXPECT_EQ(0, s.bytes[i]) << i;
    for (size_t i = padded; i < sizeof(s.bytes); ++i) {
      EXPECT_EQ(static_cast<char>(0xA5), s.bytes[i]) << i;
    }
  }
}

TEST(RelaxedTest, CopyFromSharedCopiesExactlyNBytes) {
  for (size_t n = 0; n <= kMaxLen; ++n) {
    SCOPED_TRACE(n);
    Shared s;
    std::unique_ptr<char[]> src = Private(n, 2);
    CopyToShared(s.bytes, src.get(), n);
    std::unique_ptr<char[]> dst(new char[n == 0 ? 1 : n]);
    memset(dst.get(), 0x5A, n);
    CopyFromShared(dst.get(), s.bytes, n);
    EXPECT_EQ(0, memcmp(dst.get(), src.get(), n));
  }
}

TEST(RelaxedTest, CopyFromSharedIntoAString) {
  for (size_t n = 0; n <= kMaxLen; ++n) {
    Shared s;
    std::unique_ptr<char[]> src = Private(n, 3);
    CopyToShared(s.bytes, src.get(), n);
    std::string out(n, '\0');
    CopyFromShared(&out[0], s.bytes, n);
    EXPECT_EQ(std::string(src.get(), n), out) << n;
  }
}

TEST(RelaxedTest, EqualsSharedFindsEveryDifference) {
  for (size_t n = 0; n <= kMaxLen; ++n) {
    SCOPED_TRACE(n);
    Shared s;
    std::unique_ptr<char[]> src = Private(n, 4);
    CopyToShared(s.bytes, src.get(), n);
    EXPECT_TRUE(EqualsShared(s.bytes, src.get(), n));
    for (size_t i = 0; i < n; ++i) {
      std::unique_ptr<char[]> other = Private(n, 4);
      other[i] = static_cast<char>(other[i] ^ 0x10);
      EXPECT_FALSE(EqualsShared(s.bytes, other.get(), n)) << i;
    }
    // Bytes past n on the shared side (padding, or a longer key's tail)
    // do not matter.
    if (n % 8 != 0) {
      s.bytes[n] = 'x';
      EXPECT_TRUE(EqualsShared(s.bytes, src.get(), n));
    }
  }
}

TEST(RelaxedTest, SmallWordAndTailWord) {
  for (size_t n = 0; n < 8; ++n) {
    std::unique_ptr<char[]> p = Private(n, 5);
    uint64_t want = 0;
    memcpy(&want, p.get(), n);
    EXPECT_EQ(want, SmallWord(p.get(), n)) << n;
  }
  for (size_t n = 9; n <= 24; ++n) {
    std::unique_ptr<char[]> p = Private(n, 6);
    size_t i = n & ~size_t{7};
    if (i == n) continue;
    uint64_t want = 0;
    memcpy(&want, p.get() + i, n - i);
    EXPECT_EQ(want, TailWord(p.get(), n, i)) << n;
  }
}

}  // namespace
}  // namespace relaxed
}  // namespace zcipc
