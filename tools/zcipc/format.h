// Text helpers of the zcipc command-line tool: byte sizes ("64MiB"), counts
// with thousands separators, the encodings of binary keys and values on the
// command line (text, --hex, --base64), UTF-8 validation for JSON output, and
// a plain-text table.
//
// Thread safety: every function is thread-safe (no shared state); a Table is
// thread-compatible.

#ifndef ZCIPC_TOOLS_ZCIPC_FORMAT_H_
#define ZCIPC_TOOLS_ZCIPC_FORMAT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zcipc {
namespace cli {

// Parses a byte size: a number (decimal fractions allowed) and an optional
// unit, case-insensitive, as dd(1) reads them: B; K, KiB = 1024; KB = 1000;
// likewise M/MiB/MB, G/GiB/GB, T/TiB/TB. "64MiB", "1.5 GB", "4096".
// InvalidArgument for anything else, a negative size or one over 2^64 - 1.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// A byte size as a flag type: --heap-size=64MiB (absl flags find the parser
// below by argument-dependent lookup).
struct ByteSize {
  uint64_t bytes = 0;
};
bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(ByteSize size);

// "512 B", "1.5 KiB", "64.0 MiB".
std::string FormatBytes(uint64_t bytes);
// "1,234,567".
std::string FormatCount(uint64_t n);
// "1.25 s", "340 ms", "2.1 us".
std::string FormatSeconds(double seconds);

// How keys and values are written on the command line and printed.
enum class Encoding { kText, kHex, kBase64 };

// Decodes a key or value given in `encoding` (text is taken as is; hex and
// base64 ignore surrounding whitespace, nothing else). Strict: base64 must be
// canonical (StrictBase64Unescape). InvalidArgument on bad input.
absl::StatusOr<std::string> Decode(absl::string_view text, Encoding encoding);

// Decodes standard base64 only in its canonical form, the one
// absl::Base64Escape writes: padded to a multiple of 4, no whitespace, no
// stray bits in the last character ("AAH", "AA H=" and "AB==" are rejected,
// which absl::Base64Unescape alone accepts). False on anything else.
bool StrictBase64Unescape(absl::string_view text, std::string* bytes);
// The inverse of Decode: text unchanged, else lowercase hex or base64.
std::string Encode(absl::string_view bytes, Encoding encoding);

// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most
// U+10FFFF): such a string can be a JSON string as is; other bytes go to
// JSON as base64.
bool IsValidUtf8(absl::string_view s);

// How a key or value goes into a JSON object under `field` ("key"): valid
// UTF-8 as a string under `field` itself, other bytes as canonical base64
// under field + "_base64" ("key_base64"). Returns the field's name and its
// string (the convention of dump and watch --follow --json).
std::pair<std::string, std::string> JsonBytesField(absl::string_view field,
                                                   absl::string_view bytes);

// A key or value quoted for an error message or a table: printable ASCII as
// is, other bytes as C escapes, cut after `max` bytes ("..." appended).
std::string Quote(absl::string_view bytes, size_t max = 64);

// A text table: the first row is the header; columns are padded to their
// widest cell; columns marked numeric are right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header,
                 std::vector<bool> numeric = {});
  void AddRow(std::vector<std::string> row);
  // Each row ends with '\n'; trailing spaces are trimmed.
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> numeric_;
};

}  // namespace cli
}  // namespace zcipc

#endif  // ZCIPC_TOOLS_ZCIPC_FORMAT_H_
