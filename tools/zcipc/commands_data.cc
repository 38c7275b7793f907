// get, put, del, add, create, grow and unlink: one key or one dict at a time,
// through the public API only.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "tools/zcipc/values.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;

// The key argument, decoded with --hex / --base64.
absl::StatusOr<std::string> KeyArg(const std::string& text) {
  absl::StatusOr<std::string> key = Decode(text, EncodingFromFlags());
  if (!key.ok()) return key.status();
  if (key->size() > kMaxKeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key of ", key->size(), " bytes (at most ", kMaxKeySize, ")"));
  }
  return key;
}

absl::Status KeyNotFound(const std::string& name, const std::string& key) {
  return absl::NotFoundError(
      absl::StrCat("no key \"", Quote(key), "\" in dict \"", name, "\""));
}

// The most stdin may hold for a value of at most `bytes` bytes in
// `encoding` (with room for whitespace around an encoded value).
uint64_t MaxEncodedSize(uint64_t bytes, Encoding encoding) {
  constexpr uint64_t kWhitespace = 4096;
  switch (encoding) {
    case Encoding::kText:
      return bytes;
    case Encoding::kHex:
      return 2 * bytes + kWhitespace;
    case Encoding::kBase64:
      return (bytes + 2) / 3 * 4 + kWhitespace;
  }
  return bytes;
}

}  // namespace

int RunGet(const Invocation& inv) {
  const bool json = absl::GetFlag(FLAGS_json);
  const bool raw = absl::GetFlag(FLAGS_raw);
  const bool int64 = absl::GetFlag(FLAGS_int64);
  if (json && (raw || int64)) {
    return UsageError(inv, "--json excludes --raw and --int64");
  }
  const std::string& name = inv.args[0];
  absl::StatusOr<std::string> key = KeyArg(inv.args[1]);
  if (!key.ok()) return Fail(inv, key.status());
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  std::string value;
  ValueType type = ValueType::kBytes;
  absl::Status s = dict->Get(*key, &value, &type);
  if (absl::IsNotFound(s)) return Fail(inv, KeyNotFound(name, *key));
  if (!s.ok()) return Fail(inv, s);
  if (json) {
    Json line = Json::object();
    std::pair<std::string, std::string> k = JsonBytesField("key", *key);
    line[k.first] = std::move(k.second);
    SetJsonValue(&line, "value", value, type);
    return WriteStdout(absl::StrCat(line.dump(), "\n")) ? kOk : kFailed;
  }
  if (int64) {
    // A counter: an int, or 8 untyped bytes (as add reads them).
    std::optional<int64_t> v = DecodeInt64(value);
    if (type != ValueType::kBytes && type != ValueType::kInt64) {
      return Fail(inv, absl::FailedPreconditionError(absl::StrCat(
                           "the value of \"", Quote(*key), "\" is of type ",
                           TypeName(type), ", not a counter")));
    }
    if (!v.has_value()) {
      return Fail(inv, absl::FailedPreconditionError(absl::StrCat(
                           "the value of \"", Quote(*key), "\" is ",
                           value.size(), " bytes, not an 8-byte counter")));
    }
    printf("%lld\n", static_cast<long long>(*v));
    return kOk;
  }
  if (raw) return WriteStdout(value) ? kOk : kFailed;
  const Encoding encoding = EncodingFromFlags();
  if (encoding != Encoding::kText || type == ValueType::kBytes) {
    return WriteStdout(absl::StrCat(Encode(value, encoding), "\n")) ? kOk
                                                                    : kFailed;
  }
  if (std::optional<std::string> text = ValueAsText(value, type)) {
    return WriteStdout(absl::StrCat(*text, "\n")) ? kOk : kFailed;
  }
  if (type == ValueType::kInt64 || type == ValueType::kFloat64) {
    return Fail(inv, absl::FailedPreconditionError(absl::StrCat(
                         "the value of \"", Quote(*key), "\" is of type ",
                         TypeName(type), " but ", value.size(),
                         " bytes long, not 8, so it is no number; --raw, "
                         "--hex or --base64 show its bytes")));
  }
  if (type == ValueType::kPickle) {
    // Binary, and only Python can read it: base64, which a terminal shows.
    fprintf(stderr,
            "zcipc get: the value of \"%s\" is a Python pickle (%zu bytes), "
            "printed as base64; --raw writes its bytes\n",
            Quote(*key).c_str(), value.size());
    return WriteStdout(absl::StrCat(Encode(value, Encoding::kBase64), "\n"))
               ? kOk
               : kFailed;
  }
  // A reserved type: its bytes, as for bytes.
  fprintf(stderr,
          "zcipc get: the value of \"%s\" has the reserved type %s (a newer "
          "writer's); printed as its bytes\n",
          Quote(*key).c_str(), TypeName(type).c_str());
  return WriteStdout(absl::StrCat(value, "\n")) ? kOk : kFailed;
}

