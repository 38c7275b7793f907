#include "bench/compare/results_json.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace zcipc {
namespace bench {
namespace {

using Json = nlohmann::ordered_json;

// null for NaN and infinities (JSON has no such numbers).
Json Number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json Numbers(const std::vector<double>& v) {
  Json out = Json::array();
  for (double x : v) out.push_back(Number(x));
  return out;
}

Json ResultJson(const Result& r) {
  Json j = {
      {"peer", r.peer},       {"config", r.config},         {"mode", r.mode},
      {"keys", r.keys},       {"value_size", r.value_size}, {"phase", r.phase},
      {"readers", r.readers}, {"available", r.available}};
  if (!r.note.empty()) j["note"] = r.note;
  if (!r.available) return j;
  j["ops"] = r.ops;
  j["seconds"] = Number(r.seconds);
  j["ops_per_sec"] = Number(r.ops_per_sec);
  if (r.phase != "readers") {
    j["ns_per_op"] = Number(r.ns_per_op);
    j["cpu_ns_per_op"] = Number(r.cpu_ns_per_op);
  } else {
    j["reader_cpu_ns_per_read"] = Number(r.cpu_ns_per_op);
    j["per_reader_ops_per_sec"] = Number(r.per_reader_ops_per_sec);
    j["writer_ops_per_sec"] = Number(r.writer_ops_per_sec);
  }
  j["cpu_is_all_work"] = r.cpu_is_all_work;
  j["reps_ops_per_sec"] = Numbers(r.reps_ops_per_sec);
  j["reps_cpu_ns_per_op"] = Numbers(r.reps_cpu_ns_per_op);
  j["time_bounded"] = r.time_bounded;
  j["errors"] = r.errors;
  j["torn"] = r.torn;
  if (r.phase == "readers" && r.has_latency) {
    j["latency_ns"] = {{"p50", Number(r.latency.p50)},
                       {"p99", Number(r.latency.p99)},
                       {"p99.9", Number(r.latency.p999)},
                       {"max", Number(r.latency.max)},
                       {"samples", r.latency.samples}};
  }
  return j;
}

}  // namespace

std::string ResultsJson(const RunInfo& info,
                        const std::vector<Result>& results) {
  const Settings& s = info.settings;
  Json j;
  j["schema"] = kResultsSchema;
  j["date"] = info.date;
  j["date_unix"] = info.date_unix;
  j["command"] = info.command;
  j["machine"] = {{"nproc", info.nproc},
                  {"cpu_model", info.cpu_model},
                  {"kernel", info.kernel},
                  {"memory_bytes", info.memory_bytes}};
  j["versions"] = info.versions;
  j["driver_seconds"] = Number(info.driver_seconds);
  if (info.setup_and_build_seconds >= 0) {
    j["setup_and_build_seconds"] = Number(info.setup_and_build_seconds);
  }
  j["clock_overhead_ns_p50"] = Number(info.clock_overhead_ns);
  j["load_average_start"] = Numbers(info.load_start);
  j["load_average_end"] = Numbers(info.load_end);
  j["settings"] = {{"phase_seconds", Number(s.phase_seconds)},
                   {"insert_seconds", Number(s.insert_seconds)},
                   {"mp_seconds", Number(s.mp_seconds)},
                   {"reps", s.reps},
                   {"paired_reps", info.paired_reps},
                   {"batch", s.batch},
                   {"readers", s.readers},
                   {"multi_process", s.multi_process},
                   {"keys", info.keys},
                   {"value_sizes", info.sizes},
                   {"peers", info.peers}};
  j["method"] = {{"key_format", kKeyFormat},
                 {"payloads", kPayloads},
                 {"sequence_length", kSequenceLength},
                 {"mixed_update_one_in", kMixedUpdateOneIn},
                 {"verify_values", kVerifyValues},
                 {"latency_sample_every", kLatencySampleEvery},
                 {"latency_samples_per_reader", kLatencySamplesPerReader}};
  j["skipped"] = info.skipped;
  j["results"] = Json::array();
  // One line per member and per result: a readable file whose diffs
  // between runs line up.
  std::string out = "{\n";
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "results") continue;
    absl::StrAppend(&out, "  ", Json(it.key()).dump(), ": ", it.value().dump(),
                    ",\n");
  }
  out += "  \"results\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    absl::StrAppend(&out, "    ", ResultJson(results[i]).dump(),
                    i + 1 < results.size() ? ",\n" : "\n");
  }
  out += "  ]\n}\n";
  return out;
}

absl::Status WriteResultsJson(const std::string& path, const RunInfo& info,
                              const std::vector<Result>& results) {
  const std::string text = ResultsJson(info, results);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) {
    return absl::UnavailableError(absl::StrCat("results.json: cannot open ",
                                               path, ": ", strerror(errno)));
  }
  f << text;
  f.close();
  if (!f) {
    return absl::DataLossError(
        absl::StrCat("results.json: cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace bench
}  // namespace zcipc
