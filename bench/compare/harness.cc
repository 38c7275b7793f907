#include "bench/compare/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <random>

#include "absl/strings/str_cat.h"
#include "tools/proc/proc.h"

namespace zcipc {
namespace bench {
namespace {

constexpr size_t kMask = kSequenceLength - 1;
constexpr size_t kSamples = kLatencySamplesPerReader;
constexpr int kMaxReaders = 8;

struct Timing {
  uint64_t ops = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  bool bounded = false;
  double rate() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// Calls body(i, n) for operations [i, i + n), n <= step, until `max_ops`
// operations ran or `seconds` passed (the clock is read every 64 calls of
// single operations, every call of batches).
template <typename F>
Timing Timed(double seconds, uint64_t max_ops, uint64_t step, F&& body) {
  const uint64_t cpu_start = ThreadCpuNanos();
  const uint64_t start = NowNanos();
  const uint64_t deadline = start + static_cast<uint64_t>(seconds * 1e9);
  const unsigned check_every = step > 1 ? 1 : 64;
  uint64_t done = 0;
  unsigned calls = 0;
  Timing t;
  while (done < max_ops) {
    uint64_t n = std::min<uint64_t>(step, max_ops - done);
    body(done, n);
    done += n;
    if (++calls >= check_every) {
      calls = 0;
      if (NowNanos() >= deadline) break;
    }
  }
  t.ops = done;
  t.seconds = static_cast<double>(NowNanos() - start) / 1e9;
  t.cpu_seconds = static_cast<double>(ThreadCpuNanos() - cpu_start) / 1e9;
  t.bounded = max_ops != ~0ull && done < max_ops;
  return t;
}

constexpr uint64_t kUnbounded = ~0ull;

using ::zcipc_proc::Fork;
using ::zcipc_proc::NewShared;
using ::zcipc_proc::SleepSeconds;

struct ProcResult {
  uint64_t ops = 0, errors = 0, torn = 0, samples = 0;
  uint64_t start_ns = 0, end_ns = 0;
  uint64_t cpu_ns = 0;  // the process's CPU time over the run
  char error[160] = {0};
};

struct MpShared {
  std::atomic<int> ready{0};
  std::atomic<int> go{0};
  std::atomic<int> stop{0};
  ProcResult writer;
  ProcResult reader[kMaxReaders];
};

void SetError(ProcResult* r, const absl::Status& s) {
  snprintf(r->error, sizeof(r->error), "%s", s.ToString().c_str());
}

class Runner {
 public:
  Runner(Store* store, const Dataset& d, const Settings& s,
         std::vector<Result>* out)
      : store_(store), d_(d), s_(s), out_(out), pool_(d.value_size) {
    ops_.resize(s.batch);
    br_.Resize(s.batch);
  }

  std::vector<Mode> Modes() const {
    std::vector<Mode> m = {Mode::kSingle};
    if (store_->has_zero_copy_read()) m.push_back(Mode::kRead);
    if (store_->multi_process()) m.push_back(Mode::kBatch);
    return m;
  }

  void Insert();
  void ReadHit(Mode mode);
  void ReadMiss(Mode mode);
  void Update(Mode mode);
  void Mixed(Mode mode);
  void Readers(Mode mode, int readers);
  void Erase(Mode mode);
  // Reads a sample of keys (untimed) and checks their values; the count of
  // missing or bad values is added to `r`.
  void Verify(Result* r);

