// zcipc::ZeroCopyDict and Batch: the public handles, forwarding to DictImpl.

#include "zcipc/zero_copy_dict.h"

#include "absl/strings/str_cat.h"
#include "engine/dict/dict_impl.h"
#include "engine/layout/layout.h"
#include "engine/platform/platform.h"

namespace zcipc {

namespace {

absl::Status MovedFrom() {
  return internal::Error(absl::StatusCode::kFailedPrecondition,
                         ErrorKind::kMovedFrom,
                         "zcipc::ZeroCopyDict: use of a moved-from handle");
}

absl::StatusOr<ZeroCopyDict> Wrap(
    absl::StatusOr<std::unique_ptr<internal::DictImpl>> impl) {
  if (!impl.ok()) return impl.status();
  return internal::DictImpl::Wrap(*std::move(impl));
}

}  // namespace

ZeroCopyDict::ZeroCopyDict(std::unique_ptr<internal::DictImpl> impl)
    : impl_(std::move(impl)) {}
ZeroCopyDict::ZeroCopyDict(ZeroCopyDict&& other) noexcept = default;
ZeroCopyDict& ZeroCopyDict::operator=(ZeroCopyDict&& other) noexcept = default;
ZeroCopyDict::~ZeroCopyDict() = default;

absl::StatusOr<ZeroCopyDict> ZeroCopyDict::Create(absl::string_view name,
                                                  const Options& options) {
  return Wrap(internal::DictImpl::Create(name, options));
}

absl::StatusOr<ZeroCopyDict> ZeroCopyDict::Attach(absl::string_view name,
                                                  const Options& options) {
  return Wrap(internal::DictImpl::Attach(name, options));
}

absl::StatusOr<ZeroCopyDict> ZeroCopyDict::OpenOrCreate(
    absl::string_view name, const Options& options) {
  // Attach first (the common case); create if absent; if another process
  // created it in between, attach to theirs; if it was unlinked in between,
  // go round again.
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<ZeroCopyDict> d = Attach(name, options);
    if (!absl::IsNotFound(d.status()) || attempt == 8) return d;
    d = Create(name, options);
    if (!absl::IsAlreadyExists(d.status())) return d;
  }
}

absl::Status ZeroCopyDict::Unlink(absl::string_view name) {
  absl::Status s = layout::ValidateName(name);
  if (!s.ok()) return s;
  s = platform::ShmUnlink(layout::ShmName(name),
                          absl::StrCat("dict '", name, "': Unlink"));
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(
        absl::StrCat("dict '", name, "' does not exist"));
  }
  return s;
}

absl::Status ZeroCopyDict::Put(absl::string_view key, absl::string_view value) {
  if (!impl_) return MovedFrom();
  return impl_->Put(key, value);
}

absl::Status ZeroCopyDict::Put(absl::string_view key, absl::string_view value,
                               ValueType type) {
  if (!impl_) return MovedFrom();
  return impl_->Put(key, value, type);
}

absl::Status ZeroCopyDict::Get(absl::string_view key, std::string* value,
                               ValueType* type) const {
  if (!impl_) return MovedFrom();
  return impl_->Find("Get", key, [value, type](const index::Entry& e) {
    if (value->size() != e.value_len) value->resize(e.value_len);
    relaxed::CopyFromShared(&(*value)[0], e.value, e.value_len);
    if (type != nullptr) *type = e.type;
  });
}

absl::Status ZeroCopyDict::ReadTyped(
    absl::string_view key,
    absl::FunctionRef<void(absl::string_view, ValueType)> fn) const {
  if (!impl_) return MovedFrom();
  if constexpr (platform::kThreadSanitizer) {
    std::string copy;  // as in Read
    return impl_->Find("Read", key, [fn, &copy](const index::Entry& e) {
      copy.resize(e.value_len);
      relaxed::CopyFromShared(&copy[0], e.value, e.value_len);
      fn(copy, e.type);
    });
  }
  return impl_->Find("Read", key, [fn](const index::Entry& e) {
    fn(absl::string_view(e.value, e.value_len), e.type);
  });
}