int RunPut(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<std::string> key = KeyArg(inv.args[1]);
  if (!key.ok()) return Fail(inv, key.status());
  // The flag's value was checked when it was parsed (flags.cc).
  const ValueType type = ParseTypeName(absl::GetFlag(FLAGS_type)).value();
  const bool number = type == ValueType::kInt64 || type == ValueType::kFloat64;
  // A number is decimal text; --hex / --base64 are then for the key only.
  const Encoding encoding = number ? Encoding::kText : EncodingFromFlags();
  absl::StatusOr<std::string> value;
  if (inv.args.size() == 3) {
    value = Decode(inv.args[2], encoding);
    if (!value.ok()) return Fail(inv, value.status());
  }
  // Attach before reading stdin: a missing dict fails at once, and the heap
  // size bounds how much of stdin is read (a dict grows on a write, but a
  // value larger than its whole heap is refused here rather than read
  // without end: `zcipc grow --heap-size` makes room for it first).
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  if (inv.args.size() == 2) {
    if (isatty(STDIN_FILENO)) {
      fprintf(stderr,
              "zcipc put: reading the value from stdin (the terminal); end "
              "it with Ctrl-D\n");
    }
    const uint64_t heap_size = dict->GetStats().heap_size;
    absl::StatusOr<std::string> input =
        ReadStdin(MaxEncodedSize(heap_size, encoding));
    if (absl::IsOutOfRange(input.status())) {
      return Fail(inv,
                  absl::ResourceExhaustedError(absl::StrCat(
                      "the value on stdin is larger than the heap of "
                      "dict \"",
                      name, "\" (", FormatBytes(heap_size), ", ", heap_size,
                      " bytes); stopped reading (zcipc grow ", name,
                      " --heap-size=SIZE makes room for it first)")));
    }
    if (!input.ok()) return Fail(inv, input.status());
    value = Decode(*input, encoding);
    if (!value.ok()) return Fail(inv, value.status());
  }
  if (type == ValueType::kText && !IsValidUtf8(*value)) {
    return UsageError(inv, absl::StrCat("the value \"", Quote(*value),
                                        "\" is not valid UTF-8 text "
                                        "(--type=text); store it as bytes"));
  }
  if (type == ValueType::kInt64) {
    // SimpleAtoi: decimal, an optional sign, whitespace around allowed.
    int64_t v = 0;
    if (!absl::SimpleAtoi(*value, &v)) {
      return UsageError(inv, absl::StrCat("the value \"", Quote(*value),
                                          "\" is not a decimal 64-bit "
                                          "integer (--type=int)"));
    }
    value = Int64Bytes(v);
  } else if (type == ValueType::kFloat64) {
    double v = 0;
    if (!absl::SimpleAtod(*value, &v)) {
      return UsageError(inv, absl::StrCat("the value \"", Quote(*value),
                                          "\" is not a number "
                                          "(--type=float)"));
    }
    value = Float64Bytes(v);
  }
  absl::Status s = dict->Put(*key, *value, type);
  return s.ok() ? kOk : Fail(inv, s);
}

int RunDel(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<std::string> key = KeyArg(inv.args[1]);
  if (!key.ok()) return Fail(inv, key.status());
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  absl::Status s = dict->Erase(*key);
  if (absl::IsNotFound(s)) return Fail(inv, KeyNotFound(name, *key));
  return s.ok() ? kOk : Fail(inv, s);
}