 private:
  Result Base(Mode mode, const char* phase) const {
    Result r;
    r.peer = store_->name();
    r.config = RowLabel(*store_, mode, s_.batch);
    r.mode = ModeName(mode);
    r.cpu_is_all_work = store_->in_process_work();
    r.keys = d_.keys;
    r.value_size = d_.value_size;
    r.phase = phase;
    return r;
  }
  Result& Add(Result r) {
    out_->push_back(std::move(r));
    return out_->back();
  }
  void NotApplicable(Mode mode, const char* phase, const std::string& note) {
    Result r = Base(mode, phase);
    r.available = false;
    r.note = note;
    Add(std::move(r));
  }
  static void SetTimings(Result* r, const std::vector<Timing>& reps) {
    std::vector<double> rates;
    for (const Timing& t : reps) rates.push_back(t.rate());
    r->reps_ops_per_sec = rates;
    r->ops_per_sec = Median(rates);
    // The rep closest to the median gives ops and seconds.
    const Timing* best = &reps[0];
    for (const Timing& t : reps) {
      if (std::abs(t.rate() - r->ops_per_sec) < std::abs(best->rate() - r->ops_per_sec)) best = &t;
    }
    r->ops = best->ops;
    r->seconds = best->seconds;
    r->ns_per_op = r->ops_per_sec > 0 ? 1e9 / r->ops_per_sec : 0;
    std::vector<double> cpu;
    for (const Timing& t : reps) {
      if (t.ops > 0) cpu.push_back(t.cpu_seconds * 1e9 / static_cast<double>(t.ops));
    }
    r->reps_cpu_ns_per_op = cpu;
    r->cpu_ns_per_op = Median(cpu);
    for (const Timing& t : reps) r->time_bounded |= t.bounded;
  }
  // Runs ops_[0, n) as one batch; counts failures into *errors.
  void RunBatch(size_t n, uint64_t* errors) {
    absl::Status s = store_->RunBatch(ops_.data(), n, &br_);
    if (!s.ok()) {
      *errors += n;
      ReportOnce(s);
    }
  }
  void ReportOnce(const absl::Status& s) {
    if (reported_++ < 5) fprintf(stderr, "  %s: %s\n", store_->name().c_str(), s.ToString().c_str());
  }
  absl::string_view NextValue(uint32_t k) { return pool_.Make(k, gen_++); }
  // Inserts d_.insert_order[from, to) untimed (batches where the store has
  // them).
  void Fill(uint64_t from, uint64_t to);

  Store* store_;
  const Dataset& d_;
  const Settings& s_;
  std::vector<Result>* out_;
  ValuePool pool_;
  uint32_t gen_ = 1;
  std::vector<Op> ops_;
  BatchResult br_;
  std::string value_;
  uint64_t sink_ = 0;
  int reported_ = 0;

