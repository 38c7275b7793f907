// get, put, del, add, create and unlink: one key or one dict at a time,
// through the public API only.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

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

int64_t LittleEndianInt64(absl::string_view bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  }
  return static_cast<int64_t>(v);
}

}  // namespace

int RunGet(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<std::string> key = KeyArg(inv.args[1]);
  if (!key.ok()) return Fail(inv, key.status());
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  std::string value;
  absl::Status s = dict->Get(*key, &value);
  if (absl::IsNotFound(s)) return Fail(inv, KeyNotFound(name, *key));
  if (!s.ok()) return Fail(inv, s);
  if (absl::GetFlag(FLAGS_int64)) {
    if (value.size() != 8) {
      return Fail(inv, absl::FailedPreconditionError(absl::StrCat(
                           "the value of \"", Quote(*key), "\" is ",
                           value.size(), " bytes, not an 8-byte counter")));
    }
    printf("%lld\n", static_cast<long long>(LittleEndianInt64(value)));
    return kOk;
  }
  if (absl::GetFlag(FLAGS_raw)) {
    return WriteStdout(value) ? kOk : kFailed;
  }
  return WriteStdout(absl::StrCat(Encode(value, EncodingFromFlags()), "\n"))
             ? kOk
             : kFailed;
}

int RunPut(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<std::string> key = KeyArg(inv.args[1]);
  if (!key.ok()) return Fail(inv, key.status());
  absl::StatusOr<std::string> value;
  if (inv.args.size() == 3) {
    value = Decode(inv.args[2], EncodingFromFlags());
    if (!value.ok()) return Fail(inv, value.status());
  }
  // Attach before reading stdin: a missing dict fails at once, and the heap
  // size bounds how much of stdin is worth reading.
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
        ReadStdin(MaxEncodedSize(heap_size, EncodingFromFlags()));
    if (absl::IsOutOfRange(input.status())) {
      return Fail(inv,
                  absl::ResourceExhaustedError(absl::StrCat(
                      "the value on stdin is larger than the heap of "
                      "dict \"",
                      name, "\" (", FormatBytes(heap_size), ", ", heap_size,
                      " bytes), so it cannot fit; stopped reading")));
    }
    if (!input.ok()) return Fail(inv, input.status());
    value = Decode(*input, EncodingFromFlags());
    if (!value.ok()) return Fail(inv, value.status());
  }
  absl::Status s = dict->Put(*key, *value);
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
  printf("created %s: %s items max (%s slots), %s heap, %s, %s segment\n",
         name.c_str(), FormatCount(s.max_items).c_str(),
         FormatCount(s.slot_count).c_str(), FormatBytes(s.heap_size).c_str(),
         s.change_log_bytes == 0
             ? "no change log"
             : absl::StrCat(FormatBytes(s.change_log_bytes), " change log")
                   .c_str(),
         FormatBytes(s.segment_size).c_str());
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