absl::Status ZeroCopyDict::Get(absl::string_view key,
                               std::string* value) const {
  if (!impl_) return MovedFrom();
  return impl_->Find("Get", key, [value](const index::Entry& e) {
    if (value->size() != e.value_len) value->resize(e.value_len);
    relaxed::CopyFromShared(&(*value)[0], e.value, e.value_len);
  });
}

absl::StatusOr<std::string> ZeroCopyDict::Get(absl::string_view key) const {
  std::string value;
  absl::Status s = Get(key, &value);
  if (!s.ok()) return s;
  return value;
}

absl::Status ZeroCopyDict::Read(
    absl::string_view key,
    absl::FunctionRef<void(absl::string_view)> fn) const {
  if (!impl_) return MovedFrom();
  if constexpr (platform::kThreadSanitizer) {
    // fn reads the value with plain loads while a writer may store to it:
    // under ThreadSanitizer that is a reported race (harmless here, the run
    // is discarded), so hand fn a private copy made with relaxed atomics.
    std::string copy;
    return impl_->Find("Read", key, [fn, &copy](const index::Entry& e) {
      copy.resize(e.value_len);
      relaxed::CopyFromShared(&copy[0], e.value, e.value_len);
      fn(copy);
    });
  }
  return impl_->Find("Read", key, [fn](const index::Entry& e) {
    fn(absl::string_view(e.value, e.value_len));
  });
}

absl::Status ZeroCopyDict::GetLocked(absl::string_view key,
                                     std::string* value) const {
  if (!impl_) return MovedFrom();
  return impl_->GetLocked(key, value);
}