 public:
  uint64_t sink() const { return sink_; }
};

void Runner::Fill(uint64_t from, uint64_t to) {
  uint64_t errors = 0;
  if (!store_->multi_process()) {
    for (uint64_t i = from; i < to; ++i) {
      uint32_t k = d_.insert_order[i];
      if (!store_->Put(d_.key[k], NextValue(k)).ok()) ++errors;
    }
  } else {
    for (uint64_t i = from; i < to; i += s_.batch) {
      size_t n = std::min<uint64_t>(s_.batch, to - i);
      for (size_t j = 0; j < n; ++j) {
        uint32_t k = d_.insert_order[i + j];
        ops_[j] = {OpKind::kPut, d_.key[k], NextValue(k)};
      }
      RunBatch(n, &errors);
    }
  }
  if (errors > 0) fprintf(stderr, "  %s: %llu failed puts in the fill\n", store_->name().c_str(), static_cast<unsigned long long>(errors));
}

void Runner::Insert() {
  const uint64_t half = d_.keys / 2;
  // First half one at a time (bounded by time; the rest of that half is
  // then filled untimed), second half in batches.
  {
    Result r = Base(Mode::kSingle, "insert");
    uint64_t errors = 0;
    Timing t = Timed(s_.insert_seconds, half, 1, [&](uint64_t i, uint64_t) {
      uint32_t k = d_.insert_order[i];
      if (!store_->Put(d_.key[k], NextValue(k)).ok()) ++errors;
    });
    SetTimings(&r, {t});
    r.errors = errors;
    Result& added = Add(std::move(r));
    Fill(t.ops, half);
    if (!store_->multi_process()) {
      Fill(half, d_.keys);
      Verify(&added);
      return;
    }
  }
  if (store_->has_zero_copy_read()) {
    NotApplicable(Mode::kRead, "insert", "writes as the Get/Put row");
  }
  Result r = Base(Mode::kBatch, "insert");
  uint64_t errors = 0;
  Timing t = Timed(1e9, d_.keys - half, s_.batch, [&](uint64_t i, uint64_t n) {
    for (size_t j = 0; j < n; ++j) {
      uint32_t k = d_.insert_order[half + i + j];
      ops_[j] = {OpKind::kPut, d_.key[k], NextValue(k)};
    }
    RunBatch(n, &errors);
  });
  SetTimings(&r, {t});
  r.errors = errors;
  Verify(&Add(std::move(r)));
}

void Runner::Verify(Result* r) {
  // kVerifyValues keys of the hit sequence (past the part phases start
  // with), in batches where the store has them.
  const size_t kVerify = kVerifyValues;
  uint64_t bad = 0;
  size_t start = kSequenceLength / 2;
  for (size_t i = 0; i < kVerify; i += s_.batch) {
    size_t n = std::min(s_.batch, kVerify - i);
    for (size_t j = 0; j < n; ++j) {
      ops_[j] = {OpKind::kGet, d_.key[d_.seq[start + i + j]], {}};
    }
    absl::Status s = store_->RunBatch(ops_.data(), n, &br_);
    for (size_t j = 0; j < n; ++j) {
      if (!s.ok() || !br_.found[j] ||
          !CheckValue(d_.seq[start + i + j], br_.values[j])) {
        ++bad;
      }
    }
  }
  if (bad > 0) {
    fprintf(stderr, "  %s: %llu of %zu values failed verification\n",
            store_->name().c_str(), static_cast<unsigned long long>(bad), kVerify);
  }
  r->errors += bad;
}

void Runner::ReadHit(Mode mode) {
  Result r = Base(mode, "read_hit");
  std::vector<Timing> reps;
  uint64_t errors = 0, pos = 0;
  for (int rep = 0; rep < s_.reps; ++rep) {
    Timing t;
    if (mode == Mode::kSingle) {
      t = Timed(s_.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
        if (!store_->Get(d_.key[d_.seq[(pos + i) & kMask]], &value_).ok()) ++errors;
        sink_ += value_.size();
      });
    } else if (mode == Mode::kRead) {
      t = Timed(s_.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
        if (!store_->Read(d_.key[d_.seq[(pos + i) & kMask]], [&](absl::string_view v) {
                      sink_ += v.size() + static_cast<unsigned char>(v.back());
                    }).ok()) {
          ++errors;
        }
      });
    } else {
      t = Timed(s_.phase_seconds, kUnbounded, s_.batch, [&](uint64_t i, uint64_t n) {
        for (size_t j = 0; j < n; ++j) {
          ops_[j] = {OpKind::kGet, d_.key[d_.seq[(pos + i + j) & kMask]], {}};
        }
        RunBatch(n, &errors);
        for (size_t j = 0; j < n; ++j) {
          if (!br_.found[j]) ++errors;
          sink_ += br_.values[j].size();
        }
      });
    }
    pos += t.ops;
    reps.push_back(t);
  }
  SetTimings(&r, reps);
  r.errors = errors;
  Add(std::move(r));
}

void Runner::ReadMiss(Mode mode) {
  Result r = Base(mode, "read_miss");
  uint64_t errors = 0;
  Timing t;
  auto miss = [&](uint64_t i) -> const std::string& { return d_.miss[d_.seq[i & kMask]]; };
  if (mode == Mode::kSingle) {
    t = Timed(s_.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
      if (!absl::IsNotFound(store_->Get(miss(i), &value_))) ++errors;
    });
  } else if (mode == Mode::kRead) {
    t = Timed(s_.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
      if (!absl::IsNotFound(store_->Read(miss(i), [&](absl::string_view v) { sink_ += v.size(); }))) ++errors;
    });
  } else {
    t = Timed(s_.phase_seconds, kUnbounded, s_.batch, [&](uint64_t i, uint64_t n) {
      for (size_t j = 0; j < n; ++j) ops_[j] = {OpKind::kGet, miss(i + j), {}};
      RunBatch(n, &errors);
      for (size_t j = 0; j < n; ++j) errors += br_.found[j];
    });
  }
  SetTimings(&r, {t});
  r.errors = errors;
  Add(std::move(r));
}

void Runner::Update(Mode mode) {
  if (mode == Mode::kRead) {
    NotApplicable(mode, "update", "writes as the Get/Put row");
    return;
  }
  Result r = Base(mode, "update");
  std::vector<Timing> reps;
  uint64_t errors = 0, pos = 0;
  for (int rep = 0; rep < s_.reps; ++rep) {
    Timing t;
    if (mode == Mode::kSingle) {
      t = Timed(s_.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
        uint32_t k = d_.seq[(pos + i) & kMask];
        if (!store_->Put(d_.key[k], NextValue(k)).ok()) ++errors;
      });
    } else {
      t = Timed(s_.phase_seconds, kUnbounded, s_.batch, [&](uint64_t i, uint64_t n) {
        for (size_t j = 0; j < n; ++j) {
          uint32_t k = d_.seq[(pos + i + j) & kMask];
          ops_[j] = {OpKind::kPut, d_.key[k], NextValue(k)};
        }
        RunBatch(n, &errors);
      });
    }
    pos += t.ops;
    reps.push_back(t);
  }
  SetTimings(&r, reps);
  r.errors = errors;
  Add(std::move(r));
}

