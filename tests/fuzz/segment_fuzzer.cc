// A libFuzzer target for zcipc segments: builds a segment image from the fuzz
// input, attaches to it and runs the API on it. Whatever the bytes, no call
// may crash, hang or touch memory out of bounds; errors are fine. Beyond
// that, abort() (a libFuzzer crash) on any violated invariant:
//   - always: a value from Get/Read/ForEach fits in the heap, a key in
//     kMaxKeySize; ForEach passes each key once; GetAllocatorStats' classes
//     add up and stay within the blocks the heap can hold; Inspect's probe
//     lengths stay within the table; after the handle is destroyed no
//     descriptor is left open and the segment is no longer mapped;
//   - once Check() returned OK: ForEach agrees with Size() and every key it
//     passes is found by Get; from then on a model (std::map) follows every
//     operation, and each result (Get, Contains, Read, GetLocked, ForEach,
//     Size, GetStats, GetAllocatorStats, Inspect, Put, Erase, Add,
//     CompareAndSwap, Update, Write batches) must match it, with only the
//     documented errors (NotFound, ResourceExhausted, FailedPrecondition and
//     OutOfRange for Add, InvalidArgument for an oversized key); a later
//     Check() must pass again.
// Errors must name the dict (README, "Errors"): a miss is printed as a
// MESSAGE-FINDING and summed up at exit, and is fatal only with
// ZCIPC_FUZZ_STRICT_NAMES=1 (a message defect should not stop the search for
// crashes behind it).
//
// The same file is linked two ways:
//   - by tools/fuzz.sh with clang and -fsanitize=fuzzer,address,undefined
//     (libFuzzer supplies main), to fuzz;
//   - by Bazel with gcc into //tests/fuzz:segment_fuzzer_corpus_test, whose
//     main (corpus_main.cc) replays tests/fuzz/corpus/ in CI.
//
// Input format (tests/fuzz/make_corpus.py writes seeds in it):
//
//   byte 0 == 0xFF   raw mode: bytes 1.. are the whole segment file (header
//                    fuzzing: short files, files without a magic, ...).
//   otherwise        byte 0 = N, the number of op bytes at the END of the
//                    input (0: run the default program below). The bytes
//                    between are patches, applied in order onto a valid
//                    template segment built once per process (a 12-item,
//                    16 KiB-heap dict with live entries of 0 to 4500 bytes,
//                    a long key, a counter, two tombstones, four free blocks
//                    of different classes, a filled journal).
//   byte 0 in 0x80..0xFE  the same with N = byte 0 & 0x7f, and byte 1 = g
//                    (the patches start at byte 2): after the operations,
//                    the growth phase (Runner::Grow) runs with parameter g
//                    on a second handle with auto_grow on.
//
// The operations run on a handle with auto_grow off: the model and the
// invariants take the heap and the table to keep their size, so a write that
// finds them full is ResourceExhausted. The growth phase then makes the same
// dict, damaged or not, grow: the table migrates (the template's capacity is
// 12), the heap grows, Reserve runs. On a dict that passed Check(), growth
// must keep every entry of the model and Check() must pass after it.
//
// A patch starts with a head byte h and a 16-bit little-endian target t.
//   kind = h & 7:
//     0  raw bytes: (h >> 3) + 1 bytes follow, copied at offset t % size.
//     1  header word t % 72 (identity, table_seq and the table word,
//        counters, lock, intent, the change feed: 48 change_seq, 49
//        change_word|waiters, 50 log_head, 51 log_tail; growth: 13
//        max_segment_size, 17 table, 34 grow_epoch, 56 capacity, 57
//        heap_size_now, 58 table_block, 59 grows_total, 60 migrate_table,
//        61 migrate_block, 62 migrate_zeroed, 63 migrate_copied, 64
//        migrate_tombstones).
//     2  slot field: field t & 3 (seq, hash, block, reserved) of slot
//        (t >> 2) & 0xfff, counted per t >> 14: 0 any slot, 1 the k-th live
//        slot, 2 the k-th tombstone, 3 the k-th empty slot (k modulo count).
//     3  word (t & 0xff) of the block of live entry (t >> 8) (entries in slot
//        order; word 0 is the tag, 1 value_len, 2 key_len; 0xff: last word).
//     4  word (t & 0xff) of free block (t >> 8) (address order; word 0 tag,
//        1 next, 2 prev; 0xff: the footer).
//     5  allocator control word t % 689 (0-3 counters, 4 fl_bitmap, 5-44
//        sl_bitmap, 45+ heads[fl][sl] = 45 + 16 fl + sl); if t & 0x8000,
//        the list head of the size class of free block (t & 0x7fff).
//     6  intent word t % 8 (op, phase, slot, old_block, new_block, hash,
//        value_len, reserved).
//     7  heap word t % (heap_size / 8); if t & 0x8000, journal word t % 512;
//        else if t & 0x4000, word t % (its size / 8) of the change log's
//        region (its checkpoint marks, then the ring: the template's 4 KiB
//        ring holds its 13 changes).
//   For kinds 1-7, width = h >> 6: 0 the 8-byte word, 1 its low 4 bytes,
//   2 its high 4 bytes, 3 its low byte; and the new value, per (h >> 3) & 7:
//     0  literal: 8 bytes follow (little-endian)
//     1  small: 1 byte follows, sign-extended
//     2  add: 1 byte follows, sign-extended, added to the current value
//     3  flip: 1 byte b follows, current ^ (1 << (b & 63))
//     4  entry block: 1 byte b, block of live entry (b & 31) + 8 * (b >> 5)
//     5  free block: 1 byte b, offset of free block (b & 31) + 8 * (b >> 5)
//     6  constant: 1 byte b, Constant(b): b < 0x80 a table entry (heap
//        bounds, magic, fingerprint, limits, ...), b >= 0x80 a slot index
//        (the k-th live, tombstone or empty slot: for intent records)
//     7  copy: a 16-bit target follows (same kind); copies that word
//   Targets and values read past the end of the input read zeros.
//
// Each op byte o runs operation o & 15 with argument a = o >> 4; keys are
// Key(a): the template's keys for a < 11 (two of them erased), new keys for
// 11..14, and a key over kMaxKeySize for 15. Operations:
//    0 Get   1 Contains   2 Read   3 GetLocked   4 ForEach   5 Check
//    6 GetStats + Size   7 GetAllocatorStats   8 Inspect
//    9 Put(Key(a), small value of 3a bytes)
//   10 Put(Key(next op byte & 15), value of kLargeSizes[a] bytes)
//   11 Erase   12 Add(Key(a), kDeltas[next op byte & 15])
//   13 Write batch (Put, Get, Add, Erase, CompareAndSwap; a picks keys; odd
//      a returns an error from the batch)
//   14 a < 8: CompareAndSwap(Key(a < 4 ? a : a + 7)), expecting per a & 3
//      nullopt, the current value, another value or ""; a >= 8:
//      Update(Key(a)), refused by its function when a is odd
//   15 even a: insert new keys until a Put fails; odd a: erase every key
//      (triggers purges)
//
// Per input: the image is written to /dev/shm/zcipc.fz-<pid> (mode 0600),
// attached with lock_timeout 50 ms (1 ms when the image cannot hold a
// published header, i.e. shorter than the header region or a zero magic:
// Attach would only sleep for a creator), and unlinked right after Attach,
// so that even a crash in the operations leaves no file in /dev/shm. The
// handle keeps working on the unlinked dict, as documented.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/layout/layout.h"
#include "tests/segment_file.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace {

namespace layout = ::zcipc::layout;
using ::zcipc::ZeroCopyDict;

