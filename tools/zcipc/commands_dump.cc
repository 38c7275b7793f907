// dump and load: a dict as JSON lines and back (like mdb_dump / mdb_load).
//
// The format (dump format 3), one JSON object per line:
//   {"zcipc_dump":3,"name":"d","items":3,"max_items":10000,"heap_size":...}
//   {"key":"greeting","value":"hello","type":"text"}
//   {"key":"hits","value":42,"type":"int"}
//   {"key_base64":"AP8=","value_base64":"AAECAw=="}
//   {"end":true,"items":3}
// The header records the dict's sizes (so load can create an identical dict)
// and the number of entries; then one line per entry, sorted by key bytes: a
// key or value that is valid UTF-8 is a JSON string as is (JSON escapes
// control characters and NULs), any other is canonical base64 under a
// "_base64" name; a value's type (ValueType) other than bytes is "type",
// and an int or a float is a JSON number (tools/zcipc/values.h has the
// rules); the end line repeats the count. Load checks both counts, so a
// dump cut short (or with lines added) fails instead of loading part.
// A dump whose values are all bytes has no "type" field and says format 2,
// which older builds read; format 2 is format 3 without types. Dump format
// 1 (older builds) is format 2 without the end line; load checks its
// header's count. Input without a header (hand-written entry lines) has no
// count to check.
//
// Load reads and checks the whole input before it writes anything. Into a
// new dict it is all or nothing: if a write fails, the dict this load
// created is unlinked again. See docs/CLI.md.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
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
#include "tools/zcipc/values.h"
#include "zcipc/options.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;
// One key, its value and the value's type.
struct Entry {
  std::string key;
  std::string value;
  ValueType type = ValueType::kBytes;
};

// The dump format this build writes when a value has a type other than
// bytes, the one it writes otherwise (older builds read it), and the oldest
// it reads.
constexpr uint64_t kDumpVersion = 3;
constexpr uint64_t kUntypedDumpVersion = 2;
constexpr uint64_t kOldestDumpVersion = 1;
// Entries per Write() call (one writer-lock hold) while loading.
constexpr size_t kLoadBatch = 1024;

void SetBytes(Json* object, const char* field, const std::string& bytes) {
  std::pair<std::string, std::string> f = JsonBytesField(field, bytes);
  (*object)[f.first] = std::move(f.second);
}

// The fields a line may have, and nothing else.
absl::Status CheckFields(const Json& object,
                         std::initializer_list<const char*> allowed,
                         absl::string_view what) {
  for (const auto& item : object.items()) {
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) {
          return item.key() == a;
        }) == allowed.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field \"", item.key(), "\" in ", what));
    }
  }
  return absl::OkStatus();
}

// An unsigned integer field of the header or end line, in [min, max].
// `valid` says which values are allowed, for the message.
absl::StatusOr<uint64_t> GetCount(const Json& object, const char* field,
                                  uint64_t min, uint64_t max,
                                  absl::string_view valid) {
  if (!object.contains(field)) {
    return absl::InvalidArgumentError(
        absl::StrCat("no \"", field, "\" field (", valid, ")"));
  }
  const Json& v = object[field];
  if (!v.is_number_unsigned() || v.get<uint64_t>() < min ||
      v.get<uint64_t>() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", field, "\" is ", v.dump(), ", not ", valid));
  }
  return v.get<uint64_t>();
}

// A dump, read and checked in full.
struct Dump {
  bool has_header = false;
  uint64_t version = 0;    // "zcipc_dump"
  uint64_t items = 0;      // the header's entry count
  uint64_t max_items = 0;  // the dumped dict's sizes
  uint64_t heap_size = 0;
  std::vector<Entry> entries;  // in input order (duplicate keys possible)
};