void Runner::Mixed(Mode mode) {
  Result r = Base(mode, "mixed");
  uint64_t errors = 0;
  Timing t;
  if (mode != Mode::kBatch) {
    t = Timed(s_.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
      uint32_t k = d_.seq[i & kMask];
      absl::Status s;
      if (d_.mixed_put[i & kMask]) {
        s = store_->Put(d_.key[k], NextValue(k));
      } else if (mode == Mode::kSingle) {
        s = store_->Get(d_.key[k], &value_);
        sink_ += value_.size();
      } else {
        s = store_->Read(d_.key[k], [&](absl::string_view v) {
          sink_ += v.size() + static_cast<unsigned char>(v.back());
        });
      }
      if (!s.ok()) ++errors;
    });
  } else {
    t = Timed(s_.phase_seconds, kUnbounded, s_.batch, [&](uint64_t i, uint64_t n) {
      for (size_t j = 0; j < n; ++j) {
        uint32_t k = d_.seq[(i + j) & kMask];
        if (d_.mixed_put[(i + j) & kMask]) {
          ops_[j] = {OpKind::kPut, d_.key[k], NextValue(k)};
        } else {
          ops_[j] = {OpKind::kGet, d_.key[k], {}};
        }
      }
      RunBatch(n, &errors);
      for (size_t j = 0; j < n; ++j) {
        if (!br_.found[j] && ops_[j].kind == OpKind::kGet) ++errors;
      }
    });
  }
  SetTimings(&r, {t});
  r.errors = errors;
  Result& added = Add(std::move(r));
  if (mode == Mode::kSingle) Verify(&added);
}

void Runner::Erase(Mode mode) {
  if (mode == Mode::kRead) {
    NotApplicable(mode, "erase", "writes as the Get/Put row");
    return;
  }
  // One at a time: the first half of a permutation; batches: the second.
  const uint64_t half = d_.keys / 2;
  const uint64_t from = mode == Mode::kSingle ? 0 : half;
  const uint64_t count = mode == Mode::kSingle ? half : d_.keys - half;
  Result r = Base(mode, "erase");
  uint64_t errors = 0;
  Timing t;
  if (mode == Mode::kSingle) {
    t = Timed(s_.phase_seconds, count, 1, [&](uint64_t i, uint64_t) {
      if (!store_->Erase(d_.key[d_.erase_order[from + i]]).ok()) ++errors;
    });
  } else {
    t = Timed(s_.phase_seconds, count, s_.batch, [&](uint64_t i, uint64_t n) {
      for (size_t j = 0; j < n; ++j) {
        ops_[j] = {OpKind::kErase, d_.key[d_.erase_order[from + i + j]], {}};
      }
      RunBatch(n, &errors);
      for (size_t j = 0; j < n; ++j) errors += !br_.found[j];
    });
  }
  SetTimings(&r, {t});
  r.time_bounded = false;  // erasing a part of the keys is the phase itself
  r.errors = errors;
  Add(std::move(r));
}