// absl::string_view is Abseil's own class in this build: convert explicitly.
std::string ToString(absl::string_view s) {
  return std::string(s.data(), s.size());
}

[[noreturn]] void Fatal(const std::string& what) {
  fprintf(stderr, "segment_fuzzer: %s\n", what.c_str());
  fflush(stderr);
  abort();
}

// An invariant of the engine does not hold: a finding.
[[noreturn]] void Violation(const std::string& what) {
  Fatal(absl::StrCat("INVARIANT VIOLATED: ", what));
}

std::string Quote(absl::string_view s) {
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, 40)),
                      s.size() > 40 ? "...'" : "'", " (", s.size(), " bytes)");
}

uint64_t Load64(const std::string& image, uint64_t offset) {
  uint64_t v = 0;
  if (offset + 8 <= image.size()) memcpy(&v, image.data() + offset, 8);
  return v;
}

// Deterministic value bytes.
std::string MakeValue(size_t len, uint32_t seed) {
  std::string v(len, '\0');
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < len; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<char>(x >> 24);
  }
  return v;
}

std::string Le64(int64_t v) {
  std::string s(8, '\0');
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(u >> (8 * i));
  return s;
}

// The TLSF class of a free block of `size` bytes (engine/alloc/allocator.cc),
// to point a patch at the list head that holds a given free block.
void SizeClass(uint64_t size, int* fl, int* sl) {
  if (size < layout::kSmallBlock) {
    *fl = 0;
    *sl = static_cast<int>(size >> layout::kAlignLog);
  } else {
    int f = 63 - __builtin_clzll(size);
    *sl = static_cast<int>((size >> (f - layout::kSLLog)) ^ layout::kSLCount);
    *fl = f - layout::kFLShift + 1;
  }
}

