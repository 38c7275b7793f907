// ls, stat, check and watch: what is in /dev/shm and whether it is healthy.
// They read the dict through the public API and the inspection interface
// (zcipc/inspect.h), never through raw header offsets.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "zcipc/inspect.h"
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
  if (!in.lock_held) return "free";
  if (in.lock_holder_pid == 0)
    return "held (the holder's pid is not recorded yet)";
  return absl::StrCat("held by pid ", in.lock_holder_pid);
}

Json ErrorJson(const absl::Status& status) {
  return Json{{"code", absl::StatusCodeToString(status.code())},
              {"message", std::string(status.message())}};
}

Json LockJson(const Inspection& in) {
  return Json{{"held", in.lock_held},
              {"holder_pid", in.lock_held ? in.lock_holder_pid : 0},
              {"intent", in.intent}};
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
               "SEGMENT", "VERSION", "WRITER"},
              {false, true, true, true, true, true, true, false});
  Options options;
  options.lock_timeout = kLsAttachTimeout;
  std::vector<std::string> names = ListDicts();
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
    list.push_back(Json{{"name", name},
                        {"items", s.size},
                        {"max_items", s.max_items},
                        {"heap_used", s.heap_used},
                        {"heap_size", s.heap_size},
                        {"segment_size", s.segment_size},
                        {"format_version", s.format_version},
                        {"lock", LockJson(*in)}});
    table.AddRow({name, FormatCount(s.size), FormatCount(s.max_items),
                  FormatBytes(s.heap_used), FormatBytes(s.heap_size),
                  FormatBytes(s.segment_size), absl::StrCat(s.format_version),
                  WriterText(*in)});
  }
  if (json) {
    printf("%s\n", list.dump(2).c_str());
  } else if (list.empty()) {
    printf("no zcipc dicts in /dev/shm\n");
  } else {
    printf("%s", table.Render().c_str());
  }
  return kOk;
}

