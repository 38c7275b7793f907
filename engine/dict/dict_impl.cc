#include "engine/dict/dict_impl.h"

#include <algorithm>
#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/platform/platform.h"

namespace zcipc {
namespace internal {

namespace {

std::string Context(absl::string_view name, absl::string_view op) {
  return absl::StrCat("dict '", name, "': ", op);
}

// Maps the dict with room to grow: max_segment_size bytes of address space
// (docs/DESIGN.md, "Online growth"). A process that may not have that much
// (ulimit -v) is told so.
absl::StatusOr<char*> MapReserved(int fd, uint64_t max_segment_size) {
  absl::StatusOr<char*> mapped =
      platform::MapShared(fd, max_segment_size, "mmap");
  if (mapped.ok() || !absl::IsResourceExhausted(mapped.status())) {
    return mapped;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "cannot reserve ", max_segment_size,
      " bytes of address space (the dict's max_segment_size, which every "
      "process maps so that the dict can grow): ",
      mapped.status().message(),
      "; raise this process's address-space limit (ulimit -v) or create the "
      "dict with a smaller max_segment_size"));
}

}  // namespace

DictImpl::DictImpl(std::string name, const Options& options, char* base,
                   const layout::Geometry& geometry, int fd)
    : name_(std::move(name)),
      options_(options),
      base_(base),
      geometry_(geometry),
      header_(reinterpret_cast<layout::Header*>(base)),
      journal_(base + layout::kJournalOffset),
      index_(base, geometry, header_, fd),
      alloc_(base, &header_->allocator, geometry.heap_offset,
             header_->heap_size_now.load(std::memory_order_acquire)),
      changes_(base, geometry, header_),
      lock_(fd, header_,
            reinterpret_cast<layout::Registration*>(base +
                                                    layout::kRegistryOffset)),
      read_timeout_nanos_(static_cast<uint64_t>(std::max<int64_t>(
          0, absl::ToInt64Nanoseconds(options.lock_timeout)))),
      fd_(fd),
      // Not the epoch now: the first write reloads the view (RefreshView).
      view_epoch_(header_->grow_epoch.load(std::memory_order_acquire) - 1) {
  // The heap and the table as they are now, if the dict grew.
  index_.RefreshBounds();
  const uint64_t table = header_->table.load(std::memory_order_acquire);
  if (layout::TableWordValid(table, geometry_.slots_offset,
                             geometry_.slot_count, geometry_.heap_offset,
                             index_.heap_end())) {
    index_.SetWriterTable(table);
    index_.LoadView();
  }
}

DictImpl::~DictImpl() { platform::Unmap(base_, geometry_.max_segment_size); }

std::string DictImpl::Where(absl::string_view op) const {
  return Context(name_, op);
}

absl::Status DictImpl::AnnotateError(absl::string_view op,
                                     absl::Status s) const {
  // A missing key's NotFound has no message and stays that way.
  if (absl::IsNotFound(s) && s.message().empty()) return s;
  return internal::WithContext(Where(op), std::move(s));
}

absl::Status DictImpl::KeyTooLong(uint64_t size) {
  return Error(absl::StatusCode::kInvalidArgument, ErrorKind::kKeyTooLong,
               absl::StrCat("key of ", size, " bytes exceeds ", kMaxKeySize));
}

absl::Status DictImpl::TableFull() const {
  return Error(absl::StatusCode::kResourceExhausted, ErrorKind::kTableFull,
               absl::StrCat("table full (max_items ", Capacity(),
                            options_.auto_grow ? ")" : "; auto_grow is off)"));
}

absl::Status DictImpl::HeapFull(uint64_t needed) const {
  return Error(absl::StatusCode::kResourceExhausted, ErrorKind::kHeapFull,
               absl::StrCat("heap full: no free block of ", needed, " bytes (",
                            header_->allocator.free_bytes.load(
                                std::memory_order_relaxed),
                            " bytes free of ", HeapSizeNow(),
                            options_.auto_grow ? ")" : "; auto_grow is off)"));
}

absl::Status DictImpl::ReadTimeout() const {
  int64_t pid = 0;
  if (!lock_.HeldByAnyone(&pid)) {
    pid = header_->lock_owner_pid.load(std::memory_order_relaxed);
  }
  return Error(
      absl::StatusCode::kDeadlineExceeded, ErrorKind::kReadTimeout,
      absl::StrCat("a lock-free read waited ",
                   absl::FormatDuration(options_.lock_timeout),
                   " for an entry that the writer (pid ", pid,
                   ") left half-written; that writer holds the writer lock "
                   "but makes no progress (stopped or being debugged?)"),
      pid);
}

absl::StatusOr<std::unique_ptr<DictImpl>> DictImpl::Create(
    absl::string_view name, const Options& options) {
  const std::string ctx = Context(name, "Create");
  absl::Status s = layout::ValidateName(name);
  if (!s.ok()) return WithContext(ctx, s);
  layout::Geometry g;
  s = layout::ComputeGeometry(options.max_items, options.heap_size,
                              options.change_log_bytes, &g);
  if (!s.ok()) return WithContext(ctx, s);
  if (options.max_segment_size > kMaxSegmentSize) {
    return WithContext(
        ctx, Error(absl::StatusCode::kInvalidArgument, ErrorKind::kBadOptions,
                   absl::StrCat("max_segment_size ", options.max_segment_size,
                                " out of range [0, ", kMaxSegmentSize, "]")));
  }
  {
    // The default bound: what the file system holding the dict can hold.
    uint64_t bound = options.max_segment_size != 0
                         ? options.max_segment_size
                         : platform::FileSystemSize(platform::kShmDir);
    bound = std::min(bound, kMaxSegmentSize);
    bound =
        (bound + layout::kPageSize - 1) / layout::kPageSize * layout::kPageSize;
    g.max_segment_size = std::max(bound, g.segment_size);
  }
  const std::string shm = layout::ShmName(name);
  auto exists = [&] {
    return WithContext(
        ctx, absl::AlreadyExistsError(
                 "the dict already exists (Create is exclusive; use Attach "
                 "or OpenOrCreate)"));
  };
  // Cheap early answer; the link below is what decides.
  if (platform::ShmExists(shm)) return exists();

  // Creation is atomic (docs/DESIGN.md, "Creating and attaching"): format a
  // file under a temporary name, then link it to the dict's name.
  absl::StatusOr<platform::TempShm> temp = platform::ShmCreateTemp("create");
  if (!temp.ok()) return WithContext(ctx, temp.status());
  char* base = nullptr;
  auto fail = [&](absl::Status st) {
    if (base != nullptr) platform::Unmap(base, g.max_segment_size);
    platform::Close(temp->fd);
    platform::ShmDiscardTemp(*temp);
    return WithContext(ctx, std::move(st));
  };
  s = platform::ResizeAndReserve(temp->fd, g.segment_size, "reserve segment");
  if (!s.ok()) return fail(s);
  absl::StatusOr<char*> mapped = MapReserved(temp->fd, g.max_segment_size);
  if (!mapped.ok()) return fail(mapped.status());
  base = *mapped;

  // The file is all zeros: every slot is empty with an even sequence, every
  // counter 0. Fill the header, format the heap, set the magic.
  auto* h = new (base) layout::Header;
  h->version = kFormatVersion;
  h->header_size = sizeof(layout::Header);
  h->fingerprint = layout::LayoutFingerprint();
  h->segment_size = g.segment_size;
  h->max_items = g.max_items;
  h->slot_count = g.slot_count;
  h->slots_offset = g.slots_offset;
  h->heap_offset = g.heap_offset;
  h->heap_size = g.heap_size;
  h->journal_offset = layout::kJournalOffset;
  h->change_log_bytes = g.change_log_bytes;
  h->change_log_offset = g.change_log_offset;
  h->created_unix_nanos = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  h->max_segment_size = g.max_segment_size;
  h->table.store(layout::TableWord(g.slots_offset, g.slot_count),
                 std::memory_order_relaxed);
  h->capacity.store(g.max_items, std::memory_order_relaxed);
  h->heap_size_now.store(g.heap_size, std::memory_order_relaxed);
  alloc::Allocator(base, &h->allocator, g.heap_offset, g.heap_size).Format();
  h->magic.store(layout::kMagic, std::memory_order_release);

  s = platform::ShmPublish(*temp, shm, "link into place");
  if (absl::IsAlreadyExists(s)) {
    // Lost a race with another creator. The temporary name is gone.
    platform::Unmap(base, g.max_segment_size);
    platform::Close(temp->fd);
    return exists();
  }
  if (!s.ok()) return fail(s);
  // Map the file again through its real name, so that /proc/PID/maps and
  // lsof show the dict's name rather than the removed temporary one. If the
  // name no longer leads to this file (unlinked and replaced already), keep
  // the mapping we have: the handle works either way.
  int fd = temp->fd;
  absl::StatusOr<int> named = platform::ShmOpen(shm, "");
  if (named.ok() && platform::SameFile(*named, fd)) {
    absl::StatusOr<char*> remapped = MapReserved(*named, g.max_segment_size);
    if (remapped.ok()) {
      platform::Unmap(base, g.max_segment_size);
      platform::Close(fd);
      base = *remapped;
      fd = *named;
    } else {
      platform::Close(*named);
    }
  } else if (named.ok()) {
    platform::Close(*named);
  }
  return std::unique_ptr<DictImpl>(
      new DictImpl(std::string(name), options, base, g, fd));
}

absl::StatusOr<std::unique_ptr<DictImpl>> DictImpl::Attach(
    absl::string_view name, const Options& options) {
  const std::string ctx = Context(name, "Attach");
  absl::Status s = layout::ValidateName(name);
  if (!s.ok()) return WithContext(ctx, s);
  const std::string shm = layout::ShmName(name);
  absl::StatusOr<int> fd = platform::ShmOpen(shm, "");
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) {
      return absl::NotFoundError(
          absl::StrCat("dict '", name, "' does not exist"));
    }
    return WithContext(ctx, fd.status());
  }
  char* base = nullptr;
  uint64_t size = 0;
  auto fail = [&](absl::Status st) {
    if (base != nullptr) platform::Unmap(base, size);
    platform::Close(*fd);
    return WithContext(ctx, std::move(st));
  };
  absl::StatusOr<uint64_t> fsize = platform::FileSize(*fd, "fstat");
  if (!fsize.ok()) return fail(fsize.status());
  size = *fsize;
  // A dict appears under its name complete (Create links it into place), so
  // a short or headerless file is nobody's dict in the making: say so now.
  const std::string path = absl::StrCat(platform::kShmDir, shm);
  if (size < layout::kHeaderRegionSize) {
    return fail(Error(
        absl::StatusCode::kDataLoss, ErrorKind::kNoHeader,
        absl::StrCat(path, " is ", size,
                     " bytes, too short for a zcipc header: not a dict (a "
                     "dict is published whole, so nobody is creating this "
                     "one); remove it with `zcipc unlink ",
                     name, "`")));
  }
  absl::StatusOr<char*> mapped = platform::MapShared(*fd, size, "mmap");
  if (!mapped.ok()) return fail(mapped.status());
  base = *mapped;
  const auto& header = *reinterpret_cast<layout::Header*>(base);
  if (header.magic.load(std::memory_order_acquire) == 0) {
    return fail(Error(absl::StatusCode::kDataLoss, ErrorKind::kNoHeader,
                      absl::StrCat(path,
                                   " has no zcipc header (its magic is 0): "
                                   "not a dict, or its creator was an older "
                                   "build that died; remove it with `zcipc "
                                   "unlink ",
                                   name, "`")));
  }
  layout::Geometry g;
  s = layout::ValidateHeader(header, size, &g);
  if (!s.ok()) return fail(Prefixed(path, std::move(s)));
  // Map it again with room to grow (docs/DESIGN.md, "Online growth").
  absl::StatusOr<char*> reserved = MapReserved(*fd, g.max_segment_size);
  if (!reserved.ok()) return fail(reserved.status());
  platform::Unmap(base, size);
  base = *reserved;
  size = g.max_segment_size;
  // The header again, in the mapping that stays: the dict may have grown
  // meanwhile.
  fsize = platform::FileSize(*fd, "fstat");
  if (!fsize.ok()) return fail(fsize.status());
  s = layout::ValidateHeader(*reinterpret_cast<layout::Header*>(base), *fsize,
                             &g);
  if (!s.ok()) return fail(Prefixed(path, std::move(s)));
  if (g.max_segment_size != size) {
    return fail(CorruptError("max_segment_size changed"));
  }
  return std::unique_ptr<DictImpl>(
      new DictImpl(std::string(name), options, base, g, *fd));
}

