// ls, stat, check and watch: what is in /dev/shm and whether it is healthy.
// They read the dict through the public API and the inspection interface
// (zcipc/inspect.h), never through raw header offsets.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "zcipc/inspect.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;

// ls must stay quick even when a file is half created or not a dict: Attach
// waits this long for its magic (then says DataLoss).
constexpr absl::Duration kLsAttachTimeout = absl::Milliseconds(200);

std::string SegmentPath(absl::string_view name) {
  return absl::StrCat("/dev/shm/zcipc.", name);
}

std::string Hex64(uint64_t v) { return absl::StrFormat("0x%016x", v); }

// Inspect() reads the holder's pid and probes the lock at two moments; on a
// busy dict the pid often reads 0 (between one holder's unlock and the next
// one's lock). Sample the pid again for a moment: any pid found held the
// lock an instant ago.
void FillHolderPid(const ZeroCopyDict& dict, Inspection* in) {
  for (int i = 0; in->lock_held && in->lock_holder_pid == 0 && i < 10000; ++i) {
    in->lock_holder_pid = dict.GetStats().writer_pid;
  }
}

// Who holds the writer lock, for people.
std::string WriterText(const Inspection& in) {
  if (in.lock_held) {
    return in.lock_holder_pid != 0 ? absl::StrCat("pid ", in.lock_holder_pid)
                                   : "held";
  }
  if (!in.intent.empty()) return "none (repair pending)";
  return "-";
}

// The lock line of stat and watch.
std::string LockText(const Inspection& in) {
  if (!in.lock_held && in.lock_abandoned) {
    return absl::StrCat("free: its last holder (pid ", in.dead_holder_pid,
                        ") died holding it; the next writer takes it over");
  }
  if (!in.lock_held) return "free";
  if (in.lock_holder_pid == 0)
    return "held (the holder's pid is not recorded yet)";
  return absl::StrCat("held by pid ", in.lock_holder_pid);
}

// An error for --json output: the status code's name, the engine's error
// kind (zcipc/status.h), the message and, for a lock timeout, the pid that
// held the lock.
Json ErrorJson(const absl::Status& status) {
  Json error{{"code", absl::StatusCodeToString(status.code())},
             {"kind", ErrorKindName(GetErrorKind(status))},
             {"message", std::string(status.message())}};
  if (int64_t pid = GetLockHolderPid(status); pid != 0) {
    error["lock_holder_pid"] = pid;
  }
  return error;
}

// Prints {"name": NAME, "error": {...}} (and `extra`'s fields) on stdout for
// a command run with --json; returns the exit code Fail() would.
int FailJson(const std::string& name, const absl::Status& status,
             Json extra = Json::object()) {
  Json out{{"name", name}};
  out.update(extra);
  out["error"] = ErrorJson(status);
  printf("%s\n", out.dump(2).c_str());
  return ExitCodeFor(status);
}

// A counter read from the header that cannot be true: shared memory is
// untrusted, so a value past its bound is reported as corrupt, not as a
// figure.
struct BadCounter {
  std::string counter;  // the Stats field, "size"
  uint64_t value;
  std::string rule;  // the bound it breaks, "size <= max_items"
  std::string text;  // "size: CORRUPT (18446744073709551615 > max 100)"
};