// ZCIPC_FUZZ_VERBOSE=1: print the template's shape and every status.
bool Verbose() {
  static const bool verbose = getenv("ZCIPC_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

// Errors whose message lacks the dict's name, per operation: printed when
// first seen and summed up at exit.
std::map<std::string, uint64_t>* g_unnamed = nullptr;

void ReportUnnamed() {
  if (g_unnamed == nullptr) return;
  for (const auto& [op, n] : *g_unnamed) {
    fprintf(stderr,
            "segment_fuzzer: MESSAGE-FINDING: %s returned %llu "
            "error(s) without the dict's name\n",
            op.c_str(), static_cast<unsigned long long>(n));
  }
}

void UnnamedError(const std::string& op, const absl::Status& s) {
  static const bool strict = getenv("ZCIPC_FUZZ_STRICT_NAMES") != nullptr;
  if (strict) {
    Violation(
        absl::StrCat(op, ": error without the dict's name: ", s.ToString()));
  }
  if (g_unnamed == nullptr) {
    g_unnamed = new std::map<std::string, uint64_t>;
    atexit(ReportUnnamed);
  }
  if ((*g_unnamed)[op]++ == 0) {
    fprintf(stderr,
            "segment_fuzzer: MESSAGE-FINDING: %s: error without the "
            "dict's name: %s\n",
            op.c_str(), s.ToString().c_str());
  }
}

// ---------------------------------------------------------------------------
// The template segment.

struct Block {
  uint64_t offset;
  uint64_t size;
};

struct Template {
  std::string name;  // this process's one dict name
  std::string path;
  std::string image;
  uint64_t segment_size = 0, max_items = 0, slot_count = 0, slots_offset = 0,
           heap_offset = 0, heap_size = 0, log_offset = 0, log_bytes = 0;
  std::vector<uint64_t> live_slots, tombstone_slots, empty_slots;
  std::vector<Block> entries;      // blocks of the live slots, in slot order
  std::vector<Block> free_blocks;  // in address order
  std::vector<std::string> keys;   // Key(0..10): 9 live, 2 erased
};

constexpr int kKnownKeys = 11;

std::string LongKey() { return std::string(70, 'L') + "-long-key"; }

using ::zcipc_test::ReadWholeFile;

Template* BuildTemplate() {
  auto* t = new Template;
  t->name = absl::StrCat("fz-", static_cast<int64_t>(getpid()));
  t->path = absl::StrCat("/dev/shm/zcipc.", t->name);
  (void)ZeroCopyDict::Unlink(t->name);  // a leftover of a dead process

  zcipc::Options options;
  options.max_items = 12;  // the most that 16 slots hold
  options.heap_size = 16 << 10;
  options.lock_timeout = absl::Seconds(5);
  options.change_log_bytes = zcipc::kMinChangeLogBytes;
  absl::StatusOr<ZeroCopyDict> dict = ZeroCopyDict::Create(t->name, options);
  if (!dict.ok())
    Fatal(absl::StrCat("template: Create: ", dict.status().ToString()));

  // Key(0..10). Insertion order places the blocks; the erased ones and the
  // relocated value leave holes of different size classes between live
  // blocks, and the in-place update leaves bytes in the journal.
  const std::vector<std::pair<std::string, std::string>> entries = {
      {"a", ""},
      {"counter", Le64(41)},
      {"gone-1", MakeValue(300, 1)},
      {"b-odd-key", MakeValue(24, 2)},
      {"key-100", MakeValue(100, 3)},
      {"key-250", MakeValue(250, 4)},
      {"gone-2", MakeValue(50, 5)},
      {"key-600", MakeValue(600, 6)},
      {LongKey(), MakeValue(30, 7)},
      {"key-1200", MakeValue(1200, 8)},
      {"big", MakeValue(4500, 9)},
  };
  for (const auto& [key, value] : entries) {
    absl::Status s = dict->Put(key, value);
    if (!s.ok()) Fatal(absl::StrCat("template: Put: ", s.ToString()));
  }
  for (const char* key : {"gone-1", "gone-2"}) {
    absl::Status s = dict->Erase(key);
    if (!s.ok()) Fatal(absl::StrCat("template: Erase: ", s.ToString()));
  }
  absl::Status s = dict->Put("key-100", MakeValue(90, 10));    // in place
  if (s.ok()) s = dict->Put("key-1200", MakeValue(1300, 11));  // relocated
  if (s.ok()) s = dict->Check();
  if (!s.ok()) Fatal(absl::StrCat("template: ", s.ToString()));
  zcipc::Stats stats = dict->GetStats();
  if (stats.tombstones != 2 || stats.size != 9) {
    Fatal(absl::StrCat("template: expected 9 entries and 2 tombstones, got ",
                       stats.size, " and ", stats.tombstones));
  }
  if (!ReadWholeFile(t->path, &t->image))
    Fatal("template: cannot read " + t->path);
  dict = absl::StatusOr<ZeroCopyDict>(absl::UnknownError("closed"));
  (void)ZeroCopyDict::Unlink(t->name);

  // Where everything is, from the image itself.
  const std::string& im = t->image;
  t->segment_size = Load64(im, offsetof(layout::Header, segment_size));
  t->max_items = Load64(im, offsetof(layout::Header, max_items));
  t->slot_count = Load64(im, offsetof(layout::Header, slot_count));
  t->slots_offset = Load64(im, offsetof(layout::Header, slots_offset));
  t->heap_offset = Load64(im, offsetof(layout::Header, heap_offset));
  t->heap_size = Load64(im, offsetof(layout::Header, heap_size));
  t->log_offset = Load64(im, offsetof(layout::Header, change_log_offset));
  t->log_bytes = t->slots_offset - t->log_offset;  // marks and ring
  if (t->segment_size != im.size() ||
      t->heap_offset + t->heap_size > im.size()) {
    Fatal("template: inconsistent geometry");
  }
  for (uint64_t i = 0; i < t->slot_count; ++i) {
    const uint64_t at = t->slots_offset + i * sizeof(layout::Slot);
    const uint64_t block = Load64(im, at + offsetof(layout::Slot, block));
    if (block == layout::kEmptyBlock) {
      t->empty_slots.push_back(i);
    } else if (block == layout::kTombstoneBlock) {
      t->tombstone_slots.push_back(i);
    } else {
      t->live_slots.push_back(i);
      t->entries.push_back({block, Load64(im, block) & ~uint64_t{15}});
    }
  }
  for (uint64_t b = t->heap_offset; b < t->heap_offset + t->heap_size;) {
    const uint64_t tag = Load64(im, b);
    const uint64_t size = tag & ~uint64_t{15};
    if (size < layout::kMinBlock) Fatal("template: bad heap walk");
    if (tag & 1) t->free_blocks.push_back({b, size});
    b += size;
  }
  if (t->entries.size() != 9 || t->free_blocks.empty() ||
      t->empty_slots.empty()) {
    Fatal("template: unexpected shape");
  }
  for (const auto& [key, value] : entries) t->keys.push_back(key);
  if (Verbose()) {
    fprintf(stderr, "template: %zu bytes, slots at %llu, heap at %llu+%llu\n",
            im.size(), static_cast<unsigned long long>(t->slots_offset),
            static_cast<unsigned long long>(t->heap_offset),
            static_cast<unsigned long long>(t->heap_size));
    for (const Block& b : t->free_blocks) {
      fprintf(stderr, "  free block %llu size %llu\n",
              static_cast<unsigned long long>(b.offset),
              static_cast<unsigned long long>(b.size));
    }
  }
  return t;
}

const Template& GetTemplate() {
  static const Template* const t = BuildTemplate();
  return *t;
}

// ---------------------------------------------------------------------------
// Decoding.

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  size_t left() const { return done() ? 0 : size_ - pos_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() {
    uint16_t lo = U8();
    return static_cast<uint16_t>(lo | (U8() << 8));
  }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(U8()) << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

template <typename T>
const T& Pick(const std::vector<T>& v, uint64_t k) {
  return v[k % v.size()];
}

// Value kind 6. b < 0x80: a table of geometry and format constants;
// b >= 0x80: a slot index, per (b >> 5) & 3 as for slot targets (any slot
// b & 31, or the k-th live, tombstone or empty slot, k = b & 31).
uint64_t Constant(const Template& t, uint8_t b) {
  if (b >= 0x80) {
    const uint64_t k = b & 31;
    switch ((b >> 5) & 3) {
      case 0:
        return k % t.slot_count;
      case 1:
        return Pick(t.live_slots, k);
      case 2:
        return t.tombstone_slots.empty() ? k : Pick(t.tombstone_slots, k);
      default:
        return Pick(t.empty_slots, k);
    }
  }
  const uint64_t heap_end = t.heap_offset + t.heap_size;
  const uint64_t table[] = {
      0,
      1,
      2,
      3,
      t.heap_offset,
      heap_end,
      heap_end - 8,
      heap_end - 16,
      heap_end - 32,
      t.slots_offset,
      layout::kJournalOffset,
      t.segment_size,
      ~uint64_t{0},
      uint64_t{1} << 63,
      t.slot_count,
      t.slot_count - 1,
      t.max_items,
      t.heap_size,
      layout::kMagic,
      layout::LayoutFingerprint(),
      layout::kVersion,
      sizeof(layout::Header),
      t.heap_offset - 16,
      t.heap_offset + 8,
      static_cast<uint64_t>(INT64_MAX),
      static_cast<uint64_t>(INT64_MIN),
      layout::kMinBlock,
      layout::kJournalBytes,
      layout::kJournalBytes + 1,
      zcipc::kMaxKeySize,
      zcipc::kMaxKeySize + 1,
      t.heap_size + 16,
      t.heap_offset + t.heap_size / 2,
      uint64_t{1} << 32,
      uint64_t{0xffffffff},
      layout::kSmallBlock,
  };
  return table[b % (sizeof(table) / sizeof(table[0]))];
}

// The 8-aligned byte offset a target of `kind` names in the template.
uint64_t TargetOffset(const Template& t, int kind, uint16_t target) {
  switch (kind) {
    case 1:
      return (target % 72) * 8;
    case 2: {
      const uint64_t k = (target >> 2) & 0xfff;
      uint64_t slot = 0;
      switch (target >> 14) {
        case 0:
          slot = k % t.slot_count;
          break;
        case 1:
          slot = Pick(t.live_slots, k);
          break;
        case 2:
          slot = t.tombstone_slots.empty() ? k % t.slot_count
                                           : Pick(t.tombstone_slots, k);
          break;
        default:
          slot = Pick(t.empty_slots, k);
          break;
      }
      return t.slots_offset + slot * sizeof(layout::Slot) + (target & 3) * 8;
    }
    case 3:
    case 4: {
      const Block& b = Pick(kind == 3 ? t.entries : t.free_blocks, target >> 8);
      const uint64_t words = b.size / 8;
      const uint64_t w =
          (target & 0xff) == 0xff ? words - 1 : (target & 0xff) % words;
      return b.offset + 8 * w;
    }
    case 5: {
      const uint64_t control = offsetof(layout::Header, allocator);
      if (target & 0x8000) {
        int fl, sl;
        SizeClass(Pick(t.free_blocks, target & 0x7fff).size, &fl, &sl);
        return control + offsetof(layout::AllocatorControl, heads) +
               8 * (static_cast<uint64_t>(fl) * layout::kSLCount + sl);
      }
      return control + (target % (sizeof(layout::AllocatorControl) / 8)) * 8;
    }
    case 6:
      return offsetof(layout::Header, intent) + (target % 8) * 8;
    default:
      if (target & 0x8000) {
        return layout::kJournalOffset +
               (target % (layout::kJournalBytes / 8)) * 8;
      }
      if ((target & 0x4000) && t.log_bytes != 0) {
        return t.log_offset + (target % (t.log_bytes / 8)) * 8;
      }
      return t.heap_offset + (target % (t.heap_size / 8)) * 8;
  }
}

// Applies the patches in `in` onto `image` (a copy of the template).
void ApplyPatches(const Template& t, Reader& in, std::string* image) {
  auto width_bytes = [](int width) -> std::pair<uint64_t, uint64_t> {
    switch (width) {  // {offset within the word, bytes}
      case 0:
        return {0, 8};
      case 1:
        return {0, 4};
      case 2:
        return {4, 4};
      default:
        return {0, 1};
    }
  };
  auto load = [&](uint64_t at, int width) {
    auto [skip, n] = width_bytes(width);
    uint64_t v = 0;
    memcpy(&v, image->data() + at + skip, n);
    return v;
  };
  while (!in.done()) {
    const uint8_t h = in.U8();
    const int kind = h & 7;
    const uint16_t target = in.U16();
    if (kind == 0) {
      const size_t len = (h >> 3) + 1;
      const size_t at = target % image->size();
      for (size_t i = 0; i < len; ++i) {
        const uint8_t byte = in.U8();
        if (at + i < image->size()) (*image)[at + i] = static_cast<char>(byte);
      }
      continue;
    }
    const int width = h >> 6;
    const uint64_t at = TargetOffset(t, kind, target);
    const uint64_t current = load(at, width);
    uint64_t value = 0;
    switch ((h >> 3) & 7) {
      case 0:
        value = in.U64();
        break;
      case 1:
        value = static_cast<uint64_t>(
            static_cast<int64_t>(static_cast<int8_t>(in.U8())));
        break;
      case 2:
        value = current + static_cast<uint64_t>(static_cast<int64_t>(
                              static_cast<int8_t>(in.U8())));
        break;
      case 3:
        value = current ^ (uint64_t{1} << (in.U8() & 63));
        break;
      case 4: {
        const uint8_t b = in.U8();
        value = Pick(t.entries, b & 31).offset + 8 * (b >> 5);
        break;
      }
      case 5: {
        const uint8_t b = in.U8();
        value = Pick(t.free_blocks, b & 31).offset + 8 * (b >> 5);
        break;
      }
      case 6:
        value = Constant(t, in.U8());
        break;
      default:
        value = load(TargetOffset(t, kind, in.U16()), width);
        break;
    }
    auto [skip, n] = width_bytes(width);
    memcpy(&(*image)[at + skip], &value, n);  // little-endian host
  }
}

bool WriteImage(const std::string& path, const std::string& image) {
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  bool ok = true;
  while (ok && done < image.size()) {
    ssize_t r = write(fd, image.data() + done, image.size() - done);
    if (r < 0 && errno == EINTR) continue;
    ok = r > 0;
    if (ok) done += static_cast<size_t>(r);
  }
  close(fd);
  return ok;
}

// Descriptor and mapping leaks (LeakSanitizer sees neither).
int OpenFdCount() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (struct dirent* e = readdir(dir)) n += e->d_name[0] != '.';
    closedir(dir);
  }
  return n;
}

// Whether /proc/self/maps still shows the dict's file.
bool SegmentMapped(const std::string& path) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == nullptr) return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f) != nullptr) {
    found = strstr(line, path.c_str()) != nullptr;
  }
  fclose(f);
  return found;
}