void Runner::Readers(Mode mode, int readers) {
  Result r = Base(mode, "readers");
  r.readers = readers;
  r.has_latency = mode != Mode::kBatch;
  MpShared* sh = NewShared<MpShared>();
  const size_t sample_bytes = sizeof(uint32_t) * kSamples * readers;
  void* mem = mmap(nullptr, sample_bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("mmap");
    abort();
  }
  uint32_t* samples = static_cast<uint32_t*>(mem);
  const uint32_t gen_base = gen_;
  gen_ += 1u << 26;  // the writer's generations are new ones

  // Before the timed window each process prefaults its own mappings of the
  // store (the writer for writing), so that the window measures steady state
  // rather than the first-touch page faults of a segment the process has
  // just mapped. Nothing to do for Redis: its client maps nothing.
  auto warm_up = [&](ProcResult*, bool write) {
    Prefault(store_->MappedRegions(), write);
  };
  auto wait_go = [&]() {
    sh->ready.fetch_add(1);
    while (sh->go.load() == 0) {
      struct timespec ts = {0, 100 * 1000};
      nanosleep(&ts, nullptr);
    }
  };

  std::vector<pid_t> pids;
  // The writer: updates random keys (same-size values) as fast as it can.
  pids.push_back(Fork([&]() -> int {
    ProcResult* p = &sh->writer;
    absl::Status s = store_->AttachInChild();
    if (!s.ok()) {
      SetError(p, s);
      sh->ready.fetch_add(1);
      return 2;
    }
    ValuePool pool(d_.value_size);
    uint32_t gen = gen_base;
    std::vector<Op> ops(s_.batch);
    BatchResult br;
    warm_up(p, true);
    wait_go();
    p->start_ns = NowNanos();
    uint64_t i = kSequenceLength / 2, done = 0;
    while (sh->stop.load(std::memory_order_relaxed) == 0) {
      if (mode == Mode::kBatch) {
        for (size_t j = 0; j < s_.batch; ++j) {
          uint32_t k = d_.seq[(i++) & kMask];
          ops[j] = {OpKind::kPut, d_.key[k], pool.Make(k, gen++)};
        }
        s = store_->RunBatch(ops.data(), s_.batch, &br);
        if (!s.ok()) {
          p->errors += s_.batch;
          SetError(p, s);
        }
        done += s_.batch;
      } else {
        for (int j = 0; j < 16; ++j) {
          uint32_t k = d_.seq[(i++) & kMask];
          s = store_->Put(d_.key[k], pool.Make(k, gen++));
          if (!s.ok()) {
            ++p->errors;
            SetError(p, s);
          }
        }
        done += 16;
      }
    }
    p->end_ns = NowNanos();
    p->ops = done;
    return 0;
  }));
  for (int rd = 0; rd < readers; ++rd) {
    pids.push_back(Fork([&, rd]() -> int {
      ProcResult* p = &sh->reader[rd];
      uint32_t* mine = samples + kSamples * rd;
      absl::Status s = store_->AttachInChild();
      if (!s.ok()) {
        SetError(p, s);
        sh->ready.fetch_add(1);
        return 2;
      }
      std::vector<Op> ops(s_.batch);
      BatchResult br;
      std::string value;
      uint64_t errors = 0, torn = 0, nsamples = 0;
      uint64_t i = static_cast<uint64_t>(rd) * 100003, done = 0;
      warm_up(p, false);
      wait_go();
      const uint64_t cpu0 = ThreadCpuNanos();
      p->start_ns = NowNanos();
      while (sh->stop.load(std::memory_order_relaxed) == 0) {
        if (mode == Mode::kBatch) {
          for (size_t j = 0; j < s_.batch; ++j) {
            ops[j] = {OpKind::kGet, d_.key[d_.seq[(i + j) & kMask]], {}};
          }
          s = store_->RunBatch(ops.data(), s_.batch, &br);
          if (!s.ok()) {
            errors += s_.batch;
            SetError(p, s);
          } else {
            for (size_t j = 0; j < s_.batch; ++j) {
              if (!br.found[j]) {
                ++errors;
              } else if (!CheckValue(d_.seq[(i + j) & kMask], br.values[j])) {
                ++torn;
              }
            }
          }
          i += s_.batch;
          done += s_.batch;
          continue;
        }
        for (int j = 0; j < 16; ++j, ++i) {
          const uint32_t k = d_.seq[i & kMask];
          const bool sample = i % kLatencySampleEvery == 0;
          uint64_t t0 = sample ? NowNanos() : 0;
          bool good = false;
          if (mode == Mode::kSingle) {
            s = store_->Get(d_.key[k], &value);
            if (sample) {
              uint64_t dt = NowNanos() - t0;
              mine[nsamples++ & (kSamples - 1)] = static_cast<uint32_t>(std::min<uint64_t>(dt, ~0u));
            }
            good = s.ok() && CheckValue(k, value);
          } else {
            // Zero-copy: the check runs on the value in place; the last run
            // of fn before an OK return is the consistent one.
            s = store_->Read(d_.key[k], [&](absl::string_view v) { good = CheckValue(k, v); });
            if (sample) {
              uint64_t dt = NowNanos() - t0;
              mine[nsamples++ & (kSamples - 1)] = static_cast<uint32_t>(std::min<uint64_t>(dt, ~0u));
            }
          }
          if (!s.ok()) {
            ++errors;
            if (!absl::IsNotFound(s)) SetError(p, s);
          } else if (!good) {
            ++torn;
          }
        }
        done += 16;
      }
      p->end_ns = NowNanos();
      p->cpu_ns = ThreadCpuNanos() - cpu0;
      p->ops = done;
      p->errors = errors;
      p->torn = torn;
      p->samples = std::min<uint64_t>(nsamples, kSamples);
      return 0;
    }));
  }

  // Start when every process is attached (or gave up), run, stop.
  uint64_t wait_start = NowNanos();
  while (sh->ready.load() < readers + 1 && NowNanos() - wait_start < 60e9) {
    SleepSeconds(0.001);
  }
  sh->go.store(1);
  SleepSeconds(s_.mp_seconds);
  sh->stop.store(1);
  std::vector<int> statuses;
  for (pid_t pid : pids) {
    int status = 0;
    uint64_t t0 = NowNanos();
    while (true) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      if (w < 0 && errno != EINTR) {
        status = -1;
        break;
      }
      if (NowNanos() - t0 > 30e9) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      SleepSeconds(0.001);
    }
    statuses.push_back(status);
  }

  std::string failures;
  for (size_t k = 0; k < pids.size(); ++k) {
    int st = statuses[k];
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      const ProcResult& p = k == 0 ? sh->writer : sh->reader[k - 1];
      absl::StrAppend(&failures, k == 0 ? "writer" : "reader", " exited ",
                      WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                      p.error[0] ? absl::StrCat(" (", p.error, ")") : "", "; ");
      r.errors += 1;
    }
  }
  double aggregate = 0;
  uint64_t ops = 0;
  double seconds = 0;
  std::vector<uint32_t> all;
  uint64_t cpu_ns = 0;
  for (int rd = 0; rd < readers; ++rd) {
    const ProcResult& p = sh->reader[rd];
    cpu_ns += p.cpu_ns;
    double sec = p.end_ns > p.start_ns ? (p.end_ns - p.start_ns) / 1e9 : 0;
    if (sec > 0) aggregate += p.ops / sec;
    ops += p.ops;
    seconds = std::max(seconds, sec);
    r.errors += p.errors;
    r.torn += p.torn;
    if (r.has_latency) all.insert(all.end(), samples + kSamples * rd, samples + kSamples * rd + p.samples);
  }
  const ProcResult& w = sh->writer;
  double wsec = w.end_ns > w.start_ns ? (w.end_ns - w.start_ns) / 1e9 : 0;
  r.writer_ops_per_sec = wsec > 0 ? w.ops / wsec : 0;
  r.errors += w.errors;
  if (w.error[0] && failures.empty()) absl::StrAppend(&failures, "writer: ", w.error, "; ");
  r.ops = ops;
  r.seconds = seconds;
  r.ops_per_sec = aggregate;
  r.reps_ops_per_sec = {aggregate};
  r.per_reader_ops_per_sec = aggregate / readers;
  r.ns_per_op = 0;
  r.cpu_ns_per_op = ops > 0 ? static_cast<double>(cpu_ns) / static_cast<double>(ops) : 0;
  r.reps_cpu_ns_per_op = {r.cpu_ns_per_op};
  if (r.has_latency) r.latency = ComputePercentiles(&all);
  if (!failures.empty()) {
    r.note = failures;
    fprintf(stderr, "  %s: %s\n", r.config.c_str(), failures.c_str());
  }
  munmap(mem, sample_bytes);
  sh->~MpShared();
  munmap(sh, sizeof(MpShared));
  Add(std::move(r));
}

}  // namespace