// Checks the counters against the bounds that always hold: size <= max_items
// unless the table is being grown (size < 7/8 of slot_count then), tombstones <= slot_count, heap_used and heap_free
// <= heap_size. With `alloc` read under the writer lock (exact), also that
// the used and free bytes add up to the heap: the blocks tile the heap, and
// no writer is between two counter updates then (engine/alloc/allocator.h,
// invariants 1 and 5). Without the lock they may not add up for a moment.
std::vector<BadCounter> FindBadCounters(const Stats& s,
                                        const AllocatorStats* alloc) {
  std::vector<BadCounter> bad;
  auto over = [&bad](const char* counter, uint64_t value, const char* bound,
                     const char* label, uint64_t limit) {
    if (value <= limit) return;
    bad.push_back({counter, value, absl::StrCat(counter, " <= ", bound),
                   absl::StrCat(counter, ": CORRUPT (", value, " > ", label,
                                " ", limit, ")")});
  };
  // A growing dict takes inserts past its capacity until its table is 7/8
  // full (docs/DESIGN.md, "Online growth"): only a size past that too is
  // impossible.
  if (s.size >= s.slot_count - s.slot_count / 8) {
    over("size", s.size, "max_items", "max", s.max_items);
  }
  if (s.size <= s.max_items) {
    over("size", s.size, "slot_count", "slot count", s.slot_count);
  }
  over("tombstones", s.tombstones, "slot_count", "slot count", s.slot_count);
  over("heap_used", s.heap_used, "heap_size", "heap size", s.heap_size);
  over("heap_free", s.heap_free, "heap_size", "heap size", s.heap_size);
  if (alloc != nullptr && alloc->exact) {
    // alloc->used_bytes is the heap_used counter again; free_bytes is the
    // sum over the free lists.
    over("free_list_bytes", alloc->free_bytes, "heap_size", "heap size",
         s.heap_size);
    if (alloc->used_bytes <= s.heap_size && alloc->free_bytes <= s.heap_size &&
        alloc->used_bytes + alloc->free_bytes != s.heap_size) {
      const uint64_t sum = alloc->used_bytes + alloc->free_bytes;
      bad.push_back({"heap_used+free_list_bytes", sum,
                     "heap_used + free_list_bytes == heap_size",
                     absl::StrCat("heap used + free: CORRUPT (",
                                  alloc->used_bytes, " + ", alloc->free_bytes,
                                  " != heap size ", s.heap_size, ")")});
    }
  }
  return bad;
}

bool IsBad(const std::vector<BadCounter>& bad, absl::string_view counter) {
  return std::any_of(bad.begin(), bad.end(),
                     [&](const BadCounter& b) { return b.counter == counter; });
}

// The text of the first problem with `counter`, without the "counter: "
// prefix ("CORRUPT (... > max 100)"); `shown` if there is none.
std::string CheckedText(const std::vector<BadCounter>& bad,
                        absl::string_view counter, std::string shown) {
  for (const BadCounter& b : bad) {
    if (b.counter == counter) return b.text.substr(b.counter.size() + 2);
  }
  return shown;
}

Json BadCountersJson(const std::vector<BadCounter>& bad) {
  Json list = Json::array();
  for (const BadCounter& b : bad) {
    list.push_back(Json{{"counter", b.counter},
                        {"value", b.value},
                        {"rule", b.rule},
                        {"message", b.text}});
  }
  return list;
}

// "size: CORRUPT (...); heap_used: CORRUPT (...); run zcipc check".
std::string BadCountersLine(const std::vector<BadCounter>& bad) {
  std::string line;
  for (const BadCounter& b : bad) absl::StrAppend(&line, b.text, "; ");
  return absl::StrCat(line, "run zcipc check");
}

Json LockJson(const Inspection& in) {
  return Json{{"held", in.lock_held},
              {"holder_pid", in.lock_held ? in.lock_holder_pid : 0},
              {"abandoned_by_pid", in.lock_abandoned ? in.dead_holder_pid : 0},
              {"intent", in.intent}};
}

// The change feed line of stat: the last change, the oldest one the change
// log still holds (what watch --follow --since can replay) and its size.
std::string ChangesText(const Stats& s) {
  if (s.change_log_bytes == 0) {
    return absl::StrCat("last ", FormatCount(s.change_seq),
                        "; no change log (created with change log bytes 0: "
                        "watch --follow does not work)");
  }
  return absl::StrCat("last ", FormatCount(s.change_seq), ", oldest retained ",
                      s.oldest_retained_change == 0
                          ? std::string("none")
                          : FormatCount(s.oldest_retained_change),
                      "; change log ", FormatBytes(s.change_log_bytes));
}

// How often the dict grew, for ls: "3", "3 (growing)".
std::string GrowsText(const Stats& s) {
  return absl::StrCat(FormatCount(s.grows_total),
                      s.growing ? " (growing)" : "");
}