int RunStat(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  absl::StatusOr<Inspection> in = Inspect(*dict);
  if (!in.ok()) return Fail(inv, in.status());
  FillHolderPid(*dict, &*in);
  AllocatorStats alloc = dict->GetAllocatorStats();
  const Stats& s = in->stats;
  const ProbeStats& p = in->probes;
  const uint64_t slots_bytes = in->heap_offset - in->slots_offset;

  if (absl::GetFlag(FLAGS_json)) {
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
        {"probes", Json{{"histogram", p.histogram},
                        {"max", p.max},
                        {"mean", p.mean},
                        {"max_miss", p.max_miss},
                        {"mean_miss", p.mean_miss}}},
        {"allocator", Json{{"exact", alloc.exact},
                           {"heap_size", s.heap_size},
                           {"used_blocks", alloc.used_blocks},
                           {"used_bytes", alloc.used_bytes},
                           {"free_blocks", alloc.free_blocks},
                           {"free_bytes", alloc.free_bytes},
                           {"largest_free_block", alloc.largest_free_block},
                           {"fragmentation", alloc.fragmentation},
                           {"size_classes", classes}}},
        {"counters", Json{{"writes_total", s.writes_total},
                          {"purges_total", s.purges_total},
                          {"repairs_total", s.repairs_total}}},
        {"lock", LockJson(*in)},
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
  line("items", absl::StrFormat("%s of %s max, %s tombstones; load %.3f",
                                FormatCount(s.size), FormatCount(s.max_items),
                                FormatCount(s.tombstones), s.load_factor));
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
  line("heap", absl::StrFormat(
                   "%s used (%s), %s free (%s, largest %s), "
                   "fragmentation %.3f%s",
                   FormatBytes(alloc.used_bytes), Blocks(alloc.used_blocks),
                   FormatBytes(alloc.free_bytes), Blocks(alloc.free_blocks),
                   FormatBytes(alloc.largest_free_block), alloc.fragmentation,
                   alloc.exact ? "" : " (lock busy: counters only)"));
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
  line("lock", LockText(*in));
  line("intent",
       in->intent.empty()
           ? std::string("none")
           : absl::StrCat(in->intent, in->lock_held
                                          ? " (a writer is inside)"
                                          : " (its writer died: the next lock "
                                            "holder repairs it)"));
  printf("%s", o.c_str());
  return kOk;
}

int RunCheck(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const bool json = absl::GetFlag(FLAGS_json);
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  absl::Status status = dict.status();
  const char* stage = "attach";
  if (dict.ok()) {
    stage = "check";
    status = dict->Check();
  }
  if (absl::IsNotFound(status) && !dict.ok()) return Fail(inv, status);
  Stats s;
  if (dict.ok()) s = dict->GetStats();
  if (json) {
    Json out{{"name", name}, {"ok", status.ok()}};
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
    return status.ok() ? kOk : kFailed;
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
  std::string report = absl::StrCat("check ", name, ": FAILED\n");
  if (std::string(stage) == "attach") {
    absl::StrAppend(&report,
                    "  the segment does not attach: its header failed "
                    "validation\n  (magic, version, layout fingerprint, "
                    "geometry or file size)\n");
  } else {
    absl::StrAppend(&report,
                    "  the integrity check found a problem (the first one "
                    "is shown)\n");
  }
  absl::StrAppend(&report, "  error: ", Describe(status), "\n");
  if (dict.ok()) {
    absl::StrAppend(&report, "  counters: ", FormatCount(s.size), " items, ",
                    FormatCount(s.tombstones), " tombstones, ",
                    FormatBytes(s.heap_used), " of ", FormatBytes(s.heap_size),
                    " heap used, ", FormatCount(s.repairs_total),
                    " crash repairs\n");
  }
  absl::StrAppend(&report, "  file: ", SegmentPath(name), "\n");
  printf("%s", report.c_str());
  return kFailed;
}

int RunWatch(const Invocation& inv) {
  const std::string& name = inv.args[0];
  absl::StatusOr<ZeroCopyDict> dict = AttachDict(name);
  if (!dict.ok()) return Fail(inv, dict.status());
  const absl::Duration interval =
      std::max(absl::GetFlag(FLAGS_interval), absl::Milliseconds(10));
  const int64_t count = absl::GetFlag(FLAGS_count);
  const bool tty = isatty(STDOUT_FILENO);
  // A first sample a moment before the first frame, so that it has a rate.
  uint64_t last_writes = dict->GetStats().writes_total;
  absl::Time last = absl::Now();
  for (int64_t frame = 0; count <= 0 || frame < count; ++frame) {
    absl::SleepFor(frame == 0 ? std::min(interval, absl::Milliseconds(250))
                              : interval);
    absl::StatusOr<Inspection> in = Inspect(*dict);
    if (!in.ok()) return Fail(inv, in.status());
    FillHolderPid(*dict, &*in);
    const Stats& s = in->stats;
    absl::Time now = absl::Now();
    const double seconds = absl::ToDoubleSeconds(now - last);
    std::string rate = FormatCount(static_cast<uint64_t>(
        static_cast<double>(s.writes_total - last_writes) / seconds + 0.5));
    last = now;
    last_writes = s.writes_total;
    std::vector<std::string> names = ListDicts();
    bool linked = std::binary_search(names.begin(), names.end(), name);

    std::string o = absl::StrCat(
        "zcipc watch ", name, "  every ", absl::FormatDuration(interval),
        tty ? ", Ctrl-C quits" : "", "  ",
        absl::FormatTime("%H:%M:%S", now, absl::LocalTimeZone()),
        linked ? "" : "  (unlinked: showing the last open handle)", "\n\n");
    absl::StrAppend(
        &o,
        absl::StrFormat("items      %s %12s / %s  (%s tombstones)\n",
                        Bar(Fraction(s.size, s.max_items), 20),
                        FormatCount(s.size), FormatCount(s.max_items),
                        FormatCount(s.tombstones)),
        absl::StrFormat("heap       %s %12s / %s  (%.1f %%)\n",
                        Bar(Fraction(s.heap_used, s.heap_size), 20),
                        FormatBytes(s.heap_used), FormatBytes(s.heap_size),
                        100 * Fraction(s.heap_used, s.heap_size)),
        absl::StrFormat("writes/s   %s\n", rate),
        absl::StrFormat("writes     %s total, %s purges, %s crash repairs\n",
                        FormatCount(s.writes_total),
                        FormatCount(s.purges_total),
                        FormatCount(s.repairs_total)),
        absl::StrFormat("lock       %s\n", LockText(*in)),
        absl::StrFormat("intent     %s\n",
                        in->intent.empty() ? "none" : in->intent));
    // In a terminal: home the cursor and clear the screen, so the view is
    // redrawn in place; otherwise (a pipe, a log) frames follow each other.
    printf("%s%s", tty ? "\033[H\033[2J" : (frame ? "\n" : ""), o.c_str());
    fflush(stdout);
  }
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