absl::Status DictImpl::Lock() {
  absl::Status s = lock_.Lock(options_.lock_timeout);
  if (ABSL_PREDICT_FALSE(!s.ok())) return s;
  if (ABSL_PREDICT_FALSE(header_->grow_epoch.load(std::memory_order_acquire) !=
                         view_epoch_)) {
    // The dict grew (or a repair changed it) since this handle last wrote.
    s = RefreshView();
    if (!s.ok()) {
      lock_.Unlock();
      return s;
    }
  }
  if (ABSL_PREDICT_FALSE(header_->intent.op.load(std::memory_order_acquire) !=
                         static_cast<uint64_t>(layout::Op::kNone))) {
    s = Repair();
    if (!s.ok()) {
      lock_.Unlock();
      return Prefixed("repair", std::move(s));
    }
  }
  if (ABSL_PREDICT_FALSE(index_.migrating())) {
    // Each write moves the migration to a larger table on by one step.
    bool done;
    s = MigrateStep(kZeroStep, kCopyStep, &done);
    if (!s.ok()) {
      // No room to build it (a full /dev/shm): the old table serves.
      if (absl::IsResourceExhausted(s)) s = AbandonMigration();
      if (!s.ok()) {
        lock_.Unlock();
        return s;
      }
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
    return Prefixed("repair", self->Repair());
  }
  lock::WriterLock::TryGuard guard(&lock_);
  if (!guard.locked()) return absl::OkStatus();  // the writer is alive
  // We hold the lock, so nobody is inside a write: a pending intent or an
  // odd sequence is a dead writer's leftover.
  return Prefixed("repair", self->Repair());
}

absl::Status DictImpl::Put(absl::string_view key, absl::string_view value,
                           ValueType type) {
  if (ABSL_PREDICT_FALSE(key.size() > kMaxKeySize)) {
    return Annotate("Put", KeyTooLong(key.size()));
  }
  // Hashed before the lock: the lock is held for less time.
  const uint64_t hash = index::HashKey(key);
  WriteGuard guard(this);
  if (!guard.status().ok()) return Annotate("Put", guard.status());
  Located at;
  absl::Status s = LocateHashed(key, hash, &at);
  if (s.ok()) s = Store(at, key, value, type);
  return Annotate("Put", std::move(s));
}

absl::Status DictImpl::Erase(absl::string_view key) {
  return WithLock("Erase", [&] { return EraseLocked(key); });
}

absl::Status DictImpl::GetLocked(absl::string_view key, std::string* value) {
  return WithLock("GetLocked", [&] { return GetUnderLock(key, value); });
}

absl::Status DictImpl::StoreSlow(const Located& at, absl::string_view key,
                                 absl::string_view value, ValueType type) {
  if (value.size() > geometry_.max_segment_size) return HeapFull(value.size());
  // Where a new key goes; MakeRoomForInsert may move it to a new table.
  Located again;
  const Located* where = &at;
  if (!at.found() && (Size() >= Capacity() || index_.migrating())) {
    bool retable = false;
    absl::Status s = MakeRoomForInsert(&retable);
    if (!s.ok()) return s;
    if (retable) {
      s = LocateHashed(key, at.hash, &again);
      if (!s.ok()) return s;
      where = &again;
    }
  }
  if (!at.found() && where->insert_at == ~uint64_t{0}) {
    return Error(absl::StatusCode::kDataLoss, ErrorKind::kCorrupt,
                 "no free slot below max_items");
  }
  // A relocation or an insert; tried again once after the heap grew (the
  // table is unchanged by that, so the slot is still right).
  auto store = [&] {
    return at.found() ? Relocate(at.slot, at.block, at.hash, key, value, type)
                      : Insert(where->insert_at, where->hash, key, value, type);
  };
  absl::Status s = store();
  if (ABSL_PREDICT_TRUE(s.ok()) || !options_.auto_grow ||
      GetErrorKind(s) != ErrorKind::kHeapFull) {
    return s;
  }
  s = GrowHeap(alloc::Allocator::BlockSizeFor(
      index::EntryPayload(key.size(), value.size())));
  if (!s.ok()) return s;
  return store();
}

absl::Status DictImpl::PutLocked(absl::string_view key, absl::string_view value,
                                 ValueType type) {
  Located at;
  absl::Status s = Locate(key, &at);
  if (!s.ok()) return s;
  return Store(at, key, value, type);
}

absl::Status DictImpl::EraseLocked(absl::string_view key) {
  Located at;
  absl::Status s = Locate(key, &at);
  if (!s.ok()) return s;
  if (!at.found()) return absl::NotFoundError("");
  return EraseSlot(at.slot, at.block, key);
}

absl::Status DictImpl::GetUnderLock(absl::string_view key, std::string* value,
                                    ValueType* type) const {
  Located at;
  absl::Status s = Locate(key, &at);
  if (!s.ok()) return s;
  if (!at.found()) return absl::NotFoundError("");
  if (type != nullptr) *type = at.entry.type;
  value->resize(at.entry.value_len);
  relaxed::CopyFromShared(&(*value)[0], at.entry.value, at.entry.value_len);
  return absl::OkStatus();
}

absl::Status DictImpl::UpdateLocked(absl::string_view key, const UpdateFn& fn,
                                    ValueType store_type, ValueType* old_type) {
  Located at;
  absl::Status s = Locate(key, &at);
  if (!s.ok()) return s;
  std::optional<absl::string_view> old;
  // The lock holder is the only writer: the old value is stable to read in
  // place (and readers only read).
  if (at.found()) old = absl::string_view(at.entry.value, at.entry.value_len);
  if (old_type != nullptr) {
    *old_type = at.found() ? at.entry.type : ValueType::kBytes;
  }
  std::string out;
  bool write = true;
  s = fn(old, &out, &write);
  if (!s.ok() || !write) return s;
  return Store(at, key, out, store_type);
}

absl::Status DictImpl::WithLock(absl::string_view op,
                                absl::FunctionRef<absl::Status()> fn) {
  WriteGuard guard(this);
  if (!guard.status().ok()) return Annotate(op, guard.status());
  return Annotate(op, fn());
}

absl::StatusOr<uint64_t> DictImpl::WaitForChange(uint64_t since,
                                                 absl::Duration timeout) const {
  layout::Header& h = *header_;
  uint64_t seq = h.change_seq.load(std::memory_order_acquire);
  if (seq > since) return seq;
  const absl::Time deadline = absl::Now() + timeout;
  // Registered as a waiter before reading the word and the sequence again:
  // a writer either sees the registration (and wakes us) or published its
  // change before we read (and we return, or the futex sees the word
  // changed). docs/DESIGN.md, "The change feed".
  h.change_waiters.fetch_add(1, std::memory_order_seq_cst);
  struct Unregister {
    layout::Header& h;
    ~Unregister() { h.change_waiters.fetch_sub(1, std::memory_order_seq_cst); }
  } unregister{h};
  for (;;) {
    const uint32_t word = h.change_word.load(std::memory_order_seq_cst);
    seq = h.change_seq.load(std::memory_order_acquire);
    if (seq > since) return seq;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return Annotate(
          "WaitForChange",
          absl::DeadlineExceededError(absl::StrCat(
              "no change after ", since, " within ",
              absl::FormatDuration(timeout), " (the last is ", seq, ")")));
    }
    // Bounded sleeps: a waiter never depends on one wake-up alone. A sleep
    // that ran out its bound although a change had been published was a
    // lost wake-up: counted (Stats::change_wait_rescues), so tests can
    // show the protocol loses none.
    const absl::Duration bound = std::min(left, absl::Milliseconds(100));
    if (platform::FutexWait(&h.change_word, word, bound) &&
        bound == absl::Milliseconds(100) &&
        h.change_seq.load(std::memory_order_acquire) > since) {
      wait_rescues_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

absl::StatusOr<uint64_t> DictImpl::ReadChanges(
    uint64_t since, absl::FunctionRef<void(const Change&)> fn) const {
  absl::StatusOr<uint64_t> r = changes_.Read(
      since, header_->change_seq.load(std::memory_order_acquire), fn);
  if (ABSL_PREDICT_TRUE(r.ok())) return r;
  return Annotate("ReadChanges", r.status());
}

absl::Status DictImpl::ForEach(
    absl::FunctionRef<void(absl::string_view, absl::string_view, ValueType)> fn)
    const {
  // Keys already passed to fn: a key erased from a visited slot and
  // re-inserted further on, or moved by a purge (which restarts the scan),
  // is not passed twice.
  absl::flat_hash_set<std::string> emitted;
  std::string key, value;
  auto on_stall = [this] { return RepairIfWriterDead(); };
  auto on_timeout = [this] { return ReadTimeout(); };
  index::Backoff backoff(on_stall, on_timeout, read_timeout_nanos_);
  for (;;) {
    uint64_t ts = seqlock::ReadBegin(header_->table_seq);
    if (seqlock::IsWriting(ts)) {
      absl::Status s = backoff.Wait();
      if (!s.ok()) return Annotate("ForEach", std::move(s));
      continue;
    }
    index::Table table;
    if (!index_.LoadTable(&table)) {
      if (!seqlock::Unchanged(header_->table_seq, ts)) continue;
      return Annotate("ForEach",
                      CorruptError("the table word is out of bounds"));
    }
    bool restart = false;
    for (uint64_t i = 0; i < table.slot_count() && !restart;) {
      const layout::Slot& slot = table.slot(i);
      uint64_t s1 = seqlock::ReadBegin(slot.seq);
      if (seqlock::IsWriting(s1)) {
        absl::Status s = backoff.Wait();
        if (!s.ok()) return Annotate("ForEach", std::move(s));
        // A table replaced meanwhile may hold anything: start again.
        restart = !seqlock::Unchanged(header_->table_seq, ts);
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
        if (index_.RefreshBounds()) continue;  // the heap grew
        return Annotate(
            "ForEach",
            Error(absl::StatusCode::kDataLoss, ErrorKind::kCorrupt,
                  absl::StrCat("slot ", i, " points at a corrupt block ",
                               block)));
      }
      if (emitted.insert(key).second) fn(key, value, e.type);
      ++i;
    }
    if (!restart) return absl::OkStatus();
  }
}

Stats DictImpl::GetStats() const {
  Stats st;
  st.name = name_;
  st.format_version = header_->version;
  const uint64_t heap_now = HeapSizeNow();
  st.segment_size =
      std::max(geometry_.segment_size, geometry_.heap_offset + heap_now);
  // During a migration the dict already takes the inserts the new table is
  // for: its capacity is the new table's.
  const uint64_t migrate =
      header_->migrate_table.load(std::memory_order_relaxed);
  st.max_items = migrate != 0 ? layout::CapacityOf(uint64_t{1}
                                                   << layout::TableLog(migrate))
                              : Capacity();
  st.slot_count = uint64_t{1} << layout::TableLog(
                      header_->table.load(std::memory_order_relaxed));
  st.size = header_->size.load(std::memory_order_relaxed);
  st.tombstones = header_->tombstones.load(std::memory_order_relaxed);
  st.load_factor =
      static_cast<double>(st.size) / static_cast<double>(st.slot_count);
  // The heap's figures are for keys and values: a grown table's block
  // (and one being built) is left out.
  uint64_t table_blocks = 0;
  const uint64_t table_bytes = TableBlockBytes(&table_blocks);
  st.heap_size = heap_now - std::min(heap_now, table_bytes);
  st.heap_used = header_->allocator.used_bytes.load(std::memory_order_relaxed);
  st.heap_used -= std::min(st.heap_used, table_bytes);
  st.heap_free = header_->allocator.free_bytes.load(std::memory_order_relaxed);
  st.writes_total = header_->writes_total.load(std::memory_order_relaxed);
  st.purges_total = header_->purges_total.load(std::memory_order_relaxed);
  st.repairs_total = header_->repairs_total.load(std::memory_order_relaxed);
  st.change_seq = header_->change_seq.load(std::memory_order_relaxed);
  st.oldest_retained_change = changes_.OldestRetained();
  st.change_log_bytes = geometry_.change_log_bytes;
  st.writer_pid = header_->lock_owner_pid.load(std::memory_order_relaxed);
  st.read_retries = read_retries_.load(std::memory_order_relaxed);
  st.change_wait_rescues = wait_rescues_.load(std::memory_order_relaxed);
  st.grows_total = header_->grows_total.load(std::memory_order_relaxed);
  st.max_segment_size = geometry_.max_segment_size;
  st.growing = migrate != 0;
  return st;
}

uint64_t DictImpl::TableBlockBytes(uint64_t* blocks) const {
  uint64_t bytes = 0;
  *blocks = 0;
  const uint64_t end = index_.heap_end();
  const layout::Header& h = *header_;
  const std::pair<uint64_t, uint64_t> tables[] = {
      {h.table_block.load(std::memory_order_relaxed),
       h.table.load(std::memory_order_relaxed)},
      {h.migrate_block.load(std::memory_order_relaxed),
       h.migrate_table.load(std::memory_order_relaxed)}};
  for (const auto& [block, word] : tables) {
    // Read without the lock: bounds-checked, and counted only when the
    // block holds the table its word names (else 0: a record in flux or
    // corrupt).
    if (block < geometry_.heap_offset || block % layout::kAlign != 0 ||
        block > end - layout::kMinBlock || word == 0) {
      continue;
    }
    const uint64_t tag = relaxed::Load64(base_ + block);
    const uint64_t size = tag & ~(layout::kAlign - 1);
    if ((tag & alloc::kFreeBit) != 0 || size > end - block ||
        !layout::TableInBlock(word, block, size)) {
      continue;
    }
    bytes += size;
    ++*blocks;
  }
  return bytes;
}

AllocatorStats DictImpl::GetAllocatorStats() {
  AllocatorStats st;
  {
    WriteGuard guard(this);
    if (guard.status().ok()) {
      st = alloc_.Stats();
    } else {
      st.heap_size = HeapSizeNow();
      const layout::AllocatorControl& c = header_->allocator;
      st.used_blocks = c.used_blocks.load(std::memory_order_relaxed);
      st.used_bytes = c.used_bytes.load(std::memory_order_relaxed);
      st.free_blocks = c.free_blocks.load(std::memory_order_relaxed);
      st.free_bytes = c.free_bytes.load(std::memory_order_relaxed);
      st.exact = false;
    }
  }
  // As in GetStats: a grown table's block is not the entries' heap.
  uint64_t blocks = 0;
  const uint64_t bytes = TableBlockBytes(&blocks);
  st.heap_size -= std::min(st.heap_size, bytes);
  st.used_bytes -= std::min(st.used_bytes, bytes);
  st.used_blocks -= std::min(st.used_blocks, blocks);
  return st;
}

absl::Status DictImpl::Check() {
  return WithLock("Check", [&] { return CheckLocked(); });
}

}  // namespace internal
}  // namespace zcipc