// The growth line of stat: how often it grew, whether its table is being
// migrated now, and the largest its segment may become.
std::string GrowthText(const Stats& s) {
  return absl::StrCat(
      FormatCount(s.grows_total), s.grows_total == 1 ? " grow" : " grows",
      " so far", s.growing ? "; growing now (the table is being migrated)" : "",
      s.max_segment_size == 0
          ? std::string("; no bound on the segment's size is recorded")
          : absl::StrCat("; the segment may grow to ",
                         FormatBytes(s.max_segment_size), " (",
                         FormatCount(s.max_segment_size), " B)"));
}

Json GrowthJson(const Stats& s) {
  return Json{{"max_items", s.max_items},
              {"slot_count", s.slot_count},
              {"heap_size", s.heap_size},
              {"segment_size", s.segment_size},
              {"max_segment_size", s.max_segment_size},
              {"grows_total", s.grows_total},
              {"growing", s.growing}};
}

std::string CreatedText(uint64_t unix_nanos) {
  absl::Time created = absl::FromUnixNanos(static_cast<int64_t>(unix_nanos));
  absl::Duration age = absl::Trunc(absl::Now() - created, absl::Seconds(1));
  return absl::StrCat(
      absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", created, absl::LocalTimeZone()),
      age < absl::Seconds(1)
          ? " (just now)"
          : absl::StrCat(" (", absl::FormatDuration(age), " ago)"));
}

// "[########............]" for a fraction in [0, 1].
std::string Bar(double fraction, int width) {
  int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width + 0.5);
  return absl::StrCat("[", std::string(filled, '#'),
                      std::string(width - filled, '.'), "]");
}

std::string Blocks(uint64_t n) {
  return absl::StrCat(FormatCount(n), n == 1 ? " block" : " blocks");
}

double Fraction(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / whole;
}

}  // namespace

int RunLs(const Invocation& inv) {
  const bool json = absl::GetFlag(FLAGS_json);
  Json list = Json::array();
  Table table({"NAME", "ITEMS", "MAX ITEMS", "HEAP USED", "HEAP SIZE",
               "SEGMENT", "GROWS", "VERSION", "WRITER"},
              {false, true, true, true, true, true, true, true, false});
  Options options;
  options.lock_timeout = kLsAttachTimeout;
  std::vector<std::string> names = ListDicts();
  std::string notes;  // the corrupt counters, under the table
  for (const std::string& name : names) {
    absl::StatusOr<ZeroCopyDict> dict = ZeroCopyDict::Attach(name, options);
    absl::StatusOr<Inspection> in =
        dict.ok() ? Inspect(*dict) : absl::StatusOr<Inspection>(dict.status());
    if (!in.ok()) {
      if (absl::IsNotFound(in.status())) continue;  // unlinked meanwhile
      list.push_back(Json{{"name", name}, {"error", ErrorJson(in.status())}});
      table.AddRow({name, absl::StrCat("error: ", Describe(in.status()))});
      continue;
    }
    FillHolderPid(*dict, &*in);
    const Stats& s = in->stats;
    const std::vector<BadCounter> bad = FindBadCounters(s, nullptr);
    list.push_back(Json{{"name", name},
                        {"items", s.size},
                        {"max_items", s.max_items},
                        {"heap_used", s.heap_used},
                        {"heap_size", s.heap_size},
                        {"segment_size", s.segment_size},
                        {"slot_count", s.slot_count},
                        {"max_segment_size", s.max_segment_size},
                        {"grows_total", s.grows_total},
                        {"growing", s.growing},
                        {"format_version", s.format_version},
                        {"lock", LockJson(*in)},
                        {"corrupt_counters", BadCountersJson(bad)}});
    table.AddRow(
        {name, IsBad(bad, "size") ? "CORRUPT" : FormatCount(s.size),
         FormatCount(s.max_items),
         IsBad(bad, "heap_used") ? "CORRUPT" : FormatBytes(s.heap_used),
         FormatBytes(s.heap_size), FormatBytes(s.segment_size), GrowsText(s),
         absl::StrCat(s.format_version), WriterText(*in)});
    if (!bad.empty()) {
      absl::StrAppend(&notes, name, ": ", BadCountersLine(bad), "\n");
    }
  }
  if (json) {
    printf("%s\n", list.dump(2).c_str());
  } else if (list.empty()) {
    printf("no zcipc dicts in /dev/shm\n");
  } else {
    printf("%s%s%s", table.Render().c_str(), notes.empty() ? "" : "\n",
           notes.c_str());
  }
  return kOk;
}