absl::StatusOr<int64_t> ZeroCopyDict::Add(absl::string_view key,
                                          int64_t delta) {
  if (!impl_) return MovedFrom();
  absl::StatusOr<int64_t> result;
  absl::Status s = impl_->WithLock("Add", [&] {
    result = impl_->AddLocked(key, delta);
    return result.status();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<bool> ZeroCopyDict::CompareAndSwap(
    absl::string_view key, std::optional<absl::string_view> expected,
    absl::string_view desired) {
  return CompareAndSwap(key, expected, desired, ValueType::kBytes);
}

absl::StatusOr<bool> ZeroCopyDict::CompareAndSwap(
    absl::string_view key, std::optional<absl::string_view> expected,
    absl::string_view desired, ValueType type) {
  if (!impl_) return MovedFrom();
  absl::StatusOr<bool> result;
  absl::Status s = impl_->WithLock("CompareAndSwap", [&] {
    result = impl_->CompareAndSwapLocked(key, expected, desired, type);
    return result.status();
  });
  if (!s.ok()) return s;
  return result;
}

absl::Status ZeroCopyDict::Update(
    absl::string_view key,
    absl::FunctionRef<absl::Status(std::optional<absl::string_view> old,
                                   std::string* out)>
        fn) {
  if (!impl_) return MovedFrom();
  return impl_->WithLock("Update", [&] {
    return impl_->UpdateLocked(key, [&](std::optional<absl::string_view> old,
                                        std::string* out, bool* write) {
      *write = true;
      return fn(old, out);
    });
  });
}

absl::Status ZeroCopyDict::Write(absl::FunctionRef<absl::Status(Batch&)> fn) {
  if (!impl_) return MovedFrom();
  return impl_->WithLock("Write", [&] {
    Batch batch(impl_.get());
    return fn(batch);
  });
}

// Batch errors name the dict and "Write: <op>" (Annotate adds it once; the
// Write around them leaves it as it is).
absl::Status Batch::Put(absl::string_view key, absl::string_view value) {
  return impl_->Annotate("Write: Put", impl_->PutLocked(key, value));
}

absl::Status Batch::Put(absl::string_view key, absl::string_view value,
                        ValueType type) {
  return impl_->Annotate("Write: Put", impl_->PutLocked(key, value, type));
}

absl::Status Batch::Erase(absl::string_view key) {
  return impl_->Annotate("Write: Erase", impl_->EraseLocked(key));
}

absl::Status Batch::Get(absl::string_view key, std::string* value) const {
  return impl_->Annotate("Write: Get", impl_->GetUnderLock(key, value));
}

absl::Status Batch::Get(absl::string_view key, std::string* value,
                        ValueType* type) const {
  return impl_->Annotate("Write: Get", impl_->GetUnderLock(key, value, type));
}

absl::StatusOr<int64_t> Batch::Add(absl::string_view key, int64_t delta) {
  absl::StatusOr<int64_t> r = impl_->AddLocked(key, delta);
  if (!r.ok()) return impl_->Annotate("Write: Add", r.status());
  return r;
}

absl::StatusOr<bool> Batch::CompareAndSwap(
    absl::string_view key, std::optional<absl::string_view> expected,
    absl::string_view desired) {
  return CompareAndSwap(key, expected, desired, ValueType::kBytes);
}

absl::StatusOr<bool> Batch::CompareAndSwap(
    absl::string_view key, std::optional<absl::string_view> expected,
    absl::string_view desired, ValueType type) {
  absl::StatusOr<bool> r =
      impl_->CompareAndSwapLocked(key, expected, desired, type);
  if (!r.ok()) return impl_->Annotate("Write: CompareAndSwap", r.status());
  return r;
}

absl::Status ZeroCopyDict::Erase(absl::string_view key) {
  if (!impl_) return MovedFrom();
  return impl_->Erase(key);
}

absl::StatusOr<bool> ZeroCopyDict::Contains(absl::string_view key) const {
  if (!impl_) return MovedFrom();
  absl::Status s = impl_->Find("Contains", key, [](const index::Entry&) {});
  if (s.ok()) return true;
  if (absl::IsNotFound(s)) return false;
  return s;
}

uint64_t ZeroCopyDict::Size() const { return impl_ ? impl_->Size() : 0; }

absl::Status ZeroCopyDict::ForEach(
    absl::FunctionRef<void(absl::string_view key, absl::string_view value)> fn)
    const {
  if (!impl_) return MovedFrom();
  return impl_->ForEach(
      [fn](absl::string_view k, absl::string_view v, ValueType) { fn(k, v); });
}

absl::Status ZeroCopyDict::ForEachTyped(
    absl::FunctionRef<void(absl::string_view key, absl::string_view value,
                           ValueType type)>
        fn) const {
  if (!impl_) return MovedFrom();
  return impl_->ForEach(fn);
}

uint64_t ZeroCopyDict::ChangeSeq() const {
  return impl_ ? impl_->ChangeSeq() : 0;
}

absl::StatusOr<uint64_t> ZeroCopyDict::WaitForChange(
    uint64_t since, absl::Duration timeout) const {
  if (!impl_) return MovedFrom();
  return impl_->WaitForChange(since, timeout);
}

absl::StatusOr<uint64_t> ZeroCopyDict::ReadChanges(
    uint64_t since, absl::FunctionRef<void(const Change&)> fn) const {
  if (!impl_) return MovedFrom();
  return impl_->ReadChanges(since, fn);
}

Stats ZeroCopyDict::GetStats() const {
  return impl_ ? impl_->GetStats() : Stats();
}

AllocatorStats ZeroCopyDict::GetAllocatorStats() const {
  return impl_ ? impl_->GetAllocatorStats() : AllocatorStats();
}

absl::Status ZeroCopyDict::Reserve(uint64_t max_items, uint64_t heap_size) {
  if (!impl_) return MovedFrom();
  return impl_->Reserve(max_items, heap_size);
}

absl::Status ZeroCopyDict::Check() const {
  if (!impl_) return MovedFrom();
  return impl_->Check();
}

const std::string& ZeroCopyDict::name() const {
  static const std::string* const kEmpty = new std::string;
  return impl_ ? impl_->name() : *kEmpty;
}

}  // namespace zcipc