// ---------------------------------------------------------------------------
// Running the operations, with the model.

constexpr uint64_t kLargeSizes[16] = {
    0, 7, 8, 9, 255, 256, 1000, 2000, 4095, 4096, 4097, 5000, 8000, 0, 0, 0};
constexpr int64_t kDeltas[16] = {1,
                                 -1,
                                 0,
                                 1000,
                                 INT64_MAX,
                                 INT64_MIN,
                                 -(int64_t{1} << 40),
                                 int64_t{1} << 62,
                                 -41,
                                 42,
                                 INT64_MAX - 41,
                                 7,
                                 -7,
                                 INT64_MIN + 41,
                                 2,
                                 -2};

using Model = std::map<std::string, std::string>;

class Runner {
 public:
  Runner(const Template& t, ZeroCopyDict* dict)
      : t_(t),
        dict_(dict),
        heap_size_(dict->GetStats().heap_size),
        slot_count_(t.slot_count) {}

  void Run(Reader& ops) {
    if (ops.done()) {
      DefaultProgram();
      return;
    }
    while (!ops.done()) {
      const uint8_t o = ops.U8();
      const int a = o >> 4;
      switch (o & 15) {
        case 0:
          OpGet(Key(a));
          break;
        case 1:
          OpContains(Key(a));
          break;
        case 2:
          OpRead(Key(a));
          break;
        case 3:
          OpGetLocked(Key(a));
          break;
        case 4:
          OpForEach();
          break;
        case 5:
          OpCheck();
          break;
        case 6:
          OpStats();
          break;
        case 7:
          OpAllocatorStats();
          break;
        case 8:
          OpInspect();
          break;
        case 9:
          OpPut(Key(a), MakeValue(3 * a, 100 + a));
          break;
        case 10:
          OpPut(Key(ops.U8() & 15), MakeValue(LargeSize(a), 200 + a));
          break;
        case 11:
          OpErase(Key(a));
          break;
        case 12:
          OpAdd(Key(a), kDeltas[ops.U8() & 15]);
          break;
        case 13:
          OpWrite(a);
          break;
        case 14:
          if (a >= 8) {
            OpUpdate(Key(a), (a & 1) != 0);
          } else {
            OpCompareAndSwap(Key(a < 4 ? a : a + 7), a & 3);
          }
          break;
        default:
          if (a % 2 == 0) {
            OpFill(a);
          } else {
            OpEraseAll();
          }
          break;
      }
    }
  }

  // The growth phase (input byte 0 has bit 7 set; g is input byte 1): runs
  // after the operations on `grow`, a second handle on the same dict with
  // auto_grow on, while the operations' handle (`fixed`, auto_grow off) keeps
  // reading and, per g, writing. Inserts enough keys that the table doubles
  // (the template's capacity is 12) at least once and the heap (16 KiB)
  // grows, with reads through both handles and erases in between, so writes
  // run the migration's steps. The first time a write leaves a migration
  // under way, GetStats, GetAllocatorStats, Inspect and Check run on the
  // half-built table. Then Reserve (per g also during that migration, which
  // it finishes), then Check. g: bits 0-2 the number of inserts
  // (12 + 6 * n), bits 3-4 the value size (kGrowValueSizes), bit 5 a Reserve
  // during the first migration (or halfway, if none is seen by then), bit 6
  // every fourth insert through `fixed`, bit 7 erase an earlier key every
  // third insert (else every seventh).
  //
  // On a damaged dict only the general invariants apply. If Check passed
  // (before the phase or at its start), the model follows every call:
  // inserts through `grow` must succeed (it grows instead of answering
  // ResourceExhausted, far below the dict's max_segment_size), Reserve must
  // succeed, Check must pass after the phase and every key of the model
  // must read back through both handles.
  void Grow(ZeroCopyDict* grow, ZeroCopyDict* fixed, uint8_t g) {
    static constexpr uint64_t kGrowValueSizes[4] = {24, 300, 1200, 4500};
    // Growth beyond this is runaway on a damaged dict: stop. A checked dict
    // holds well under 1 MiB of entries here.
    constexpr uint64_t kRunaway = 64ull << 20, kCheckedBound = 8ull << 20;
    growing_ = true;
    dict_ = grow;
    if (Verbose()) fprintf(stderr, "growth phase, g=0x%02x\n", g);
    Refresh();
    OpCheck();  // a dict the operations left consistent: the model
    const int inserts = 12 + 6 * (g & 7);
    const size_t value_size = kGrowValueSizes[(g >> 3) & 3];
    const int erase_every = (g & 0x80) ? 3 : 7;
    bool migration_seen = false, reserved = (g & 0x20) == 0;
    for (int i = 0; i < inserts; ++i) {
      if (Runaway(kRunaway, kCheckedBound)) return;
      const std::string key = absl::StrCat("grow-", i);
      const std::string value = MakeValue(value_size + i, 700 + i);
      const bool through_fixed = (g & 0x40) != 0 && i % 4 == 3;
      dict_ = through_fixed ? fixed : grow;
      absl::Status s = dict_->Put(key, value);
      AfterPut(through_fixed ? "Put(grow, fixed handle)" : "Put(grow)", key,
               value, s);
      if (trusted_ && !through_fixed && !s.ok() && !AtTheBound(s)) {
        Violation(absl::StrCat("Put ", Quote(key),
                               " with auto_grow on a dict that passed "
                               "Check(): ",
                               s.ToString()));
      }
      dict_ = grow;
      Refresh();
      OpGet(key);
      dict_ = fixed;  // its view of the geometry is stale now
      OpGet(key);
      OpGet(Key(i % kKnownKeys));
      dict_ = grow;
      if (i % erase_every == erase_every - 1) {
        OpErase(absl::StrCat("grow-", i - 2));
      }
      if (i % 8 == 5) {
        OpForEach();
        OpStats();
      }
      const bool migrating = dict_->GetStats().growing;
      if (migrating && !migration_seen) {
        migration_seen = true;
        OpStats();
        OpAllocatorStats();
        OpInspect();
        OpCheck();  // verifies the half-built table
      }
      if (!reserved && (migrating || i == inserts / 2)) {
        reserved = true;
        GrowReserve(64, 32 << 10);
      }
    }
    if (Runaway(kRunaway, kCheckedBound)) return;
    GrowReserve(100 + (g & 0x18), 64 << 10);
    OpStats();
    OpAllocatorStats();
    OpInspect();
    OpCheck();  // a Violation if it fails on a dict that passed before
    // Every key reads back through both handles (the fixed handle never
    // grew anything itself: it must follow the table and heap it did not
    // see), and the fixed handle's Check agrees.
    const Model model = model_;
    for (ZeroCopyDict* d : {grow, fixed}) {
      dict_ = d;
      for (const auto& [key, value] : model) OpGet(key);
      OpForEach();
      OpCheck();
    }
    if (Verbose()) {
      const zcipc::Stats st = grow->GetStats();
      fprintf(stderr,
              "growth phase done: %llu slots, heap %llu, %llu growths, a "
              "migration %sseen\n",
              static_cast<unsigned long long>(st.slot_count),
              static_cast<unsigned long long>(st.heap_size),
              static_cast<unsigned long long>(st.grows_total),
              migration_seen ? "" : "not ");
    }
  }