int RunStat(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const bool json = absl::GetFlag(FLAGS_json);
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) {
    return json ? FailJson(name, dict.status()) : Fail(inv, dict.status());
  }
  absl::StatusOr<Inspection> in = Inspect(*dict);
  if (!in.ok()) {
    return json ? FailJson(name, in.status()) : Fail(inv, in.status());
  }
  FillHolderPid(*dict, &*in);
  AllocatorStats alloc = dict->GetAllocatorStats();
  const Stats& s = in->stats;
  const ProbeStats& p = in->probes;
  // The table in use: once grown, a block of the heap (docs/DESIGN.md,
  // "Online growth"), so its size is its slots', not a region's.
  const uint64_t slots_bytes = s.slot_count * 32;
  // The heap line shows the allocator's counters, read (under the lock when
  // exact) after Inspect's: check those.
  Stats checked = s;
  checked.heap_used = alloc.used_bytes;
  if (!alloc.exact) checked.heap_free = alloc.free_bytes;
  const std::vector<BadCounter> bad = FindBadCounters(checked, &alloc);

  if (json) {
    Json classes = Json::array();
    for (const SizeClassStats& c : alloc.size_classes) {
      classes.push_back(Json{{"min_block_size", c.min_block_size},
                             {"max_block_size", c.max_block_size},
                             {"free_blocks", c.free_blocks},
                             {"free_bytes", c.free_bytes}});
    }
    Json out{
        {"name", name},
        {"path", SegmentPath(name)},
        {"header", Json{{"magic", Hex64(in->magic)},
                        {"format_version", s.format_version},
                        {"header_size", in->header_size},
                        {"fingerprint", Hex64(in->fingerprint)},
                        {"build_fingerprint", Hex64(in->build_fingerprint)},
                        {"created_unix_nanos", in->created_unix_nanos},
                        {"segment_size", s.segment_size},
                        {"journal_offset", in->journal_offset},
                        {"slots_offset", in->slots_offset},
                        {"heap_offset", in->heap_offset},
                        {"table_seq", in->table_seq}}},
        {"occupancy", Json{{"items", s.size},
                           {"max_items", s.max_items},
                           {"slot_count", s.slot_count},
                           {"load_factor", s.load_factor},
                           {"tombstones", s.tombstones}}},
        // The capacity now (a dict grows) and its growth.
        {"growth", GrowthJson(s)},
        {"probes", Json{{"histogram", p.histogram},
                        {"max", p.max},
                        {"mean", p.mean},
                        {"max_miss", p.max_miss},
                        {"mean_miss", p.mean_miss}}},
        {"allocator",
         Json{{"exact", alloc.exact},
              {"heap_size", s.heap_size},
              {"used_blocks", alloc.used_blocks},
              {"used_bytes", alloc.used_bytes},
              {"free_blocks", alloc.free_blocks},
              {"free_bytes", alloc.free_bytes},
              // Unknown (null) unless the free lists were
              // walked under the lock.
              {"largest_free_block",
               alloc.exact ? Json(alloc.largest_free_block) : Json(nullptr)},
              {"fragmentation",
               alloc.exact ? Json(alloc.fragmentation) : Json(nullptr)},
              {"size_classes", classes}}},
        {"counters", Json{{"writes_total", s.writes_total},
                          {"purges_total", s.purges_total},
                          {"repairs_total", s.repairs_total}}},
        {"changes", Json{{"change_seq", s.change_seq},
                         {"oldest_retained_change", s.oldest_retained_change},
                         {"change_log_bytes", s.change_log_bytes}}},
        {"lock", LockJson(*in)},
        {"corrupt_counters", BadCountersJson(bad)},
    };
    printf("%s\n", out.dump(2).c_str());
    return kOk;
  }

  std::string o;
  auto line = [&o](absl::string_view label, absl::string_view text) {
    absl::StrAppend(&o, absl::StrFormat("%-12s %s\n", label, text));
  };
  line("dict", absl::StrCat(name, "  (", SegmentPath(name), ")"));
  line("format", absl::StrCat("version ", s.format_version, ", magic ",
                              Hex64(in->magic)));
  line("fingerprint",
       absl::StrCat(Hex64(in->fingerprint),
                    in->fingerprint == in->build_fingerprint
                        ? " (same as this build)"
                        : absl::StrCat(" (this build: ",
                                       Hex64(in->build_fingerprint), ")")));
  line("created", CreatedText(in->created_unix_nanos));
  line("segment", absl::StrCat(FormatBytes(s.segment_size), " (",
                               FormatCount(s.segment_size), " B)"));
  line("regions",
       absl::StrCat("header @0 (", FormatCount(in->header_size),
                    " B), journal @", in->journal_offset, ", slots @",
                    in->slots_offset, " (", FormatBytes(slots_bytes),
                    "), heap @", in->heap_offset, " (",
                    FormatBytes(s.heap_size), ")"));
  line("items",
       absl::StrCat(CheckedText(bad, "size", FormatCount(s.size)), " of ",
                    FormatCount(s.max_items), " max, ",
                    CheckedText(bad, "tombstones", FormatCount(s.tombstones)),
                    " tombstones",
                    IsBad(bad, "size")
                        ? ""
                        : absl::StrFormat("; load %.3f", s.load_factor)));
  line("growth", GrowthText(s));
  line("probes",
       absl::StrFormat("hit: mean %.2f, max %d slots past home; miss: mean "
                       "%.2f, max %d slots read",
                       p.mean, p.max, p.mean_miss, p.max_miss));
  absl::StrAppend(&o, "  probe histogram (slots past home: entries)\n");
  uint64_t top = 0;
  for (uint64_t n : p.histogram) top = std::max(top, n);
  constexpr size_t kMaxRows = 16;
  for (size_t d = 0; d < p.histogram.size(); ++d) {
    uint64_t n = p.histogram[d];
    std::string label = absl::StrCat("    +", d);
    if (d == kMaxRows && p.histogram.size() > kMaxRows + 1) {
      n = 0;
      for (size_t k = d; k < p.histogram.size(); ++k) n += p.histogram[k];
      label = absl::StrCat("    +", d, "..", p.histogram.size() - 1);
      d = p.histogram.size();
    }
    std::string bar(static_cast<size_t>(Fraction(n, top) * 40 + 0.5), '#');
    absl::StrAppend(&o,
                    absl::StrFormat("%-12s %10s%s%s\n", label, FormatCount(n),
                                    bar.empty() ? "" : " ", bar));
  }
  line("heap",
       absl::StrCat(
           CheckedText(bad, "heap_used", FormatBytes(alloc.used_bytes)),
           " used (", Blocks(alloc.used_blocks), "), ",
           alloc.exact
               ? CheckedText(bad, "free_list_bytes",
                             FormatBytes(alloc.free_bytes))
               : CheckedText(bad, "heap_free", FormatBytes(alloc.free_bytes)),
           " free (", Blocks(alloc.free_blocks), ", largest ",
           alloc.exact ? FormatBytes(alloc.largest_free_block) : "unknown",
           "), fragmentation ",
           alloc.exact ? absl::StrFormat("%.3f", alloc.fragmentation)
                       : "unknown (the writer lock was busy: counters only)"));
  if (!alloc.size_classes.empty()) {
    Table classes({"  free lists: block size", "blocks", "bytes"},
                  {false, true, true});
    for (const SizeClassStats& c : alloc.size_classes) {
      classes.AddRow({absl::StrCat("  ", FormatCount(c.min_block_size), " - ",
                                   FormatCount(c.max_block_size), " B"),
                      FormatCount(c.free_blocks), FormatBytes(c.free_bytes)});
    }
    absl::StrAppend(&o, classes.Render());
  }
  line("writes", absl::StrCat(FormatCount(s.writes_total), " total, ",
                              FormatCount(s.purges_total), " purges, ",
                              FormatCount(s.repairs_total), " crash repairs"));
  line("changes", ChangesText(s));
  line("lock", LockText(*in));
  line("intent",
       in->intent.empty()
           ? std::string("none")
           : absl::StrCat(in->intent, in->lock_held
                                          ? " (a writer is inside)"
                                          : " (its writer died: the next lock "
                                            "holder repairs it)"));
  if (!bad.empty()) line("counters", BadCountersLine(bad));
  printf("%s", o.c_str());
  return kOk;
}

