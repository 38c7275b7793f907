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
      });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<bool> DictImpl::CompareAndSwapLocked(
    absl::string_view key, std::optional<absl::string_view> expected,
    absl::string_view desired) {
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
      });
  if (!s.ok()) return s;
  return swapped;
}

}  // namespace internal
}  // namespace zcipc