 private:
  // In the growth phase: the heap and the table may have grown.
  void Refresh() {
    const zcipc::Stats st = dict_->GetStats();
    heap_size_ = std::max(heap_size_, st.heap_size);
    slot_count_ = std::max(slot_count_, st.slot_count);
  }

  // Whether growth ran away (a damaged dict may claim any heap end): stops
  // the phase; a finding if the dict had passed Check().
  bool Runaway(uint64_t limit, uint64_t checked_limit) {
    const zcipc::Stats st = dict_->GetStats();
    if (trusted_ && st.segment_size > checked_limit) {
      Violation(absl::StrCat("the segment grew to ", st.segment_size,
                             " bytes for a few hundred KiB of entries"));
    }
    return st.segment_size > limit;
  }

  // Whether `s` is a growth refused by a max_segment_size low enough for
  // this phase to reach it (a patched bound that Check accepts).
  bool AtTheBound(const absl::Status& s) const {
    return absl::IsResourceExhausted(s) &&
           dict_->GetStats().max_segment_size < (64ull << 20);
  }

  // Reserve for `extra` more entries than now and `heap_extra` more heap.
  void GrowReserve(uint64_t extra, uint64_t heap_extra) {
    const zcipc::Stats before = dict_->GetStats();
    const uint64_t items = model_.size() + extra;
    const uint64_t heap = before.heap_size + heap_extra;
    absl::Status s = dict_->Reserve(items, heap);
    Named("Reserve", s);
    Refresh();
    if (!trusted_) return;
    if (AtTheBound(s)) return;
    Expect("Reserve", "", s, {absl::StatusCode::kOk});
    const zcipc::Stats st = dict_->GetStats();
    if (st.growing || st.max_items < items || st.heap_size < heap) {
      Violation(absl::StrCat("Reserve(", items, ", ", heap,
                             ") returned OK; now capacity ", st.max_items,
                             ", heap ", st.heap_size,
                             st.growing ? ", still migrating" : ""));
    }
  }

  std::string Key(int a) const {
    if (a < kKnownKeys) return t_.keys[a];
    if (a < 15) return absl::StrCat("new-", a);
    return std::string(zcipc::kMaxKeySize + 1, 'k');
  }
  static bool KeyTooLong(const std::string& key) {
    return key.size() > zcipc::kMaxKeySize;
  }
  uint64_t LargeSize(int a) const {
    if (a == 13) return heap_size_ - 64;
    if (a == 14) return heap_size_;
    if (a == 15) return heap_size_ + 1;
    return kLargeSizes[a];
  }

  // Every lookup, in any dict: a value lies inside the heap.
  void CheckValue(const char* op, const std::string& key,
                  const std::string& v) {
    if (v.size() > heap_size_) {
      Violation(absl::StrCat(op, " ", Quote(key), " returned ", v.size(),
                             " bytes, more than the heap (", heap_size_, ")"));
    }
  }

  // Every error but a missing key's NotFound names the dict (README,
  // "Errors"). A message-only defect: reported (see UnnamedError), fatal
  // only with ZCIPC_FUZZ_STRICT_NAMES=1, so it does not stop the fuzzer from
  // looking for crashes behind it.
  void Named(absl::string_view op, const absl::Status& s) {
    if (Verbose()) {
      fprintf(stderr, "  %s%s: %s\n", trusted_ ? "[checked] " : "",
              ToString(op).c_str(), s.ToString().substr(0, 160).c_str());
    }
    if (s.ok() || absl::IsNotFound(s) ||
        s.message().find(t_.name) != absl::string_view::npos) {
      return;
    }
    UnnamedError(ToString(op), s);
  }

  // In a trusted dict (Check() said OK and everything since behaved), a
  // status outside `allowed` is a finding.
  void Expect(const char* op, const std::string& key, const absl::Status& s,
              std::initializer_list<absl::StatusCode> allowed) {
    if (!trusted_) return;
    for (absl::StatusCode c : allowed) {
      if (s.code() == c) return;
    }
    Violation(absl::StrCat(op, " ", Quote(key),
                           " on a dict that passed Check(): ", s.ToString()));
  }

