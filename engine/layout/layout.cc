#include "engine/layout/layout.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/status/status.h"
#include "zcipc/options.h"

namespace zcipc {
namespace layout {

namespace {

constexpr uint64_t RoundUp(uint64_t x, uint64_t to) {
  return (x + to - 1) / to * to;
}

// FNV-1a over 64-bit words: the fingerprint only has to differ when the
// layout does, and be stable across builds that agree.
constexpr uint64_t Mix(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h;
}

constexpr uint64_t ComputeFingerprint() {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t v : {uint64_t{sizeof(Header)},
                     uint64_t{sizeof(Slot)},
                     uint64_t{sizeof(Intent)},
                     uint64_t{sizeof(AllocatorControl)},
                     uint64_t{kCacheLineSize},
                     uint64_t{kPageSize},
                     kHashId,
                     kHashSeed,
                     uint64_t{kAlignLog},
                     uint64_t{kSLLog},
                     uint64_t{kFLCount},
                     kMinBlock,
                     kEntryHeaderSize,
                     kJournalBytes,
                     kMaxLoadNum,
                     kMaxLoadDen,
                     uint64_t{kMaxWriters},
                     uint64_t{sizeof(Registration)},
                     kRegistryOffset,
                     kRegistryBytes,
                     kMarkStride,
                     kMinChangeRecord,
                     uint64_t{offsetof(Header, change_log_bytes)},
                     uint64_t{offsetof(Header, log_head)},
                     uint64_t{offsetof(Header, table_seq)},
                     uint64_t{offsetof(Header, intent)},
                     uint64_t{offsetof(Header, change_seq)},
                     uint64_t{offsetof(Header, allocator)},
                     uint64_t{offsetof(Header, table)},
                     uint64_t{offsetof(Header, max_segment_size)},
                     uint64_t{offsetof(Header, grow_epoch)},
                     uint64_t{offsetof(Header, capacity)},
                     uint64_t{offsetof(Header, migrate_tombstones)},
                     kTableAlign,
                     uint64_t{sizeof(void*)}}) {
    h = Mix(h, v);
  }
  return h;
}

}  // namespace

uint64_t LayoutFingerprint() {
  static constexpr uint64_t kFingerprint = ComputeFingerprint();
  return kFingerprint;
}

absl::Status ComputeGeometry(uint64_t max_items, uint64_t heap_size,
                             uint64_t change_log_bytes, Geometry* out) {
  if (max_items == 0 || max_items > kMaxItems) {
    return internal::Error(absl::StatusCode::kInvalidArgument,
                           ErrorKind::kBadOptions,
                           absl::StrCat("max_items ", max_items,
                                        " out of range [1, ", kMaxItems, "]"));
  }
  if (heap_size < kMinHeapSize || heap_size > kMaxHeapSize) {
    return internal::Error(
        absl::StatusCode::kInvalidArgument, ErrorKind::kBadOptions,
        absl::StrCat("heap_size ", heap_size, " out of range [", kMinHeapSize,
                     ", ", kMaxHeapSize, "]"));
  }
  if (change_log_bytes != 0 && (change_log_bytes < kMinChangeLogBytes ||
                                change_log_bytes > kMaxChangeLogBytes)) {
    return internal::Error(
        absl::StatusCode::kInvalidArgument, ErrorKind::kBadOptions,
        absl::StrCat("change_log_bytes ", change_log_bytes,
                     " out of range: 0 (no change log) or [",
                     kMinChangeLogBytes, ", ", kMaxChangeLogBytes, "]"));
  }
  // Smallest power of two with max_items / slot_count <= 3/4.
  uint64_t needed = (max_items * kMaxLoadDen + kMaxLoadNum - 1) / kMaxLoadNum;
  uint64_t slots = 1;
  while (slots < needed) slots <<= 1;
  Geometry g;
  g.max_items = max_items;
  g.slot_count = slots;
  uint64_t log_end = RoundUp(kRegistryOffset + kRegistryBytes, kPageSize);
  if (change_log_bytes != 0) {
    g.change_log_offset = log_end;
    // A power of two: a position's place in the ring is a mask.
    g.change_log_bytes = kPageSize;
    while (g.change_log_bytes < change_log_bytes) g.change_log_bytes <<= 1;
    // Enough marks that two retained checkpoints never share one.
    g.change_log_marks =
        g.change_log_bytes / (kMinChangeRecord * kMarkStride) + 2;
    g.change_log_ring_offset =
        g.change_log_offset + RoundUp(g.change_log_marks * 8, kCacheLineSize);
    log_end = g.change_log_ring_offset + g.change_log_bytes;
  }
  g.slots_offset = RoundUp(log_end, kPageSize);
  g.heap_offset = RoundUp(g.slots_offset + slots * sizeof(Slot), kPageSize);
  g.heap_size = RoundUp(heap_size, kAlign);
  g.segment_size = RoundUp(g.heap_offset + g.heap_size, kPageSize);
  *out = g;
  return absl::OkStatus();
}

absl::Status ValidateHeader(const Header& header, uint64_t file_size,
                            Geometry* geometry) {
  uint64_t magic = header.magic.load(std::memory_order_acquire);
  if (magic != kMagic) {
    return internal::CorruptError(
        absl::StrCat("bad magic 0x", absl::Hex(magic),
                     " (not a zcipc dict, or its header is corrupt)"));
  }
  if (header.version != kVersion) {
    return internal::Error(
        absl::StatusCode::kFailedPrecondition, ErrorKind::kIncompatible,
        absl::StrCat("format version ", header.version,
                     ", this build reads version ", kVersion,
                     ": dump it with the zcipc build that made it (zcipc dump "
                     "NAME > FILE), unlink it, and load the dump with this "
                     "build (zcipc load NAME < FILE)"));
  }
  if (header.fingerprint != LayoutFingerprint()) {
    return internal::Error(
        absl::StatusCode::kFailedPrecondition, ErrorKind::kIncompatible,
        absl::StrCat("layout fingerprint 0x", absl::Hex(header.fingerprint),
                     " differs from this build's 0x",
                     absl::Hex(LayoutFingerprint()),
                     " (built with another layout)"));
  }
  if (header.header_size != sizeof(Header)) {
    return internal::CorruptError(
        absl::StrCat("header size ", header.header_size, " is corrupt"));
  }
  Geometry g;
  absl::Status s = ComputeGeometry(header.max_items, header.heap_size,
                                   header.change_log_bytes, &g);
  if (!s.ok()) {
    return internal::CorruptError(
        absl::StrCat("corrupt header geometry: ", s.message()));
  }
  if (g.slot_count != header.slot_count ||
      g.slots_offset != header.slots_offset ||
      g.heap_offset != header.heap_offset || g.heap_size != header.heap_size ||
      g.segment_size != header.segment_size ||
      g.change_log_bytes != header.change_log_bytes ||
      g.change_log_offset != header.change_log_offset ||
      header.journal_offset != kJournalOffset) {
    return internal::CorruptError(
        absl::StrCat("header region offsets are inconsistent"));
  }
  // Growth: the bound, the heap now and the table in use.
  const uint64_t max_segment = header.max_segment_size;
  if (max_segment < g.segment_size || max_segment > kMaxSegmentSize ||
      max_segment % kPageSize != 0) {
    return internal::CorruptError(absl::StrCat(
        "max_segment_size ", max_segment, " is corrupt (the segment was ",
        g.segment_size, " bytes at creation)"));
  }
  g.max_segment_size = max_segment;
  const uint64_t heap_now =
      header.heap_size_now.load(std::memory_order_acquire);
  if (heap_now < g.heap_size || heap_now > max_segment - g.heap_offset) {
    return internal::CorruptError(
        absl::StrCat("heap size ", heap_now, " is out of range [", g.heap_size,
                     ", ", max_segment - g.heap_offset, "]"));
  }
  if (file_size < g.heap_offset + heap_now) {
    return internal::CorruptError(
        absl::StrCat("segment is ", file_size, " bytes, its heap ends at ",
                     g.heap_offset + heap_now, " (truncated or corrupt)"));
  }
  const uint64_t table = header.table.load(std::memory_order_acquire);
  if (!TableWordValid(table, g.slots_offset, g.slot_count, g.heap_offset,
                      g.heap_offset + heap_now)) {
    return internal::CorruptError(
        absl::StrCat("table word 0x", absl::Hex(table), " is out of bounds"));
  }
  *geometry = g;
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength && name != "." &&
            name != "..";
  for (char c : name) {
    if (!ok) break;
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  }
  if (ok) return absl::OkStatus();
  return internal::Error(
      absl::StatusCode::kInvalidArgument, ErrorKind::kBadName,
      absl::StrCat("invalid dict name '", absl::CHexEscape(name.substr(0, 256)),
                   name.size() > 256 ? "...'" : "'", ": use 1 to ",
                   kMaxNameLength,
                   " characters from [A-Za-z0-9._-], not '.' or '..'"));
}

std::string ShmName(absl::string_view name) {
  return absl::StrCat("/", kShmPrefix, name);
}

}  // namespace layout
}  // namespace zcipc
