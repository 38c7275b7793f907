// Read-modify-write operations built on UpdateLocked (lock held), shared by
// ZeroCopyDict and Batch: the counter Add and CompareAndSwap.

#include "absl/base/internal/endian.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"

namespace zcipc {
namespace internal {

namespace {

// The key for a message: escaped, cut after 64 bytes.
std::string QuotedKey(absl::string_view key) {
  return absl::StrCat("'", absl::CHexEscape(key.substr(0, 64)),
                      key.size() > 64 ? "...'" : "'");
}

}  // namespace

absl::StatusOr<int64_t> DictImpl::AddLocked(absl::string_view key,
                                            int64_t delta) {
  int64_t result = 0;
  ValueType old_type = ValueType::kBytes;
  absl::Status s = UpdateLocked(
      key,
      [&](std::optional<absl::string_view> old, std::string* out,
          bool* write) -> absl::Status {
        int64_t current = 0;
        if (old.has_value()) {
          if (old->size() != sizeof(int64_t)) {
            return Error(
                absl::StatusCode::kFailedPrecondition, ErrorKind::kNotACounter,
                absl::StrCat("key ", QuotedKey(key), " holds ", old->size(),
                             " bytes, not an 8-byte counter"));
          }
          // Raw 8 bytes count as a counter (what Add stored before values
          // had types); text, a double or a pickle do not.
          if (old_type != ValueType::kBytes && old_type != ValueType::kInt64) {
            return Error(
                absl::StatusCode::kFailedPrecondition, ErrorKind::kNotACounter,
                absl::StrCat("key ", QuotedKey(key), " holds a value of type ",
                             static_cast<int>(old_type),
                             " (not an int64 counter)"));
          }
          current =
              static_cast<int64_t>(absl::little_endian::Load64(old->data()));
        }
        if (__builtin_add_overflow(current, delta, &result)) {
          return Error(absl::StatusCode::kOutOfRange, ErrorKind::kOverflow,
                       absl::StrCat("key ", QuotedKey(key), ": ", current,
                                    " + ", delta, " overflows int64"));
        }
        out->resize(sizeof(int64_t));
        absl::little_endian::Store64(&(*out)[0], static_cast<uint64_t>(result));
        *write = true;
        return absl::OkStatus();
      },
      ValueType::kInt64, &old_type);
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<bool> DictImpl::CompareAndSwapLocked(
    absl::string_view key, std::optional<absl::string_view> expected,
    absl::string_view desired, ValueType type) {
  bool swapped = false;
  absl::Status s = UpdateLocked(
      key,
      [&](std::optional<absl::string_view> old, std::string* out,
          bool* write) -> absl::Status {
        swapped = expected.has_value() ? (old.has_value() && *old == *expected)
                                       : !old.has_value();
        *write = swapped;
        if (swapped) out->assign(desired.data(), desired.size());
        return absl::OkStatus();
      },
      type);
  if (!s.ok()) return s;
  return swapped;
}

}  // namespace internal
}  // namespace zcipc