namespace {

// Why a segment does not attach, by the engine's error kind.
std::string AttachFailureText(const absl::Status& status) {
  switch (GetErrorKind(status)) {
    case ErrorKind::kNotAFile:
      return "  the segment does not attach: its name is not a regular file\n";
    case ErrorKind::kNoHeader:
      return "  the segment does not attach: the file has no zcipc header\n"
             "  (empty or too short: not a dict)\n";
    case ErrorKind::kPermission:
      return "  the segment does not attach: this user may not open it\n";
    case ErrorKind::kIncompatible:
      return "  the segment does not attach: another format version or build "
             "made it\n";
    default:
      return "  the segment does not attach: its header failed validation\n"
             "  (magic, version, layout fingerprint, geometry or file size)\n";
  }
}

// A lock timeout from Check() means the check did not run (another process
// held the writer lock), never that it found a problem.
bool IsLockTimeout(const absl::Status& status) {
  return GetErrorKind(status) == ErrorKind::kLockTimeout;
}

}  // namespace

int RunCheck(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const bool json = absl::GetFlag(FLAGS_json);
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  absl::Status status = dict.status();
  // A missing dict or a bad name: the same errors (and exit codes, 1 and 2)
  // as every other command.
  if (absl::IsNotFound(status) || absl::IsInvalidArgument(status)) {
    return json ? FailJson(name, status, Json{{"ok", false}})
                : Fail(inv, status);
  }
  const char* stage = "attach";
  if (dict.ok()) {
    stage = "check";
    status = dict->Check();
  }
  // No verdict: the lock was busy (at Check, or at Attach should it lock).
  const bool busy = IsLockTimeout(status);
  const int64_t holder = GetLockHolderPid(status);
  const std::string holder_text =
      holder != 0 ? absl::StrCat("pid ", holder) : "another process";
  Stats s;
  if (dict.ok()) s = dict->GetStats();
  if (json) {
    Json out{{"name", name}, {"ok", status.ok()}, {"checked", !busy}};
    if (!status.ok()) {
      out["stage"] = stage;
      out["error"] = ErrorJson(status);
    }
    if (dict.ok()) {
      out["items"] = s.size;
      out["slot_count"] = s.slot_count;
      out["heap_used"] = s.heap_used;
      out["heap_size"] = s.heap_size;
    }
    printf("%s\n", out.dump(2).c_str());
    return status.ok() ? kOk : busy ? kBusy : kFailed;
  }
  if (status.ok()) {
    printf(
        "check %s: OK\n  %s items in %s slots, %s tombstones; heap %s used of "
        "%s\n  header, slots, heap blocks, free lists and counters are "
        "consistent\n",
        name.c_str(), FormatCount(s.size).c_str(),
        FormatCount(s.slot_count).c_str(), FormatCount(s.tombstones).c_str(),
        FormatBytes(s.heap_used).c_str(), FormatBytes(s.heap_size).c_str());
    return kOk;
  }
  if (busy) {
    printf(
        "check %s: NOT CHECKED\n  could not check: the writer lock is held by "
        "%s (waited %s; see --lock-timeout)\n  error: %s\n",
        name.c_str(), holder_text.c_str(),
        absl::FormatDuration(absl::GetFlag(FLAGS_lock_timeout)).c_str(),
        Describe(status).c_str());
    return kBusy;
  }
  std::string report = absl::StrCat("check ", name, ": FAILED\n");
  if (!dict.ok()) {
    absl::StrAppend(&report, AttachFailureText(status));
  } else {
    absl::StrAppend(&report,
                    "  the integrity check found a problem (the first one "
                    "is shown)\n");
  }
  absl::StrAppend(&report, "  error: ", Describe(status), "\n");
  if (dict.ok()) {
    const std::vector<BadCounter> bad = FindBadCounters(s, nullptr);
    absl::StrAppend(
        &report, "  counters: ", CheckedText(bad, "size", FormatCount(s.size)),
        " items, ", CheckedText(bad, "tombstones", FormatCount(s.tombstones)),
        " tombstones, ",
        CheckedText(bad, "heap_used", FormatBytes(s.heap_used)), " of ",
        FormatBytes(s.heap_size), " heap used, ", FormatCount(s.repairs_total),
        " crash repairs\n");
  }
  absl::StrAppend(&report, "  file: ", SegmentPath(name), "\n");
  printf("%s", report.c_str());
  return kFailed;
}

