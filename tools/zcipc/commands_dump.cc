// dump and load: a dict as JSON lines and back (like mdb_dump / mdb_load).
//
// The format, one JSON object per line:
//   {"zcipc_dump":1,"name":"d","items":2,"max_items":10000,"heap_size":...}
//   {"key":"greeting","value":"hello"}
//   {"key_base64":"AP8=","value_base64":"AAECAw=="}
// The first line (optional for load) records the dict's sizes, so load can
// create an identical dict. Then one line per entry, sorted by key bytes:
// a key or value that is valid UTF-8 is a JSON string as is (JSON escapes
// control characters and NULs), any other is base64 under a "_base64" name.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;
using Entry = std::pair<std::string, std::string>;

constexpr int kDumpVersion = 1;
// Entries per Write() call (one writer-lock hold) while loading.
constexpr size_t kLoadBatch = 1024;

void SetBytes(Json* object, const char* field, const std::string& bytes) {
  if (IsValidUtf8(bytes)) {
    (*object)[field] = bytes;
  } else {
    (*object)[absl::StrCat(field, "_base64")] = absl::Base64Escape(bytes);
  }
}

// Reads "key" or "key_base64" (exactly one of them) from a dump line.
absl::StatusOr<std::string> GetBytes(const Json& object, const char* field) {
  const std::string b64 = absl::StrCat(field, "_base64");
  bool plain = object.contains(field), encoded = object.contains(b64);
  if (plain == encoded) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs exactly one of \"", field, "\" and \"", b64, "\""));
  }
  const Json& v = plain ? object[field] : object[b64];
  if (!v.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", plain ? field : b64, "\" is not a string"));
  }
  std::string text = v.get<std::string>();
  if (plain) return text;
  std::string bytes;
  if (!absl::Base64Unescape(text, &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", b64, "\" is not valid base64"));
  }
  return bytes;
}

// The bytes an entry takes in the heap (see Options::heap_size): 24 header
// bytes + the key and the value each padded to 8, in 16-byte units.
uint64_t BlockBytes(const Entry& e) {
  auto pad8 = [](uint64_t n) { return (n + 7) / 8 * 8; };
  uint64_t block =
      (24 + pad8(e.first.size()) + pad8(e.second.size()) + 15) / 16 * 16;
  return std::max<uint64_t>(block, 32);
}

}  // namespace

int RunDump(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  std::vector<Entry> entries;
  absl::Status s =
      dict->ForEach([&](absl::string_view key, absl::string_view value) {
        entries.emplace_back(std::string(key), std::string(value));
      });
  if (!s.ok()) return Fail(inv, s);
  std::sort(entries.begin(), entries.end());
  Stats st = dict->GetStats();
  Json header{{"zcipc_dump", kDumpVersion},
              {"name", name},
              {"items", entries.size()},
              {"max_items", st.max_items},
              {"heap_size", st.heap_size}};
  std::string out = header.dump() + "\n";
  for (const Entry& e : entries) {
    Json line = Json::object();
    SetBytes(&line, "key", e.first);
    SetBytes(&line, "value", e.second);
    absl::StrAppend(&out, line.dump(), "\n");
    if (out.size() > (1 << 20)) {
      if (!WriteStdout(out)) return kFailed;
      out.clear();
    }
  }
  return WriteStdout(out) ? kOk : kFailed;
}

int RunLoad(const Invocation& inv) {
  const std::string& name = inv.args[0];
  if (isatty(STDIN_FILENO)) {
    fprintf(stderr,
            "zcipc load: reading a dump (JSON lines) from the terminal; end "
            "with Ctrl-D\n");
  }
  absl::StatusOr<std::string> input = ReadStdin();
  if (!input.ok()) return Fail(inv, input.status());

  // Parse and check everything before writing anything.
  Json header;
  std::vector<Entry> entries;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(*input, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto bad = [&](absl::string_view why) {
      fprintf(stderr, "zcipc load: line %zu: %s\n", line_number,
              std::string(why).c_str());
      return kFailed;
    };
    Json j = Json::parse(line.begin(), line.end(), nullptr,
                         /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad("not valid JSON");
    if (!j.is_object()) return bad("not a JSON object");
    if (j.contains("zcipc_dump")) {
      if (!entries.empty() || !header.is_null()) {
        return bad("a dump header after the first line");
      }
      if (j["zcipc_dump"] != kDumpVersion) {
        return bad(absl::StrCat("dump format ", j["zcipc_dump"].dump(),
                                " (this zcipc reads ", kDumpVersion, ")"));
      }
      header = std::move(j);
      continue;
    }
    absl::StatusOr<std::string> key = GetBytes(j, "key");
    if (!key.ok()) return bad(key.status().message());
    absl::StatusOr<std::string> value = GetBytes(j, "value");
    if (!value.ok()) return bad(value.status().message());
    if (key->size() > kMaxKeySize) {
      return bad(absl::StrCat("key of ", key->size(), " bytes (at most ",
                              kMaxKeySize, ")"));
    }
    entries.emplace_back(std::move(*key), std::move(*value));
  }

  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  bool created = false;
  if (absl::IsNotFound(dict.status())) {
    // Size the new dict like the dumped one, or to fit the entries.
    Options options = OptionsFromFlags();
    uint64_t heap_needed = 0;
    for (const Entry& e : entries) heap_needed += BlockBytes(e);
    if (!FlagWasGiven("max_items")) {
      if (header.contains("max_items") &&
          header["max_items"].is_number_unsigned()) {
        options.max_items = header["max_items"].get<uint64_t>();
      } else {
        options.max_items = std::max<uint64_t>(
            options.max_items, entries.size() + entries.size() / 4);
      }
    }
    if (!FlagWasGiven("heap_size")) {
      if (header.contains("heap_size") &&
          header["heap_size"].is_number_unsigned()) {
        options.heap_size = header["heap_size"].get<uint64_t>();
      } else {
        options.heap_size = std::max<uint64_t>(options.heap_size,
                                               heap_needed + heap_needed / 4);
      }
    }
    dict = ZeroCopyDict::Create(name, options);
    created = dict.ok();
  }
  if (!dict.ok()) return Fail(inv, dict.status());

  size_t done = 0;
  while (done < entries.size()) {
    size_t end = std::min(entries.size(), done + kLoadBatch);
    absl::Status s = dict->Write([&](Batch& batch) -> absl::Status {
      for (; done < end; ++done) {
        absl::Status put = batch.Put(entries[done].first, entries[done].second);
        if (!put.ok()) return put;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) {
      fprintf(stderr, "zcipc load: %zu of %zu entries loaded into %s\n", done,
              entries.size(), name.c_str());
      return Fail(inv, s);
    }
  }
  printf("loaded %s entries into %s%s\n", FormatCount(entries.size()).c_str(),
         name.c_str(), created ? " (created)" : "");
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