absl::Status ParseHeader(const Json& j, Dump* dump) {
  const Json& v = j["zcipc_dump"];
  if (!v.is_number_unsigned()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"zcipc_dump\" is ", v.dump(), ", not a dump format number"));
  }
  if (v.get<uint64_t>() < kOldestDumpVersion ||
      v.get<uint64_t>() > kDumpVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("dump format ", v.dump(), " (this zcipc reads ",
                     kOldestDumpVersion, " to ", kDumpVersion, ")"));
  }
  dump->version = v.get<uint64_t>();
  absl::Status s =
      CheckFields(j, {"zcipc_dump", "name", "items", "max_items", "heap_size"},
                  "the header");
  if (!s.ok()) return s;
  if (j.contains("name") && !j["name"].is_string()) {
    return absl::InvalidArgumentError("\"name\" is not a string");
  }
  absl::StatusOr<uint64_t> items =
      GetCount(j, "items", 0, UINT64_MAX, "an integer of 0 or more");
  if (!items.ok()) return items.status();
  absl::StatusOr<uint64_t> max_items =
      GetCount(j, "max_items", 1, kMaxItems, FlagValidValues("max_items"));
  if (!max_items.ok()) return max_items.status();
  absl::StatusOr<uint64_t> heap_size = GetCount(
      j, "heap_size", kMinHeapSize, kMaxHeapSize, FlagValidValues("heap_size"));
  if (!heap_size.ok()) return heap_size.status();
  dump->has_header = true;
  dump->items = *items;
  dump->max_items = *max_items;
  dump->heap_size = *heap_size;
  return absl::OkStatus();
}

// Parses and checks the whole input: InvalidArgument naming the line for a
// malformed line, a dump cut short or one with lines added.
absl::StatusOr<Dump> ParseDump(absl::string_view input) {
  Dump dump;
  bool any_line = false;
  size_t end_line = 0;  // the end line's number, 0 until it is read
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", why));
    };
    if (end_line != 0) {
      return bad(absl::StrCat("more input after the dump's end (line ",
                              end_line, ")"));
    }
    Json j = Json::parse(line.begin(), line.end(), nullptr,
                         /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad("not valid JSON");
    if (!j.is_object()) return bad("not a JSON object");
    if (j.contains("zcipc_dump")) {
      if (any_line) return bad("a dump header after the first line");
      absl::Status s = ParseHeader(j, &dump);
      if (!s.ok()) return bad(absl::StrCat("header: ", s.message()));
      any_line = true;
      continue;
    }
    any_line = true;
    if (j.contains("end")) {
      if (!dump.has_header || dump.version < 2) {
        return bad(
            "an end line, but the input has no dump header of format 2 or "
            "later");
      }
      absl::Status s = CheckFields(j, {"end", "items"}, "the end line");
      if (!s.ok()) return bad(s.message());
      if (j["end"] != true) return bad("the end line's \"end\" is not true");
      absl::StatusOr<uint64_t> items =
          GetCount(j, "items", 0, UINT64_MAX, "an integer of 0 or more");
      if (!items.ok())
        return bad(absl::StrCat("end line: ", items.status().message()));
      if (*items != dump.items) {
        return bad(absl::StrCat("the end line counts ", *items,
                                " entries, the header ", dump.items));
      }
      if (dump.entries.size() != dump.items) {
        return bad(absl::StrCat("the dump has ", dump.entries.size(),
                                " entries, its header and end line say ",
                                dump.items, " (lines are missing)"));
      }
      end_line = line_number;
      continue;
    }
    absl::Status s = CheckFields(
        j, {"key", "key_base64", "value", "value_base64", "type"}, "an entry");
    if (!s.ok()) return bad(s.message());
    absl::StatusOr<std::string> key = GetJsonBytes(j, "key");
    if (!key.ok()) return bad(key.status().message());
    absl::StatusOr<TypedValue> value = GetJsonValue(j, "value");
    if (!value.ok()) return bad(value.status().message());
    if (key->size() > kMaxKeySize) {
      return bad(absl::StrCat("key of ", key->size(), " bytes (at most ",
                              kMaxKeySize, ")"));
    }
    if (dump.has_header && dump.entries.size() == dump.items) {
      return bad(absl::StrCat("more entries than the ", dump.items,
                              " of the dump's header"));
    }
    dump.entries.push_back(
        Entry{std::move(*key), std::move(value->bytes), value->type});
  }
  if (!any_line) {
    return absl::InvalidArgumentError(
        "the input is empty (a dump has at least its header line)");
  }
  if (dump.has_header && dump.entries.size() < dump.items) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input ends after ", dump.entries.size(), " of the ", dump.items,
        " entries of the dump's header: the dump is "
        "truncated"));
  }
  if (dump.has_header && dump.version >= 2 && end_line == 0) {
    return absl::InvalidArgumentError(
        "the input ends without the dump's end line {\"end\":true,...}: the "
        "dump is truncated");
  }
  return dump;
}