  void AfterGet(const char* op, const std::string& key, const absl::Status& s,
                const std::string& value) {
    Named(op, s);
    if (s.ok()) CheckValue(op, key, value);
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect(op, key, s, {absl::StatusCode::kInvalidArgument});
      return;
    }
    Expect(op, key, s, {absl::StatusCode::kOk, absl::StatusCode::kNotFound});
    auto it = model_.find(key);
    if (s.ok() != (it != model_.end())) {
      Violation(absl::StrCat(op, " ", Quote(key), ": ", s.ToString(),
                             " but the model ",
                             it == model_.end() ? "lacks" : "has", " it"));
    }
    if (s.ok() && value != it->second) {
      Violation(absl::StrCat(op, " ", Quote(key), " returned ", Quote(value),
                             ", the model has ", Quote(it->second)));
    }
  }

  void AfterPut(const char* op, const std::string& key,
                const std::string& value, const absl::Status& s) {
    Named(op, s);
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect(op, key, s, {absl::StatusCode::kInvalidArgument});
      return;
    }
    Expect(op, key, s,
           {absl::StatusCode::kOk, absl::StatusCode::kResourceExhausted});
    if (s.ok()) {
      model_[key] = value;
      not_counters_.erase(key);
    }
  }

  void AfterErase(const char* op, const std::string& key,
                  const absl::Status& s) {
    Named(op, s);
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect(op, key, s, {absl::StatusCode::kInvalidArgument});
      return;
    }
    Expect(op, key, s, {absl::StatusCode::kOk, absl::StatusCode::kNotFound});
    const bool present = model_.erase(key) > 0;
    not_counters_.erase(key);
    if (s.ok() != present) {
      Violation(absl::StrCat(op, " ", Quote(key), ": ", s.ToString(),
                             " but the model ", present ? "had" : "lacked",
                             " it"));
    }
  }

  void AfterAdd(const char* op, const std::string& key, int64_t delta,
                const absl::StatusOr<int64_t>& r) {
    Named(op, r.status());
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect(op, key, r.status(), {absl::StatusCode::kInvalidArgument});
      return;
    }
    auto it = model_.find(key);
    absl::StatusCode want = absl::StatusCode::kOk;
    int64_t current = 0, sum = 0;
    if (it != model_.end() &&
        (it->second.size() != 8 || not_counters_.count(key) != 0)) {
      want = absl::StatusCode::kFailedPrecondition;
    } else {
      if (it != model_.end()) {
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) {
          u |= static_cast<uint64_t>(static_cast<uint8_t>(it->second[i]))
               << (8 * i);
        }
        current = static_cast<int64_t>(u);
      }
      if (__builtin_add_overflow(current, delta, &sum)) {
        want = absl::StatusCode::kOutOfRange;
      }
    }
    // Inserting a new counter may find the table or heap full.
    const bool may_be_full =
        want == absl::StatusCode::kOk && it == model_.end() &&
        r.status().code() == absl::StatusCode::kResourceExhausted;
    if (r.status().code() != want && !may_be_full) {
      Violation(absl::StrCat(op, " ", Quote(key), " ", delta, ": ",
                             r.status().ToString(), ", the model expects ",
                             absl::StatusCodeToString(want)));
    }
    if (r.ok()) {
      if (*r != sum) {
        Violation(absl::StrCat(op, " ", Quote(key), " returned ", *r,
                               ", the model expects ", current, " + ", delta));
      }
      model_[key] = Le64(sum);
      not_counters_.erase(key);
    }
  }

  // kind: 0 nullopt, 1 the current value, 2 another value, 3 "". `get`
  // reads the current value (the lock-free Get outside a batch, Batch::Get
  // inside one: a lock-free read by the lock holder could wait for itself).
  template <typename Get>
  std::optional<std::string> CasExpected(const std::string& key, int kind,
                                         Get&& get) const {
    if (kind == 0) return std::nullopt;
    if (kind == 2) return std::string("not-the-value");
    if (kind == 3) return std::string();
    auto it = model_.find(key);
    if (it != model_.end()) return it->second;
    std::string current;  // untrusted: whatever the dict holds now
    if (get(key, &current).ok()) return current;
    return std::string("absent");
  }

  void AfterCas(const char* op, const std::string& key,
                const std::optional<std::string>& expected,
                const std::string& desired, const absl::StatusOr<bool>& r) {
    Named(op, r.status());
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect(op, key, r.status(), {absl::StatusCode::kInvalidArgument});
      return;
    }
    auto it = model_.find(key);
    const bool should = expected.has_value()
                            ? (it != model_.end() && it->second == *expected)
                            : it == model_.end();
    if (r.ok()) {
      if (*r != should) {
        Violation(absl::StrCat(op, " ", Quote(key), " returned ", *r,
                               ", the model expects ", should));
      }
      if (should) {
        model_[key] = desired;
        not_counters_.erase(key);
      }
      return;
    }
    if (!(should && absl::IsResourceExhausted(r.status()))) {
      Violation(absl::StrCat(op, " ", Quote(key),
                             " on a dict that passed "
                             "Check(): ",
                             r.status().ToString()));
    }
  }

  // --- The operations. ---

  void OpGet(const std::string& key) {
    std::string value;
    absl::Status s = dict_->Get(key, &value);
    AfterGet("Get", key, s, value);
    absl::StatusOr<std::string> v2 = dict_->Get(key);
    AfterGet("Get(StatusOr)", key, v2.status(), v2.ok() ? *v2 : std::string());
  }

  void OpContains(const std::string& key) {
    absl::StatusOr<bool> r = dict_->Contains(key);
    Named("Contains", r.status());
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect("Contains", key, r.status(), {absl::StatusCode::kInvalidArgument});
      return;
    }
    Expect("Contains", key, r.status(), {absl::StatusCode::kOk});
    if (*r != (model_.count(key) > 0)) {
      Violation(absl::StrCat("Contains ", Quote(key), " said ", *r));
    }
  }

  void OpRead(const std::string& key) {
    std::string seen;
    size_t runs = 0;
    absl::Status s = dict_->Read(key, [&](absl::string_view v) {
      ++runs;
      if (v.size() > heap_size_) {
        Violation(absl::StrCat("Read ", Quote(key), " showed ", v.size(),
                               " bytes, more than the heap"));
      }
      seen = ToString(v);
    });
    if (s.ok() && runs == 0) Violation("Read returned OK without running fn");
    AfterGet("Read", key, s, seen);
  }

  void OpGetLocked(const std::string& key) {
    std::string value;
    absl::Status s = dict_->GetLocked(key, &value);
    AfterGet("GetLocked", key, s, value);
  }

  void OpForEach() {
    Model seen;
    uint64_t calls = 0;
    absl::Status s =
        dict_->ForEach([&](absl::string_view k, absl::string_view v) {
          ++calls;
          std::string key = ToString(k);
          if (k.size() > zcipc::kMaxKeySize || v.size() > heap_size_) {
            Violation(absl::StrCat("ForEach passed a key of ", k.size(),
                                   " bytes and a value of ", v.size()));
          }
          if (!seen.emplace(key, ToString(v)).second) {
            Violation(absl::StrCat("ForEach passed ", Quote(key), " twice"));
          }
        });
    Named("ForEach", s);
    if (!trusted_) return;
    Expect("ForEach", "", s, {absl::StatusCode::kOk});
    if (seen != model_) {
      Violation(absl::StrCat("ForEach saw ", seen.size(), " entries (", calls,
                             " calls), the model has ", model_.size()));
    }
  }

  void OpCheck() {
    absl::Status s = dict_->Check();
    Named("Check", s);
    if (!s.ok()) {
      if (trusted_) {
        Violation(
            absl::StrCat("Check failed after passing, with only API "
                         "calls in between: ",
                         s.ToString()));
      }
      return;
    }
    // A dict that passed Check() is a consistent map: ForEach sees each
    // live entry once, the counters agree, and every key is found.
    Model seen;
    absl::Status fs =
        dict_->ForEach([&](absl::string_view k, absl::string_view v) {
          if (!seen.emplace(ToString(k), ToString(v)).second) {
            Violation(absl::StrCat("ForEach after Check OK passed ", Quote(k),
                                   " twice"));
          }
        });
    if (!fs.ok()) Violation("ForEach after Check OK: " + fs.ToString());
    if (seen.size() != dict_->Size()) {
      Violation(absl::StrCat("after Check OK, ForEach saw ", seen.size(),
                             " entries but Size() is ", dict_->Size()));
    }
    if (trusted_ && seen != model_) {
      Violation(absl::StrCat("after Check OK, ForEach saw ", seen.size(),
                             " entries, the model has ", model_.size()));
    }
    for (const auto& [key, value] : seen) {
      std::string got;
      absl::Status gs = dict_->Get(key, &got);
      if (!gs.ok() || got != value) {
        Violation(absl::StrCat("after Check OK, Get ", Quote(key), ": ",
                               gs.ToString(), ", ", got.size(),
                               " bytes; ForEach saw ", value.size()));
      }
    }
    // Values typed other than bytes or int64 (a patched type byte) are not
    // counters: Add refuses them.
    not_counters_.clear();
    absl::Status ts = dict_->ForEachTyped(
        [&](absl::string_view k, absl::string_view, zcipc::ValueType t) {
          if (t != zcipc::ValueType::kBytes && t != zcipc::ValueType::kInt64) {
            not_counters_.insert(ToString(k));
          }
        });
    if (!ts.ok()) Violation("ForEachTyped after Check OK: " + ts.ToString());
    model_ = std::move(seen);
    trusted_ = true;
    if (Verbose()) fprintf(stderr, "  checked: %zu entries\n", model_.size());
  }

  // ReadChanges from 0: consecutive changes, keys within kMaxKeySize, and
  // only the documented failures; on a dict that passed Check(), the log
  // is valid (Check verifies it), so no DataLoss.
  void OpChanges() {
    uint64_t prev = 0, calls = 0;
    absl::StatusOr<uint64_t> r =
        dict_->ReadChanges(0, [&](const zcipc::Change& c) {
          if (c.key.size() > zcipc::kMaxKeySize ||
              (calls != 0 && c.seq != prev + 1) || c.seq == 0) {
            Violation(absl::StrCat("ReadChanges passed change ", c.seq,
                                   " after ", prev, " with a key of ",
                                   c.key.size(), " bytes"));
          }
          prev = c.seq;
          ++calls;
        });
    Named("ReadChanges", r.status());
    if (r.ok()) {
      if (calls != 0 && *r != prev) {
        Violation(absl::StrCat("ReadChanges returned ", *r,
                               " after delivering up to ", prev));
      }
      return;
    }
    const absl::StatusCode code = r.status().code();
    if (code != absl::StatusCode::kOutOfRange &&
        code != absl::StatusCode::kDataLoss &&
        code != absl::StatusCode::kFailedPrecondition) {
      Violation(absl::StrCat("ReadChanges: ", r.status().ToString()));
    }
    Expect("ReadChanges", "", r.status(), {absl::StatusCode::kOutOfRange});
  }

  void OpStats() {
    OpChanges();
    zcipc::Stats st = dict_->GetStats();
    const uint64_t size = dict_->Size();
    if (st.name != t_.name) Violation("GetStats: name changed");
    if (growing_) {
      // The heap grows but never shrinks (a damaged heap end may be
      // lowered by repair, so only on a checked dict).
      if (trusted_ && st.heap_size < heap_size_) {
        Violation(absl::StrCat("GetStats: the heap shrank from ", heap_size_,
                               " to ", st.heap_size));
      }
      Refresh();
    } else if (st.heap_size != heap_size_) {
      Violation("GetStats: heap size changed");
    }
    if (!trusted_) return;
    if (st.size != model_.size() || size != model_.size()) {
      Violation(absl::StrCat("GetStats size ", st.size, ", Size() ", size,
                             ", the model has ", model_.size()));
    }
    if (st.heap_used + st.heap_free != st.heap_size) {
      Violation(absl::StrCat("GetStats: used ", st.heap_used, " + free ",
                             st.heap_free, " != heap ", st.heap_size));
    }
  }

  void OpAllocatorStats() {
    zcipc::AllocatorStats st = dict_->GetAllocatorStats();
    if (st.exact) {
      uint64_t blocks = 0, bytes = 0;
      for (const zcipc::SizeClassStats& c : st.size_classes) {
        blocks += c.free_blocks;
        bytes += c.free_bytes;
        if (c.free_blocks == 0 || c.min_block_size > c.max_block_size) {
          Violation("GetAllocatorStats: bad size class");
        }
      }
      // (The allocator's own walk is bounded by its whole heap, grown
      // tables included, which Stats leave out of heap_size: the segment
      // bounds both.)
      const uint64_t segment = dict_->GetStats().segment_size;
      if (blocks != st.free_blocks || bytes != st.free_bytes ||
          st.free_blocks > segment / layout::kMinBlock + 1) {
        Violation(absl::StrCat("GetAllocatorStats: ", st.free_blocks,
                               " free blocks, classes sum to ", blocks,
                               "; heap ", st.heap_size, " (known ", heap_size_,
                               "), free bytes ", st.free_bytes));
      }
    }
    if (!trusted_) return;
    // A grown table lives in a heap block (two during a migration).
    const uint64_t table_blocks = growing_ ? 2 : 0;
    if (!st.exact || st.used_bytes + st.free_bytes != heap_size_ ||
        st.largest_free_block > st.free_bytes ||
        st.used_blocks < model_.size() ||
        st.used_blocks > model_.size() + table_blocks) {
      Violation(
          absl::StrCat("GetAllocatorStats on a checked dict: exact=", st.exact,
                       " used ", st.used_bytes, "/", st.used_blocks, " free ",
                       st.free_bytes, " largest ", st.largest_free_block));
    }
  }

  void OpInspect() {
    absl::StatusOr<zcipc::Inspection> in = zcipc::Inspect(*dict_);
    if (!in.ok()) {
      Named("Inspect", in.status());
      Expect("Inspect", "", in.status(), {absl::StatusCode::kOk});
      return;
    }
    const zcipc::ProbeStats& p = in->probes;
    // The table the dict names (its table word) may have more slots than the
    // template's, damaged or grown: probes stay within the one Inspect
    // walked.
    const uint64_t slots = std::max(slot_count_, in->stats.slot_count);
    if (p.histogram.size() > slots || p.max >= slots || p.max_miss > slots) {
      Violation(absl::StrCat("Inspect: probe lengths beyond the table: max ",
                             p.max, " max_miss ", p.max_miss, " (",
                             in->stats.slot_count, " slots, ", slot_count_,
                             " known)"));
    }
    if (trusted_ && (!in->intent.empty() || in->stats.size != model_.size())) {
      Violation(absl::StrCat("Inspect on a checked dict: intent '", in->intent,
                             "', size ", in->stats.size));
    }
  }

  void OpPut(const std::string& key, const std::string& value) {
    absl::Status s = dict_->Put(key, value);
    AfterPut("Put", key, value, s);
  }

  void OpErase(const std::string& key) {
    absl::Status s = dict_->Erase(key);
    AfterErase("Erase", key, s);
  }

  void OpAdd(const std::string& key, int64_t delta) {
    absl::StatusOr<int64_t> r = dict_->Add(key, delta);
    AfterAdd("Add", key, delta, r);
  }

  void OpCompareAndSwap(const std::string& key, int kind) {
    std::optional<std::string> expected = CasExpected(
        key, kind,
        [&](const std::string& k, std::string* v) { return dict_->Get(k, v); });
    const std::string desired = MakeValue(kind * 5, 300 + kind);
    std::optional<absl::string_view> expected_view;
    if (expected.has_value()) expected_view = absl::string_view(*expected);
    absl::StatusOr<bool> r = dict_->CompareAndSwap(key, expected_view, desired);
    AfterCas("CompareAndSwap", key, expected, desired, r);
  }

  void OpUpdate(const std::string& key, bool refuse) {
    std::optional<std::string> old_seen;
    bool ran = false;
    std::string stored;
    absl::Status s = dict_->Update(
        key, [&](std::optional<absl::string_view> old, std::string* out) {
          ran = true;
          if (old.has_value()) {
            if (old->size() > heap_size_)
              Violation("Update saw an oversized value");
            old_seen = ToString(*old);
          }
          if (refuse) return absl::CancelledError("fuzz: update refused");
          *out = old_seen.value_or("") + "+u";
          if (out->size() > 3000) out->resize(16);
          stored = *out;
          return absl::OkStatus();
        });
    Named("Update", s);
    if (!trusted_) return;
    if (KeyTooLong(key)) {
      Expect("Update", key, s, {absl::StatusCode::kInvalidArgument});
      return;
    }
    auto it = model_.find(key);
    const std::optional<std::string> want =
        it == model_.end() ? std::nullopt
                           : std::optional<std::string>(it->second);
    if (!ran || old_seen != want) {
      Violation(absl::StrCat("Update ", Quote(key), ": fn ",
                             ran ? "saw another old value" : "did not run"));
    }
    if (refuse) {
      Expect("Update", key, s, {absl::StatusCode::kCancelled});
      return;
    }
    Expect("Update", key, s,
           {absl::StatusCode::kOk, absl::StatusCode::kResourceExhausted});
    if (s.ok()) {
      model_[key] = stored;
      not_counters_.erase(key);
    }
  }

  void OpWrite(int a) {
    const std::string k1 = Key(a % 15), k2 = Key((a + 5) % 11);
    const std::string v1 = MakeValue(static_cast<size_t>(a) * 40, 400 + a);
    const bool fail = (a & 1) != 0;
    absl::Status s = dict_->Write([&](zcipc::Batch& b) -> absl::Status {
      AfterPut("Batch::Put", k1, v1, b.Put(k1, v1));
      std::string got;
      absl::Status gs = b.Get(k1, &got);
      AfterGet("Batch::Get", k1, gs, got);
      AfterAdd("Batch::Add", "counter", 1, b.Add("counter", 1));
      AfterErase("Batch::Erase", k2, b.Erase(k2));
      std::optional<std::string> expected = CasExpected(
          k1, a & 3,
          [&](const std::string& k, std::string* v) { return b.Get(k, v); });
      std::optional<absl::string_view> expected_view;
      if (expected.has_value()) expected_view = absl::string_view(*expected);
      AfterCas("Batch::CompareAndSwap", k1, expected, "cas",
               b.CompareAndSwap(k1, expected_view, "cas"));
      if (fail) return absl::AbortedError("fuzz: batch gives up");
      return absl::OkStatus();
    });
    Named("Write", s);
    if (fail) {
      Expect("Write", k1, s, {absl::StatusCode::kAborted});
    } else {
      Expect("Write", k1, s, {absl::StatusCode::kOk});
    }
  }

  // Inserts new keys until a Put fails (table or heap full).
  void OpFill(int a) {
    for (int i = 0; i < 16; ++i) {
      const std::string key = absl::StrCat("fill-", a, "-", i);
      const std::string value =
          MakeValue(static_cast<size_t>(a) * 64 + 1, 500 + i);
      absl::Status s = dict_->Put(key, value);
      AfterPut("Put(fill)", key, value, s);
      if (!s.ok()) break;
    }
  }

  // Erases every known key and the model's keys (tombstones pile up and the
  // table purges).
  void OpEraseAll() {
    std::vector<std::string> keys(t_.keys.begin(), t_.keys.end());
    for (const auto& [key, value] : model_) keys.push_back(key);
    for (const std::string& key : keys) OpErase(key);
  }

  void DefaultProgram() {
    for (int a = 0; a < 16; ++a) {
      OpGet(Key(a));
      OpContains(Key(a));
      OpRead(Key(a));
    }
    OpForEach();
    OpStats();
    OpInspect();
    OpCheck();
    for (int a = 0; a < kKnownKeys; ++a) OpGet(Key(a));
    OpAllocatorStats();
    OpPut("fuzz-new", "fresh value");
    OpGet("fuzz-new");
    OpPut(Key(4), MakeValue(60, 7));     // in place
    OpPut(Key(5), MakeValue(3000, 8));   // relocated
    OpPut(Key(10), MakeValue(5000, 9));  // over 4 KiB: relocated
    OpAdd(Key(1), 1);
    OpAdd(Key(0), 1);
    OpCompareAndSwap(Key(3), 1);
    OpUpdate(Key(7), false);
    OpWrite(4);
    OpErase(Key(3));  // the third tombstone: purges
    OpErase(Key(2));
    OpForEach();
    OpGetLocked(Key(4));
    OpAllocatorStats();
    OpCheck();
    OpFill(2);
    OpEraseAll();
    OpStats();
    OpCheck();
  }

  const Template& t_;
  ZeroCopyDict* dict_;
  // The heap's size and the table's slots: the template's, until the growth
  // phase lets them grow (Refresh).
  uint64_t heap_size_;
  uint64_t slot_count_;
  bool growing_ = false;  // in the growth phase (Grow)
  bool trusted_ = false;
  Model model_;
  std::set<std::string> not_counters_;  // keys Add refuses for their type
};

