#include "engine/dict/dict_impl.h"

#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/platform/platform.h"

namespace zcipc {
namespace internal {

namespace {

std::string Context(absl::string_view name, absl::string_view op) {
  return absl::StrCat("dict '", name, "': ", op);
}

}  // namespace

DictImpl::DictImpl(std::string name, const Options& options, char* base,
                   const layout::Geometry& geometry, int fd, int lock_fd)
    : name_(std::move(name)),
      options_(options),
      base_(base),
      geometry_(geometry),
      header_(reinterpret_cast<layout::Header*>(base)),
      journal_(base + layout::kJournalOffset),
      index_(base, geometry, header_),
      alloc_(base, &header_->allocator, geometry.heap_offset,
             geometry.heap_size),
      lock_(fd, lock_fd, header_, name_) {}

DictImpl::~DictImpl() { platform::Unmap(base_, geometry_.segment_size); }

std::string DictImpl::Where(absl::string_view op) const {
  return Context(name_, op);
}

absl::Status DictImpl::AnnotateError(absl::string_view op,
                                     absl::Status s) const {
  if (s.ok() || absl::IsNotFound(s) ||
      absl::StartsWith(s.message(), "dict '")) {
    return s;
  }
  return absl::Status(s.code(), absl::StrCat(Where(op), ": ", s.message()));
}

absl::Status DictImpl::Prefix(absl::string_view op, absl::Status s) const {
  return absl::Status(s.code(), absl::StrCat(Where(op), ": ", s.message()));
}

absl::Status DictImpl::KeyTooLong(absl::string_view op, uint64_t size) const {
  return absl::InvalidArgumentError(absl::StrCat(
      Where(op), ": key of ", size, " bytes exceeds ", kMaxKeySize));
}

absl::StatusOr<std::unique_ptr<DictImpl>> DictImpl::Create(
    absl::string_view name, const Options& options) {
  absl::Status s = layout::ValidateName(name);
  if (!s.ok()) return s;
  layout::Geometry g;
  s = layout::ComputeGeometry(options.max_items, options.heap_size, name, &g);
  if (!s.ok()) return s;
  std::string shm = layout::ShmName(name);
  absl::StatusOr<int> fd =
      platform::ShmCreateExclusive(shm, Context(name, "Create"));
  if (!fd.ok()) {
    if (absl::IsAlreadyExists(fd.status())) {
      return absl::AlreadyExistsError(
          absl::StrCat("dict '", name,
                       "' already exists (Create is "
                       "exclusive; use Attach or OpenOrCreate)"));
    }
    return fd.status();
  }
  auto fail = [&](absl::Status st) {
    platform::Close(*fd);
    platform::ShmUnlink(shm, "").IgnoreError();
    return st;
  };
  s = platform::ResizeAndReserve(*fd, g.segment_size,
                                 Context(name, "Create: reserve segment"));
  if (!s.ok()) return fail(s);
  absl::StatusOr<char*> base =
      platform::MapShared(*fd, g.segment_size, Context(name, "Create: mmap"));
  if (!base.ok()) return fail(base.status());

  // The file is all zeros: every slot is empty with an even sequence, every
  // counter 0. Fill the header, format the heap, publish the magic last.
  auto* h = new (*base) layout::Header;
  h->version = layout::kVersion;
  h->header_size = sizeof(layout::Header);
  h->fingerprint = layout::LayoutFingerprint();
  h->segment_size = g.segment_size;
  h->max_items = g.max_items;
  h->slot_count = g.slot_count;
  h->slots_offset = g.slots_offset;
  h->heap_offset = g.heap_offset;
  h->heap_size = g.heap_size;
  h->journal_offset = layout::kJournalOffset;
  h->created_unix_nanos = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  alloc::Allocator(*base, &h->allocator, g.heap_offset, g.heap_size).Format();
  absl::StatusOr<int> lock_fd =
      platform::Reopen(*fd, Context(name, "Create: open lock descriptor"));
  if (!lock_fd.ok()) {
    platform::Unmap(*base, g.segment_size);
    return fail(lock_fd.status());
  }
  // Pairs with the acquire load in ValidateHeader: an attacher that sees the
  // magic sees everything above.
  h->magic.store(layout::kMagic, std::memory_order_release);
  return std::unique_ptr<DictImpl>(
      new DictImpl(std::string(name), options, *base, g, *fd, *lock_fd));
}

absl::StatusOr<std::unique_ptr<DictImpl>> DictImpl::Attach(
    absl::string_view name, const Options& options) {
  absl::Status s = layout::ValidateName(name);
  if (!s.ok()) return s;
  std::string ctx = Context(name, "Attach");
  absl::StatusOr<int> fd = platform::ShmOpen(layout::ShmName(name), ctx);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) {
      return absl::NotFoundError(
          absl::StrCat("dict '", name, "' does not exist"));
    }
    return fd.status();
  }
  auto fail = [&](absl::Status st) {
    platform::Close(*fd);
    return st;
  };
  // Wait for the creator to publish the magic (it sizes the file, then fills
  // the header, then stores the magic with release).
  absl::Time deadline = absl::Now() + options.lock_timeout;
  uint64_t size = 0;
  for (;;) {
    absl::StatusOr<uint64_t> fsize = platform::FileSize(*fd, ctx);
    if (!fsize.ok()) return fail(fsize.status());
    size = *fsize;
    if (size >= layout::kHeaderRegionSize) {
      absl::StatusOr<char*> page =
          platform::MapShared(*fd, layout::kHeaderRegionSize, ctx);
      if (!page.ok()) return fail(page.status());
      uint64_t magic = reinterpret_cast<layout::Header*>(*page)->magic.load(
          std::memory_order_acquire);
      platform::Unmap(*page, layout::kHeaderRegionSize);
      if (magic != 0) break;  // published (or garbage: validated below)
    }
    if (absl::Now() >= deadline) {
      return fail(absl::DataLossError(absl::StrCat(
          "dict '", name, "': segment of ", size, " bytes has no header after ",
          absl::FormatDuration(options.lock_timeout),
          " (truncated, or its creator died; Unlink it)")));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::StatusOr<char*> base = platform::MapShared(*fd, size, ctx);
  if (!base.ok()) return fail(base.status());
  layout::Geometry g;
  s = layout::ValidateHeader(*reinterpret_cast<layout::Header*>(*base), size,
                             name, &g);
  absl::StatusOr<int> lock_fd = platform::Reopen(*fd, ctx);
  if (!s.ok() || !lock_fd.ok()) {
    platform::Unmap(*base, size);
    if (lock_fd.ok()) platform::Close(*lock_fd);
    return fail(s.ok() ? lock_fd.status() : s);
  }
  return std::unique_ptr<DictImpl>(
      new DictImpl(std::string(name), options, *base, g, *fd, *lock_fd));
}

absl::Status DictImpl::LockForWrite(absl::string_view op) {
  absl::Status s = lock_.Lock(options_.lock_timeout);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(Where(op), ": ", s.message()));
  }
  if (header_->intent.op.load(std::memory_order_acquire) !=
      static_cast<uint64_t>(layout::Op::kNone)) {
    s = Repair();
    if (!s.ok()) {
      lock_.Unlock();
      return absl::Status(s.code(),
                          absl::StrCat(Where(op), ": repair: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status DictImpl::RepairIfWriterDead() const {
  auto* self = const_cast<DictImpl*>(this);
  if (lock_.HeldByThisThread()) {
    // A read from inside this thread's own Write or Update callback: no
    // write is in progress (each Batch operation completes before it
    // returns), so an open sequence is a leftover: repair it ourselves.
    return self->Repair();
  }
  if (!lock_.TryLock()) return absl::OkStatus();  // the writer is alive
  // We hold the lock, so nobody is inside a write: a pending intent or an
  // odd sequence is a dead writer's leftover.
  absl::Status s = self->Repair();
  lock_.Unlock();
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat(Where("Get"), ": repair: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status DictImpl::Put(absl::string_view key, absl::string_view value) {
  if (ABSL_PREDICT_FALSE(key.size() > kMaxKeySize)) {
    return KeyTooLong("Put", key.size());
  }
  // Hashed before the lock: the lock is held for less time.
  const uint64_t hash = index::HashKey(key);
  absl::Status s = LockForWrite("Put");
  if (!s.ok()) return s;
  Located at;
  s = LocateHashed("Put", key, hash, &at);
  if (s.ok()) s = Store("Put", at, key, value);
  Unlock();
  return Annotate("Put", std::move(s));
}

absl::Status DictImpl::Erase(absl::string_view key) {
  absl::Status s = LockForWrite("Erase");
  if (!s.ok()) return s;
  s = EraseLocked(key);
  Unlock();
  return Annotate("Erase", std::move(s));
}

absl::Status DictImpl::GetLocked(absl::string_view key, std::string* value) {
  absl::Status s = LockForWrite("GetLocked");
  if (!s.ok()) return s;
  s = GetUnderLock(key, value);
  Unlock();
  return Annotate("GetLocked", std::move(s));
}

absl::Status DictImpl::StoreSlow(absl::string_view op, const Located& at,
                                 absl::string_view key,
                                 absl::string_view value) {
  if (value.size() > geometry_.heap_size) return HeapFull(op, value.size());
  if (at.found()) return Relocate(at.slot, at.block, at.hash, key, value);
  if (Size() >= geometry_.max_items) {
    return absl::ResourceExhaustedError(absl::StrCat(
        Where(op), ": table full (max_items ", geometry_.max_items, ")"));
  }
  if (at.insert_at == ~uint64_t{0}) {
    return absl::InternalError(
        absl::StrCat(Where(op), ": no free slot below max_items"));
  }
  return Insert(at.insert_at, at.hash, key, value);
}

absl::Status DictImpl::PutLocked(absl::string_view key,
                                 absl::string_view value) {
  Located at;
  absl::Status s = Locate("Put", key, &at);
  if (!s.ok()) return s;
  return Store("Put", at, key, value);
}

absl::Status DictImpl::EraseLocked(absl::string_view key) {
  Located at;
  absl::Status s = Locate("Erase", key, &at);
  if (!s.ok()) return s;
  if (!at.found()) return absl::NotFoundError("");
  return EraseSlot(at.slot, at.block);
}

absl::Status DictImpl::GetUnderLock(absl::string_view key,
                                    std::string* value) const {
  Located at;
  absl::Status s = Locate("Get", key, &at);
  if (!s.ok()) return s;
  if (!at.found()) return absl::NotFoundError("");
  value->resize(at.entry.value_len);
  relaxed::CopyFromShared(&(*value)[0], at.entry.value, at.entry.value_len);
  return absl::OkStatus();
}

absl::Status DictImpl::UpdateLocked(absl::string_view op, absl::string_view key,
                                    const UpdateFn& fn) {
  Located at;
  absl::Status s = Locate(op, key, &at);
  if (!s.ok()) return s;
  std::optional<absl::string_view> old;
  // The lock holder is the only writer: the old value is stable to read in
  // place (and readers only read).
  if (at.found()) old = absl::string_view(at.entry.value, at.entry.value_len);
  std::string out;
  bool write = true;
  s = fn(old, &out, &write);
  if (!s.ok() || !write) return s;
  return Store(op, at, key, out);
}

absl::Status DictImpl::WithLock(absl::string_view op,
                                absl::FunctionRef<absl::Status()> fn) {
  absl::Status s = LockForWrite(op);
  if (!s.ok()) return s;
  s = fn();
  Unlock();
  return Annotate(op, std::move(s));
}

absl::Status DictImpl::ForEach(
    absl::FunctionRef<void(absl::string_view, absl::string_view)> fn) const {
  // Keys already passed to fn: a key erased from a visited slot and
  // re-inserted further on, or moved by a purge (which restarts the scan),
  // is not passed twice.
  absl::flat_hash_set<std::string> emitted;
  std::string key, value;
  auto on_stall = [this] { return RepairIfWriterDead(); };
  index::Backoff backoff(on_stall);
  for (;;) {
    uint64_t ts = seqlock::ReadBegin(header_->table_seq);
    if (seqlock::IsWriting(ts)) {
      absl::Status s = backoff.Wait();
      if (!s.ok()) return s;
      continue;
    }
    bool restart = false;
    for (uint64_t i = 0; i < index_.slot_count() && !restart;) {
      const layout::Slot& slot = index_.slot(i);
      uint64_t s1 = seqlock::ReadBegin(slot.seq);
      if (seqlock::IsWriting(s1)) {
        absl::Status s = backoff.Wait();
        if (!s.ok()) return s;
        continue;
      }
      uint64_t block = slot.block.load(std::memory_order_relaxed);
      if (block == layout::kEmptyBlock || block == layout::kTombstoneBlock) {
        ++i;
        continue;
      }
      index::Entry e;
      bool parsed = index_.ParseEntry(block, &e);
      if (parsed) {
        key.resize(e.key_len);
        relaxed::CopyFromShared(&key[0], e.key, e.key_len);
        value.resize(e.value_len);
        relaxed::CopyFromShared(&value[0], e.value, e.value_len);
      }
      if (!seqlock::ReadValidate(slot.seq, s1)) {
        backoff.Retry();
        continue;
      }
      if (!seqlock::Unchanged(header_->table_seq, ts)) {
        backoff.Retry();
        restart = true;
        continue;
      }
      if (!parsed) {
        return absl::DataLossError(absl::StrCat(  // names the dict
            Where("ForEach"), ": slot ", i, " points at a corrupt block ",
            block));
      }
      if (emitted.insert(key).second) fn(key, value);
      ++i;
    }
    if (!restart) return absl::OkStatus();
  }
}

Stats DictImpl::GetStats() const {
  Stats st;
  st.name = name_;
  st.format_version = header_->version;
  st.segment_size = geometry_.segment_size;
  st.max_items = geometry_.max_items;
  st.slot_count = geometry_.slot_count;
  st.size = header_->size.load(std::memory_order_relaxed);
  st.tombstones = header_->tombstones.load(std::memory_order_relaxed);
  st.load_factor =
      static_cast<double>(st.size) / static_cast<double>(st.slot_count);
  st.heap_size = geometry_.heap_size;
  st.heap_used = header_->allocator.used_bytes.load(std::memory_order_relaxed);
  st.heap_free = header_->allocator.free_bytes.load(std::memory_order_relaxed);
  st.writes_total = header_->writes_total.load(std::memory_order_relaxed);
  st.purges_total = header_->purges_total.load(std::memory_order_relaxed);
  st.repairs_total = header_->repairs_total.load(std::memory_order_relaxed);
  st.writer_pid = header_->lock_owner_pid.load(std::memory_order_relaxed);
  st.read_retries = read_retries_.load(std::memory_order_relaxed);
  return st;
}

AllocatorStats DictImpl::GetAllocatorStats() {
  if (!LockForWrite("GetAllocatorStats").ok()) {
    AllocatorStats st;
    st.heap_size = geometry_.heap_size;
    const layout::AllocatorControl& c = header_->allocator;
    st.used_blocks = c.used_blocks.load(std::memory_order_relaxed);
    st.used_bytes = c.used_bytes.load(std::memory_order_relaxed);
    st.free_blocks = c.free_blocks.load(std::memory_order_relaxed);
    st.free_bytes = c.free_bytes.load(std::memory_order_relaxed);
    st.exact = false;
    return st;
  }
  AllocatorStats st = alloc_.Stats();
  Unlock();
  return st;
}

absl::Status DictImpl::Check() {
  absl::Status s = LockForWrite("Check");
  if (!s.ok()) return s;
  s = CheckLocked();
  Unlock();
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat(Where("Check"), ": ", s.message()));
  }
  return s;
}

}  // namespace internal
}  // namespace zcipc