// Keeps the last entry of each key (as putting them in order would); sorts
// by key. Returns the number of entries dropped.
size_t KeepLastOfEachKey(std::vector<Entry>* entries) {
  std::stable_sort(
      entries->begin(), entries->end(),
      [](const Entry& a, const Entry& b) { return a.key < b.key; });
  size_t kept = 0;
  for (size_t i = 0; i < entries->size(); ++i) {
    if (i + 1 < entries->size() && (*entries)[i + 1].key == (*entries)[i].key) {
      continue;  // a later line has this key
    }
    if (kept != i) (*entries)[kept] = std::move((*entries)[i]);
    ++kept;
  }
  size_t dropped = entries->size() - kept;
  entries->resize(kept);
  return dropped;
}

// Puts every entry, kLoadBatch per writer-lock hold; *done counts the
// entries written.
absl::Status PutAll(ZeroCopyDict& dict, const std::vector<Entry>& entries,
                    size_t* done) {
  *done = 0;
  while (*done < entries.size()) {
    size_t end = std::min(entries.size(), *done + kLoadBatch);
    absl::Status s = dict.Write([&](Batch& batch) -> absl::Status {
      for (; *done < end; ++*done) {
        const Entry& e = entries[*done];
        absl::Status put = batch.Put(e.key, e.value, e.type);
        if (!put.ok()) return put;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// The bytes an entry takes in the heap (see Options::heap_size): 24 header
// bytes + the key and the value each padded to 8, in 16-byte units.
uint64_t BlockBytes(const Entry& e) {
  auto pad8 = [](uint64_t n) { return (n + 7) / 8 * 8; };
  uint64_t block =
      (24 + pad8(e.key.size()) + pad8(e.value.size()) + 15) / 16 * 16;
  return std::max<uint64_t>(block, 32);
}

// "1 key", "2 keys"; "1 entry", "2 entries".
std::string Count(uint64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(FormatCount(n), " ", n == 1 ? one : many);
}

}  // namespace

int RunDump(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  std::vector<Entry> entries;
  bool typed = false;
  absl::Status s = dict->ForEachTyped(
      [&](absl::string_view key, absl::string_view value, ValueType type) {
        entries.push_back(Entry{std::string(key), std::string(value), type});
        typed = typed || type != ValueType::kBytes;
      });
  if (!s.ok()) return Fail(inv, s);
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.key < b.key; });
  Stats st = dict->GetStats();
  Json header{{"zcipc_dump", typed ? kDumpVersion : kUntypedDumpVersion},
              {"name", name},
              {"items", entries.size()},
              {"max_items", st.max_items},
              {"heap_size", st.heap_size}};
  std::string out = header.dump() + "\n";
  for (const Entry& e : entries) {
    Json line = Json::object();
    SetBytes(&line, "key", e.key);
    SetJsonValue(&line, "value", e.value, e.type);
    absl::StrAppend(&out, line.dump(), "\n");
    if (out.size() > (1 << 20)) {
      if (!WriteStdout(out)) return kFailed;
      out.clear();
    }
  }
  Json end{{"end", true}, {"items", entries.size()}};
  absl::StrAppend(&out, end.dump(), "\n");
  return WriteStdout(out) ? kOk : kFailed;
}

int RunLoad(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok() && !absl::IsNotFound(dict.status())) {
    return Fail(inv, dict.status());
  }
  const bool exists = dict.ok();
  if (exists &&
      (FlagWasGiven("max_items") || FlagWasGiven("heap_size") ||
       FlagWasGiven("change_log_bytes") || FlagWasGiven("max_segment_size"))) {
    return UsageError(
        inv, absl::StrCat("dict \"", name,
                          "\" exists: --max-items, --heap-size, "
                          "--change-log-bytes and --max-segment-size size a "
                          "dict that load creates (zcipc grow ",
                          name, " grows this one; zcipc unlink ", name,
                          " first to recreate it)"));
  }
  if (isatty(STDIN_FILENO)) {
    fprintf(stderr,
            "zcipc load: reading a dump (JSON lines) from the terminal; end "
            "with Ctrl-D\n");
  }
  absl::StatusOr<std::string> input = ReadStdin();
  if (!input.ok()) return Fail(inv, input.status());

  // Read and check everything before writing anything.
  absl::StatusOr<Dump> dump = ParseDump(*input);
  std::string().swap(*input);  // free it: the entries are copies
  if (!dump.ok()) {
    fprintf(stderr, "zcipc load: %s; nothing was loaded into %s\n",
            std::string(dump.status().message()).c_str(), name.c_str());
    return kFailed;
  }
  std::vector<Entry>& entries = dump->entries;
  const size_t lines = entries.size();
  const size_t duplicates = KeepLastOfEachKey(&entries);

  bool created = false;
  if (!exists) {
    // Size the new dict like the dumped one (or to fit the entries), unless
    // the flags say otherwise. Sizes that are too small are no error: the
    // dict grows as the entries go in (up to --max-segment-size).
    Options options = OptionsFromFlags();
    if (!FlagWasGiven("max_items")) {
      options.max_items =
          dump->has_header
              ? dump->max_items
              : std::max<uint64_t>(options.max_items,
                                   entries.size() + entries.size() / 4);
    }
    if (!FlagWasGiven("heap_size")) {
      uint64_t heap_needed = 0;
      for (const Entry& e : entries) heap_needed += BlockBytes(e);
      options.heap_size =
          dump->has_header ? dump->heap_size
                           : std::max<uint64_t>(options.heap_size,
                                                heap_needed + heap_needed / 4);
    }
    dict = ZeroCopyDict::Create(name, options);
    if (!dict.ok()) return Fail(inv, dict.status());
    created = true;
  }

  size_t done = 0;
  absl::Status s = PutAll(*dict, entries, &done);
  if (!s.ok()) {
    if (created) {
      // All or nothing: remove the dict this command created.
      absl::Status unlinked = ZeroCopyDict::Unlink(name);
      if (unlinked.ok()) {
        fprintf(stderr,
                "zcipc load: %zu of %zu keys fitted; removed dict %s, which "
                "this load had created (nothing was loaded)\n",
                done, entries.size(), name.c_str());
      } else {
        fprintf(stderr,
                "zcipc load: %zu of %zu keys fitted into the new dict %s, "
                "which could not be removed: %s\n",
                done, entries.size(), name.c_str(), Describe(unlinked).c_str());
      }
    } else {
      fprintf(stderr, "zcipc load: %zu of %zu entries loaded into %s\n", done,
              entries.size(), name.c_str());
    }
    return Fail(inv, s);
  }
  std::string summary =
      absl::StrCat("loaded ", Count(lines, "entry", "entries"), " into ", name,
                   created ? " (created)" : "");
  if (duplicates != 0) {
    absl::StrAppend(&summary, ": ", Count(entries.size(), "key", "keys"), ", ",
                    Count(duplicates, "duplicate key", "duplicate keys"),
                    " overwritten");
  }
  printf("%s\n", summary.c_str());
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