// After the handle is gone: no descriptor and no mapping of the segment may
// remain. /proc/self/maps is long under ASan: read it every 16th input.
void CheckNoLeak(const Template& t, int fds_before) {
  static uint64_t inputs = 0;
  const int fds_after = OpenFdCount();
  if (fds_after != fds_before) {
    Violation(absl::StrCat("descriptor leak: ", fds_before,
                           " open before the "
                           "input, ",
                           fds_after, " after the handle was destroyed"));
  }
  if (inputs++ % 16 == 0 && SegmentMapped(t.path)) {
    Violation(
        "mapping leak: the segment is still mapped after the handle "
        "was destroyed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Template& t = GetTemplate();
  std::string image;
  Reader ops(nullptr, 0);
  bool grow = false;
  uint8_t grow_param = 0;
  if (size > 0 && data[0] == 0xFF) {
    image.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  } else {
    size_t n_ops = size > 0 ? data[0] : 0;
    size_t head = size > 0 ? 1 : 0;
    if (n_ops & 0x80) {  // the growth phase follows; byte 1 is its g
      grow = true;
      n_ops &= 0x7f;
      grow_param = size > 1 ? data[1] : 0;
      head = size > 1 ? 2 : size;
    }
    const size_t body = size - head;
    if (n_ops > body) n_ops = body;
    image = t.image;
    Reader patches(data + head, body - n_ops);
    ApplyPatches(t, patches, &image);
    ops = Reader(data + size - n_ops, n_ops);
  }
  const int fds_before = OpenFdCount();
  if (!WriteImage(t.path, image)) Fatal("cannot write " + t.path);

  zcipc::Options options;
  options.lock_timeout = absl::Milliseconds(50);
  // The model and the invariants above take the heap and the table to keep
  // their size: a write that finds them full is ResourceExhausted.
  options.auto_grow = false;
  if (image.size() < layout::kHeaderRegionSize || Load64(image, 0) == 0) {
    options.lock_timeout = absl::Milliseconds(1);  // Attach would only wait
  }
  absl::StatusOr<ZeroCopyDict> dict = ZeroCopyDict::Attach(t.name, options);
  if (Verbose()) {
    fprintf(stderr, "Attach (%zu-byte image): %s\n", image.size(),
            dict.status().ToString().c_str());
  }
  // The growth phase's handle: the same dict, auto_grow on. Attached before
  // the unlink (it names the file).
  absl::StatusOr<ZeroCopyDict> grower(absl::CancelledError("no growth phase"));
  if (grow && dict.ok()) {
    options.auto_grow = true;
    grower = ZeroCopyDict::Attach(t.name, options);
    if (!grower.ok() &&
        grower.status().message().find(t.name) == absl::string_view::npos) {
      UnnamedError("Attach", grower.status());
    }
  }
  // Unlink now: the handle keeps working, and a crash below leaves nothing
  // in /dev/shm.
  if (!ZeroCopyDict::Unlink(t.name).ok()) unlink(t.path.c_str());
  if (!dict.ok()) {
    if (dict.status().message().find(t.name) == absl::string_view::npos) {
      UnnamedError("Attach", dict.status());
    }
    CheckNoLeak(t, fds_before);
    return 0;
  }
  {
    Runner runner(t, &*dict);
    runner.Run(ops);
    if (grower.ok()) runner.Grow(&*grower, &*dict, grow_param);
  }
  grower = absl::StatusOr<ZeroCopyDict>(absl::CancelledError("closed"));
  dict = absl::StatusOr<ZeroCopyDict>(absl::CancelledError("closed"));
  CheckNoLeak(t, fds_before);
  return 0;
}