Dataset MakeDataset(uint64_t keys, uint64_t value_size) {
  Dataset d;
  d.keys = keys;
  d.value_size = std::max<uint64_t>(value_size, kMinValueSize);
  d.key.reserve(keys);
  d.miss.reserve(keys);
  for (uint64_t i = 0; i < keys; ++i) {
    d.key.push_back(Key(i));
    d.miss.push_back(Key(keys + i));
  }
  d.seq = RandomSequence(keys, 12345);
  std::mt19937_64 rng(777);
  d.mixed_put.resize(kSequenceLength);
  for (auto& m : d.mixed_put) m = rng() % kMixedUpdateOneIn == 0;
  d.insert_order = Permutation(keys, 1);
  d.erase_order = Permutation(keys, 2);
  return d;
}

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSingle:
      return "single";
    case Mode::kRead:
      return "read";
    case Mode::kBatch:
      return "batch";
  }
  return "?";
}

std::string RowLabel(const Store& store, Mode mode, size_t batch) {
  const std::string name = store.name();
  switch (mode) {
    case Mode::kSingle:
      if (name == "floor") return "floor (in-process flat_hash_map)";
      if (name == "zcipc") return "zcipc Get/Put";
      if (name == "LMDB") return "LMDB txn per op";
      if (name == "Boost.IPC") return "Boost.IPC lock per op";
      if (name == "Redis") return "Redis one at a time";
      return name;
    case Mode::kRead:
      return name + " Read (zero-copy)/Put";
    case Mode::kBatch:
      if (name == "zcipc") return absl::StrCat("zcipc Write x", batch, " (gets lock-free)");
      if (name == "LMDB") return absl::StrCat("LMDB txn per ", batch, " ops");
      if (name == "Boost.IPC") return absl::StrCat("Boost.IPC lock per ", batch, " ops");
      if (name == "Redis") return absl::StrCat("Redis pipelined x", batch);
      return absl::StrCat(name, " ", store.batch_label(), " x", batch);
  }
  return name;
}

