#include "tools/zcipc/format.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zcipc {
namespace cli {

namespace {

struct Unit {
  const char* name;
  uint64_t multiplier;
};

// dd(1)'s convention: the bare letter and the IEC name are powers of 1024,
// the SI name powers of 1000.
constexpr Unit kUnits[] = {
    {"", 1},
    {"B", 1},
    {"K", 1ull << 10},
    {"KiB", 1ull << 10},
    {"KB", 1000ull},
    {"M", 1ull << 20},
    {"MiB", 1ull << 20},
    {"MB", 1000ull * 1000},
    {"G", 1ull << 30},
    {"GiB", 1ull << 30},
    {"GB", 1000ull * 1000 * 1000},
    {"T", 1ull << 40},
    {"TiB", 1ull << 40},
    {"TB", 1000ull * 1000 * 1000 * 1000},
};

}  // namespace

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < s.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(s[digits])) ||
          s[digits] == '.')) {
    ++digits;
  }
  absl::string_view number = s.substr(0, digits);
  absl::string_view unit = absl::StripAsciiWhitespace(s.substr(digits));
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size \"", text, "\": ", why,
                     " (examples: 4096, 64KiB, 64MiB, 1.5GB; K/M/G/T = 1024^n, "
                     "KB/MB/GB/TB = 1000^n)"));
  };
  if (number.empty()) return bad("no number");
  const Unit* found = nullptr;
  for (const Unit& u : kUnits) {
    if (absl::EqualsIgnoreCase(unit, u.name)) {
      found = &u;
      break;
    }
  }
  if (found == nullptr) return bad(absl::StrCat("unknown unit \"", unit, "\""));
  if (absl::StrContains(number, '.')) {
    double value = 0;
    if (!absl::SimpleAtod(number, &value)) return bad("not a number");
    double bytes = std::round(value * static_cast<double>(found->multiplier));
    if (!(bytes < 18446744073709551616.0)) return bad("too large");
    return static_cast<uint64_t>(bytes);
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(number, &value)) return bad("not a number");
  if (value > UINT64_MAX / found->multiplier) return bad("too large");
  return value * found->multiplier;
}

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error) {
  absl::StatusOr<uint64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) {
    *error = std::string(bytes.status().message());
    return false;
  }
  size->bytes = *bytes;
  return true;
}

std::string AbslUnparseFlag(ByteSize size) {
  // The largest unit that divides the size exactly, so it parses back.
  static constexpr Unit kExact[] = {{"TiB", 1ull << 40},
                                    {"GiB", 1ull << 30},
                                    {"MiB", 1ull << 20},
                                    {"KiB", 1ull << 10}};
  for (const Unit& u : kExact) {
    if (size.bytes != 0 && size.bytes % u.multiplier == 0) {
      return absl::StrCat(size.bytes / u.multiplier, u.name);
    }
  }
  return absl::StrCat(size.bytes);
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kNames[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t i = 0;
  while (value >= 1024 && i + 1 < std::size(kNames)) {
    value /= 1024;
    ++i;
  }
  return absl::StrFormat("%.1f %s", value, kNames[i]);
}

std::string FormatCount(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string FormatSeconds(double seconds) {
  if (seconds >= 1) return absl::StrFormat("%.2f s", seconds);
  if (seconds >= 1e-3) return absl::StrFormat("%.0f ms", seconds * 1e3);
  if (seconds >= 1e-6) return absl::StrFormat("%.1f us", seconds * 1e6);
  return absl::StrFormat("%.0f ns", seconds * 1e9);
}

absl::StatusOr<std::string> Decode(absl::string_view text, Encoding encoding) {
  switch (encoding) {
    case Encoding::kText:
      return std::string(text);
    case Encoding::kHex: {
      absl::string_view hex = absl::StripAsciiWhitespace(text);
      if (hex.size() % 2 != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad hex \"", Quote(text), "\": odd length"));
      }
      for (char c : hex) {
        if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
          return absl::InvalidArgumentError(
              absl::StrCat("bad hex \"", Quote(text), "\": '", Quote({&c, 1}),
                           "' is not a hex digit"));
        }
      }
      return absl::HexStringToBytes(hex);
    }
    case Encoding::kBase64: {
      std::string bytes;
      if (!StrictBase64Unescape(absl::StripAsciiWhitespace(text), &bytes)) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad base64 \"", Quote(text), "\""));
      }
      return bytes;
    }
  }
  return absl::InternalError("unknown encoding");
}

bool StrictBase64Unescape(absl::string_view text, std::string* bytes) {
  // Canonical means: it decodes, and encoding the bytes gives it back.
  std::string decoded;
  if (!absl::Base64Unescape(text, &decoded) ||
      absl::Base64Escape(decoded) != text) {
    return false;
  }
  *bytes = std::move(decoded);
  return true;
}

std::string Encode(absl::string_view bytes, Encoding encoding) {
  switch (encoding) {
    case Encoding::kText:
      return std::string(bytes);
    case Encoding::kHex:
      return absl::BytesToHexString(bytes);
    case Encoding::kBase64:
      return absl::Base64Escape(bytes);
  }
  return std::string(bytes);
}

bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;  // a continuation byte first, or 0xf8..0xff
    }
    if (static_cast<size_t>(end - p) <= n) return false;
    for (size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;  // overlong, out of range, or a surrogate
    }
    p += n + 1;
  }
  return true;
}

std::pair<std::string, std::string> JsonBytesField(absl::string_view field,
                                                   absl::string_view bytes) {
  if (IsValidUtf8(bytes)) return {std::string(field), std::string(bytes)};
  return {absl::StrCat(field, "_base64"), absl::Base64Escape(bytes)};
}

std::string Quote(absl::string_view bytes, size_t max) {
  if (bytes.size() <= max) return absl::CHexEscape(bytes);
  return absl::StrCat(absl::CHexEscape(bytes.substr(0, max)), "...");
}

Table::Table(std::vector<std::string> header, std::vector<bool> numeric)
    : numeric_(std::move(numeric)) {
  numeric_.resize(header.size(), false);
  rows_.push_back(std::move(header));
}

void Table::AddRow(std::vector<std::string> row) {
  rows_.push_back(std::move(row));
}

std::string Table::Render() const {
  std::vector<size_t> width(numeric_.size(), 0);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      if (row.size() < width.size() && i + 1 == row.size()) break;  // spans
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i != 0) line += "  ";
      // The last cell of a short row is free text (an error message) that
      // spans the remaining columns: neither padded nor aligned.
      bool spans = row.size() < width.size() && i + 1 == row.size();
      bool right = !spans && i < numeric_.size() && numeric_[i];
      size_t w = spans || i >= width.size() ? 0 : width[i];
      std::string pad(w > row[i].size() ? w - row[i].size() : 0, ' ');
      line += right ? pad + row[i] : row[i] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace cli
}  // namespace zcipc