int RunAdd(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<std::string> key = KeyArg(inv.args[1]);
  if (!key.ok()) return Fail(inv, key.status());
  int64_t delta = 0;
  if (!absl::SimpleAtoi(inv.args[2], &delta)) {
    return UsageError(inv, absl::StrCat("DELTA \"", Quote(inv.args[2]),
                                        "\" is not a 64-bit integer"));
  }
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  absl::StatusOr<int64_t> total = dict->Add(*key, delta);
  if (!total.ok()) return Fail(inv, total.status());
  printf("%lld\n", static_cast<long long>(*total));
  return kOk;
}

int RunCreate(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<ZeroCopyDict> dict =
      ZeroCopyDict::Create(name, OptionsFromFlags());
  if (absl::IsAlreadyExists(dict.status())) {
    return Fail(inv, absl::AlreadyExistsError(
                         absl::StrCat("dict \"", name,
                                      "\" already exists (nothing was "
                                      "changed; zcipc unlink ",
                                      name, " removes it)")));
  }
  if (!dict.ok()) return Fail(inv, dict.status());
  Stats s = dict->GetStats();
  printf("created %s: %s items max (%s slots), %s heap, %s, %s segment%s\n",
         name.c_str(), FormatCount(s.max_items).c_str(),
         FormatCount(s.slot_count).c_str(), FormatBytes(s.heap_size).c_str(),
         s.change_log_bytes == 0
             ? "no change log"
             : absl::StrCat(FormatBytes(s.change_log_bytes), " change log")
                   .c_str(),
         FormatBytes(s.segment_size).c_str(),
         s.max_segment_size == 0
             ? ""
             : absl::StrCat(" (grows to at most ",
                            FormatBytes(s.max_segment_size), ")")
                   .c_str());
  return kOk;
}

int RunGrow(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const bool json = absl::GetFlag(FLAGS_json);
  if (!FlagWasGiven("max_items") && !FlagWasGiven("heap_size")) {
    return UsageError(inv,
                      "nothing to grow: give --max-items=N, --heap-size=S or "
                      "both (see zcipc grow --help)");
  }
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  const Stats before = dict->GetStats();
  // A flag left out keeps the figure: ask for what the dict has now (Reserve
  // never shrinks, so a figure that grew meanwhile stays too).
  const uint64_t max_items = FlagWasGiven("max_items")
                                 ? absl::GetFlag(FLAGS_max_items)
                                 : before.max_items;
  const uint64_t heap_size = FlagWasGiven("heap_size")
                                 ? absl::GetFlag(FLAGS_heap_size).bytes
                                 : before.heap_size;
  // The engine's error names the dict and says why (its kind is kept).
  absl::Status status = dict->Reserve(max_items, heap_size);
  if (!status.ok()) return Fail(inv, status);
  const Stats s = dict->GetStats();
  const bool grew = s.grows_total != before.grows_total ||
                    s.max_items != before.max_items ||
                    s.heap_size != before.heap_size;
  if (json) {
    Json out{{"name", name},
             {"grew", grew},
             {"max_items", s.max_items},
             {"slot_count", s.slot_count},
             {"heap_size", s.heap_size},
             {"segment_size", s.segment_size},
             {"max_segment_size", s.max_segment_size},
             {"grows_total", s.grows_total},
             {"items", s.size},
             {"heap_used", s.heap_used}};
    printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  // "grew d: ..." or "d unchanged (...): ...", then the capacity now.
  const std::string head =
      grew ? absl::StrCat("grew ", name)
           : absl::StrCat(name, " unchanged (it is already that large)");
  printf("%s: %s items max (%s slots), %s heap, %s segment%s; %s %s so far\n",
         head.c_str(), FormatCount(s.max_items).c_str(),
         FormatCount(s.slot_count).c_str(), FormatBytes(s.heap_size).c_str(),
         FormatBytes(s.segment_size).c_str(),
         s.max_segment_size == 0
             ? ""
             : absl::StrCat(" (at most ", FormatBytes(s.max_segment_size), ")")
                   .c_str(),
         FormatCount(s.grows_total).c_str(),
         s.grows_total == 1 ? "grow" : "grows");
  return kOk;
}

int RunUnlink(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::Status s = ZeroCopyDict::Unlink(name);
  if (absl::IsNotFound(s)) {
    return Fail(inv, absl::NotFoundError(
                         absl::StrCat("no dict \"", name, "\" to unlink")));
  }
  return s.ok() ? kOk : Fail(inv, s);
}

}  // namespace cli
}  // namespace zcipc