void RunStore(Store* store, const Dataset& data, const Settings& settings,
              const std::string& dir, const std::string& tag,
              std::vector<Result>* results) {
  StoreConfig config;
  config.keys = data.keys;
  config.value_size = data.value_size;
  config.dir = dir;
  config.tag = tag;
  absl::Status s = store->Create(config);
  if (!s.ok()) {
    fprintf(stderr, "  %s: create failed: %s\n", store->name().c_str(), s.ToString().c_str());
    Result r;
    r.peer = store->name();
    r.config = RowLabel(*store, Mode::kSingle, settings.batch);
    r.mode = "single";
    r.keys = data.keys;
    r.value_size = data.value_size;
    r.phase = "insert";
    r.available = false;
    r.errors = 1;
    r.note = absl::StrCat("create failed: ", s.ToString());
    results->push_back(r);
    return;
  }
  Runner run(store, data, settings, results);
  const std::vector<Mode> modes = run.Modes();
  run.Insert();
  for (Mode m : modes) run.ReadHit(m);
  for (Mode m : modes) run.ReadMiss(m);
  for (Mode m : modes) run.Update(m);
  for (Mode m : modes) run.Mixed(m);
  for (Mode m : modes) {
    for (int readers : settings.readers) {
      if (!store->multi_process() || !settings.multi_process) {
        Result r;
        r.peer = store->name();
        r.config = RowLabel(*store, m, settings.batch);
        r.mode = ModeName(m);
        r.keys = data.keys;
        r.value_size = data.value_size;
        r.phase = "readers";
        r.readers = readers;
        r.available = false;
        r.note = store->multi_process() ? "not run" : "in-process only";
        results->push_back(r);
        continue;
      }
      run.Readers(m, std::min(readers, kMaxReaders));
    }
  }
  for (Mode m : modes) run.Erase(m);
  store->Destroy();
  if (run.sink() == 42) fprintf(stderr, " ");  // keeps the reads observable
}

