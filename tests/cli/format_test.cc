// Unit tests of the zcipc tool's text helpers (tools/zcipc/format.h).

#include "tools/zcipc/format.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace zcipc {
namespace cli {
namespace {

TEST(ParseByteSize, UnitsAsDdReadsThem) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("4096B"), 4096u);
  EXPECT_EQ(*ParseByteSize("64KiB"), 64u << 10);
  EXPECT_EQ(*ParseByteSize("64k"), 64u << 10);
  EXPECT_EQ(*ParseByteSize("64KB"), 64000u);
  EXPECT_EQ(*ParseByteSize("64MiB"), 64u << 20);
  EXPECT_EQ(*ParseByteSize("64 mib"), 64u << 20);
  EXPECT_EQ(*ParseByteSize("2G"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), 3ull << 29);
  EXPECT_EQ(*ParseByteSize("1TB"), 1000000000000ull);
  EXPECT_EQ(*ParseByteSize(" 7 "), 7u);
}

TEST(ParseByteSize, RejectsGarbage) {
  for (const char* bad : {"", "MiB", "-1", "1.2.3MiB", "12XB", "1 KiBs",
                          "99999999999999999999", "20000000TiB", "0x10"}) {
    absl::StatusOr<uint64_t> s = ParseByteSize(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << bad;
  }
}

TEST(ByteSizeFlag, UnparsesToWhatParses) {
  for (uint64_t n : {0ull, 1ull, 1000ull, 1024ull, 100ull << 20, 3ull << 30,
                     (1ull << 20) + 1}) {
    ByteSize size{n}, back;
    std::string error;
    ASSERT_TRUE(AbslParseFlag(AbslUnparseFlag(size), &back, &error)) << error;
    EXPECT_EQ(back.bytes, n);
  }
  EXPECT_EQ(AbslUnparseFlag(ByteSize{100ull << 20}), "100MiB");
}

TEST(Format, BytesAndCounts) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(64ull << 20), "64.0 MiB");
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
}

TEST(Encoding, DecodeInvertsEncode) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (Encoding e : {Encoding::kText, Encoding::kHex, Encoding::kBase64}) {
    absl::StatusOr<std::string> back = Decode(Encode(all, e), e);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, all);
  }
  EXPECT_EQ(*Decode(" 00ff\n", Encoding::kHex), std::string("\0\xff", 2));
  EXPECT_EQ(*Decode("aGk=\n", Encoding::kBase64), "hi");
  EXPECT_FALSE(Decode("abc", Encoding::kHex).ok());
  EXPECT_FALSE(Decode("zz", Encoding::kHex).ok());
  EXPECT_FALSE(Decode("!!!!", Encoding::kBase64).ok());
}

TEST(Encoding, Base64IsStrict) {
  std::string bytes;
  EXPECT_TRUE(StrictBase64Unescape("AAH+/w==", &bytes));
  EXPECT_EQ(bytes, std::string("\0\1\xfe\xff", 4));
  EXPECT_TRUE(StrictBase64Unescape("", &bytes));
  EXPECT_EQ(bytes, "");
  // absl::Base64Unescape takes each of these; the canonical form does not.
  for (const char* bad : {"AAH", "AA H=", "AB==", "AAE=\n",
                          " AAE=", "A===", "AAE=AAE=", "AAH+_w=="}) {
    EXPECT_FALSE(StrictBase64Unescape(bad, &bytes)) << bad;
  }
  // Decode allows whitespace around the value, not inside it.
  EXPECT_EQ(*Decode(" AAE=\n", Encoding::kBase64), std::string("\0\1", 2));
  EXPECT_FALSE(Decode("AAH", Encoding::kBase64).ok());
  EXPECT_FALSE(Decode("AA H=", Encoding::kBase64).ok());
}

TEST(IsValidUtf8, AcceptsTextRejectsOtherBytes) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // NUL is text for JSON
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"));
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc3\x28"));          // bad continuation
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(JsonBytesField, TextAsIsOtherBytesAsBase64) {
  using Field = std::pair<std::string, std::string>;
  EXPECT_EQ(JsonBytesField("key", "h\xc3\xa9"), Field("key", "h\xc3\xa9"));
  EXPECT_EQ(JsonBytesField("value", std::string("a\0", 2)),
            Field("value", std::string("a\0", 2)));
  EXPECT_EQ(JsonBytesField("value", std::string("\x00\x01\xfe\xff", 4)),
            Field("value_base64", "AAH+/w=="));
}

TEST(Table, PadsColumnsAndLetsErrorsSpan) {
  Table t({"NAME", "ITEMS", "WRITER"}, {false, true, false});
  t.AddRow({"a", "1,000", "-"});
  t.AddRow({"longer-name", "5", "pid 7"});
  t.AddRow({"broken", "error: data loss: a message longer than the columns"});
  EXPECT_EQ(t.Render(),
            "NAME         ITEMS  WRITER\n"
            "a            1,000  -\n"
            "longer-name      5  pid 7\n"
            "broken       error: data loss: a message longer than the "
            "columns\n");
}

}  // namespace
}  // namespace cli
}  // namespace zcipc