namespace {

// Which file a name denotes: its device and inode. A dict unlinked and
// created again under its name is another file (another inode), while the
// handle keeps the old one mapped.
struct FileId {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId& o) const {
    return exists == o.exists && dev == o.dev && ino == o.ino;
  }
  bool operator!=(const FileId& o) const { return !(*this == o); }
};

FileId IdOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return FileId{};
  return FileId{true, st.st_dev, st.st_ino};
}

// The flags that the other mode of watch reads (the view's for --follow,
// --follow's for the view): usage errors.
const std::vector<const char*>& ModeOnlyFlags(bool follow) {
  static const auto* dashboard =
      new std::vector<const char*>{"interval", "idle_refresh", "count"};
  static const auto* follow_only =
      new std::vector<const char*>{"since", "json", "hex", "base64"};
  return follow ? *dashboard : *follow_only;
}

// The longest single wait of the view: how long an unlinked or replaced
// dict may go unnoticed while it does not change.
constexpr absl::Duration kNameCheckSlice = absl::Seconds(1);

}  // namespace

int RunWatch(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const std::string path = SegmentPath(name);
  const bool follow = absl::GetFlag(FLAGS_follow);
  for (const char* flag : ModeOnlyFlags(follow)) {
    if (FlagWasGiven(flag)) {
      return UsageError(
          inv, absl::StrCat("--", absl::StrReplaceAll(flag, {{"_", "-"}}),
                            follow ? " is for the view, not "
                                     "for --follow"
                                   : " needs --follow"));
    }
  }
  if (follow && absl::GetFlag(FLAGS_json) &&
      (absl::GetFlag(FLAGS_hex) || absl::GetFlag(FLAGS_base64))) {
    return UsageError(inv,
                      "--json writes keys and values as dump does (text, or "
                      "key_base64 / value_base64); --hex and --base64 are "
                      "for the text lines");
  }
  // The file attached: the one the name denoted just before and just after
  // Attach (retried if the name changed files in between).
  absl::StatusOr<ZeroCopyDict> dict;
  FileId attached;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const FileId before = IdOf(path);
    dict = AttachDict(name);
    if (!dict.ok()) return Fail(inv, dict.status());
    attached = IdOf(path);
    if (attached == before) break;
  }
  // The handle would go on showing a dict nobody can reach by its name:
  // watch stops and says so instead.
  auto name_moved = [&]() -> std::string {
    const FileId now_id = IdOf(path);
    if (now_id == attached) return "";
    return now_id.exists
               ? absl::StrCat("dict \"", name, "\" was replaced: ", path,
                              " is now another dict (created again under the "
                              "same name); run zcipc watch ",
                              name, " again to watch it")
               : absl::StrCat("dict \"", name, "\" was unlinked: ", path,
                              " is gone (processes that have it open may "
                              "still use it)");
  };
  auto stop_if_moved = [&]() -> bool {
    const std::string why = name_moved();
    if (why.empty()) return false;
    fflush(stdout);
    fprintf(stderr, "zcipc watch: %s\n", why.c_str());
    return true;
  };
  if (follow) return RunFollow(inv, *dict, name_moved);

  // The view is redrawn when the dict changes (WaitForChange), no sooner
  // than `interval` after the last redraw, and after `idle_refresh` without
  // a change (for the lock holder and the rates).
  const absl::Duration interval =
      std::max(absl::GetFlag(FLAGS_interval), absl::Milliseconds(10));
  const absl::Duration idle_refresh =
      std::max(absl::GetFlag(FLAGS_idle_refresh), interval);
  const int64_t count = absl::GetFlag(FLAGS_count);
  const bool tty = isatty(STDOUT_FILENO);
  // A first sample a moment before the first frame, so that it has a rate.
  uint64_t last_writes = dict->GetStats().writes_total;
  absl::Time last = absl::Now();
  uint64_t shown_seq = 0;  // the change number the last frame showed
  for (int64_t frame = 0; count <= 0 || frame < count; ++frame) {
    if (frame == 0) {
      absl::SleepFor(std::min(interval, absl::Milliseconds(250)));
    } else {
      // `interval` at least since the last frame; then until a change
      // comes, or until `idle_refresh` since the last frame.
      absl::SleepFor(last + interval - absl::Now());
      for (;;) {
        if (stop_if_moved()) return kFailed;
        const absl::Duration left = last + idle_refresh - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        absl::StatusOr<uint64_t> changed =
            dict->WaitForChange(shown_seq, std::min(left, kNameCheckSlice));
        if (changed.ok()) break;
        if (!absl::IsDeadlineExceeded(changed.status())) {
          return Fail(inv, changed.status());
        }
      }
    }
    if (stop_if_moved()) return kFailed;
    shown_seq = dict->ChangeSeq();
    absl::StatusOr<Inspection> in = Inspect(*dict);
    if (!in.ok()) return Fail(inv, in.status());
    FillHolderPid(*dict, &*in);
    const Stats& s = in->stats;
    const std::vector<BadCounter> bad = FindBadCounters(s, nullptr);
    absl::Time now = absl::Now();
    const double seconds = absl::ToDoubleSeconds(now - last);
    std::string rate = FormatCount(static_cast<uint64_t>(
        static_cast<double>(s.writes_total - last_writes) / seconds + 0.5));
    last = now;
    last_writes = s.writes_total;

    std::string o = absl::StrCat(
        "zcipc watch ", name, "  on change, at most every ",
        absl::FormatDuration(interval), ", at least every ",
        absl::FormatDuration(idle_refresh), tty ? "; Ctrl-C quits" : "", "  ",
        absl::FormatTime("%H:%M:%S", now, absl::LocalTimeZone()), "\n\n");
    absl::StrAppend(
        &o,
        absl::StrFormat(
            "items      %s %12s / %s  (%s tombstones)\n",
            Bar(Fraction(s.size, s.max_items), 20),
            CheckedText(bad, "size", FormatCount(s.size)),
            FormatCount(s.max_items),
            CheckedText(bad, "tombstones", FormatCount(s.tombstones))),
        absl::StrFormat(
            "heap       %s %12s / %s  (%s)\n",
            Bar(Fraction(s.heap_used, s.heap_size), 20),
            CheckedText(bad, "heap_used", FormatBytes(s.heap_used)),
            FormatBytes(s.heap_size),
            IsBad(bad, "heap_used")
                ? std::string("?")
                : absl::StrFormat("%.1f %%",
                                  100 * Fraction(s.heap_used, s.heap_size))),
        absl::StrFormat("writes/s   %s\n", rate),
        absl::StrFormat("writes     %s total, %s purges, %s crash repairs\n",
                        FormatCount(s.writes_total),
                        FormatCount(s.purges_total),
                        FormatCount(s.repairs_total)),
        absl::StrFormat("changes    %s\n", ChangesText(s)),
        absl::StrFormat("lock       %s\n", LockText(*in)),
        absl::StrFormat("intent     %s\n",
                        in->intent.empty() ? "none" : in->intent));
    if (!bad.empty()) {
      absl::StrAppend(&o, "counters   ", BadCountersLine(bad), "\n");
    }
    // In a terminal: home the cursor and clear the screen, so the view is
    // redrawn in place; otherwise (a pipe, a log) frames follow each other.
    printf("%s%s", tty ? "\033[H\033[2J" : (frame ? "\n" : ""), o.c_str());
    fflush(stdout);
  }
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