void RunPaired(const Dataset& data, const Settings& settings, int pairs,
               const std::string& dir, const std::string& tag,
               std::vector<Result>* results) {
  std::unique_ptr<Store> floor = NewFloorStore();
  std::unique_ptr<Store> zcipc = NewZcipcStore();
  StoreConfig config;
  config.keys = data.keys;
  config.value_size = data.value_size;
  config.dir = dir;
  config.tag = tag;
  for (Store* st : {floor.get(), zcipc.get()}) {
    absl::Status s = st->Create(config);
    if (!s.ok()) {
      fprintf(stderr, "  paired: %s: %s\n", st->name().c_str(), s.ToString().c_str());
      return;
    }
  }
  ValuePool pool(data.value_size);
  uint32_t gen = 1;
  std::vector<Op> ops(settings.batch);
  BatchResult br;
  for (uint64_t i = 0; i < data.keys; i += settings.batch) {
    size_t n = std::min<uint64_t>(settings.batch, data.keys - i);
    for (size_t j = 0; j < n; ++j) {
      uint32_t k = data.insert_order[i + j];
      ops[j] = {OpKind::kPut, data.key[k], pool.Make(k, gen++)};
    }
    (void)floor->RunBatch(ops.data(), n, &br);
    (void)zcipc->RunBatch(ops.data(), n, &br);
  }
  std::string path = absl::StrCat(dir, "/flock-paired-", getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  unlink(path.c_str());

  enum { kFloorGet, kZcipcGet, kZcipcRead, kFlock, kZcipcPut, kCount };
  std::vector<Timing> t[kCount];
  uint64_t errors[kCount] = {0};
  std::string value;
  uint64_t sink = 0;
  uint64_t pos = 0;
  for (int rep = 0; rep < pairs; ++rep) {
    auto get = [&](Store* st, int which) {
      t[which].push_back(Timed(settings.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
        if (!st->Get(data.key[data.seq[(pos + i) & kMask]], &value).ok()) ++errors[which];
        sink += value.size();
      }));
    };
    get(floor.get(), kFloorGet);
    get(zcipc.get(), kZcipcGet);
    t[kZcipcRead].push_back(Timed(settings.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
      if (!zcipc->Read(data.key[data.seq[(pos + i) & kMask]], [&](absl::string_view v) {
                   sink += v.size() + static_cast<unsigned char>(v.back());
                 }).ok()) {
        ++errors[kZcipcRead];
      }
    }));
    if (fd >= 0) {
      t[kFlock].push_back(Timed(settings.phase_seconds, kUnbounded, 1, [&](uint64_t, uint64_t) {
        flock(fd, LOCK_EX);
        flock(fd, LOCK_UN);
      }));
    }
    t[kZcipcPut].push_back(Timed(settings.phase_seconds, kUnbounded, 1, [&](uint64_t i, uint64_t) {
      uint32_t k = data.seq[(pos + i) & kMask];
      if (!zcipc->Put(data.key[k], pool.Make(k, gen++)).ok()) ++errors[kZcipcPut];
    }));
    pos += t[kZcipcGet].back().ops;
  }
  if (fd >= 0) close(fd);
  const struct {
    int which;
    const char* peer;
    Mode mode;
    const char* phase;
    Store* store;
  } rows[] = {{kFloorGet, "floor", Mode::kSingle, "paired_read_hit", floor.get()},
              {kZcipcGet, "zcipc", Mode::kSingle, "paired_read_hit", zcipc.get()},
              {kZcipcRead, "zcipc", Mode::kRead, "paired_read_hit", zcipc.get()},
              {kFlock, "flock", Mode::kSingle, "paired_update", nullptr},
              {kZcipcPut, "zcipc", Mode::kSingle, "paired_update", zcipc.get()}};
  for (const auto& row : rows) {
    if (t[row.which].empty()) continue;
    Result r;
    r.peer = row.peer;
    r.config = row.store != nullptr ? RowLabel(*row.store, row.mode, settings.batch)
                                    : "bare flock pair (reference)";
    r.mode = ModeName(row.mode);
    r.keys = data.keys;
    r.value_size = data.value_size;
    r.phase = row.phase;
    std::vector<double> rates, cpu;
    for (const Timing& x : t[row.which]) {
      rates.push_back(x.rate());
      cpu.push_back(x.cpu_seconds * 1e9 / static_cast<double>(std::max<uint64_t>(x.ops, 1)));
      r.ops += x.ops;
      r.seconds += x.seconds;
    }
    r.reps_ops_per_sec = rates;
    r.ops_per_sec = Median(rates);
    r.ns_per_op = r.ops_per_sec > 0 ? 1e9 / r.ops_per_sec : 0;
    r.reps_cpu_ns_per_op = cpu;
    r.cpu_ns_per_op = Median(cpu);
    r.errors = errors[row.which];
    results->push_back(r);
  }
  floor->Destroy();
  zcipc->Destroy();
  if (sink == 42) fprintf(stderr, " ");
}

Result MeasureFlockPair(const Dataset& data, const Settings& settings,
                        const std::string& dir) {
  Result r;
  r.peer = "flock";
  r.config = "bare flock pair (reference)";
  r.mode = "single";
  r.keys = data.keys;
  r.value_size = data.value_size;
  r.phase = "update";
  std::string path = absl::StrCat(dir, "/flock-", getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
  unlink(path.c_str());
  if (fd < 0) {
    r.available = false;
    r.note = "open failed";
    return r;
  }
  std::vector<double> rates, cpu;
  uint64_t ops = 0;
  double seconds = 0;
  for (int rep = 0; rep < settings.reps; ++rep) {
    Timing t = Timed(settings.phase_seconds, kUnbounded, 1, [&](uint64_t, uint64_t) {
      flock(fd, LOCK_EX);
      flock(fd, LOCK_UN);
    });
    rates.push_back(t.rate());
    cpu.push_back(t.cpu_seconds * 1e9 / static_cast<double>(t.ops));
    ops = t.ops;
    seconds = t.seconds;
  }
  close(fd);
  r.reps_ops_per_sec = rates;
  r.ops_per_sec = Median(rates);
  r.ns_per_op = 1e9 / r.ops_per_sec;
  r.reps_cpu_ns_per_op = cpu;
  r.cpu_ns_per_op = Median(cpu);
  r.ops = ops;
  r.seconds = seconds;
  return r;
}

}  // namespace bench
}  // namespace zcipc
