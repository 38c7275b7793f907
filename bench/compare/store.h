// The small interface every peer of the comparison implements, so that the
// driver runs the same phases on the same key sequence against each of them.

#ifndef ZCIPC_BENCH_COMPARE_STORE_H_
#define ZCIPC_BENCH_COMPARE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace zcipc {
namespace bench {

struct StoreConfig {
  uint64_t keys = 0;        // keys the store must hold
  uint64_t value_size = 0;  // bytes per value
  std::string dir;          // a private scratch directory (files, sockets)
  std::string tag;          // unique per run and data set (names, paths)
};

// A range of this process's address space.
struct Region {
  void* addr = nullptr;
  size_t len = 0;
};
// The mappings of the file at `path` in this process (from /proc/self/maps).
std::vector<Region> MappingsOfFile(const std::string& path);
// Makes the pages of `regions` present in this process's page tables
// (MADV_POPULATE_READ or _WRITE; touching every page where the kernel lacks
// them), so that later accesses take no page faults. Never changes data.
void Prefault(const std::vector<Region>& regions, bool write);

enum class OpKind : uint8_t { kGet, kPut, kErase };

struct Op {
  OpKind kind;
  absl::string_view key;
  absl::string_view value;  // kPut only
};

// Answers of one RunBatch: for the i-th op, found[i] (gets and erases) and
// values[i] (gets). Reused across batches.
struct BatchResult {
  std::vector<std::string> values;
  std::vector<uint8_t> found;
  void Resize(size_t n) {
    if (values.size() < n) values.resize(n);
    if (found.size() < n) found.resize(n);
  }
};

class Store {
 public:
  virtual ~Store() = default;

  // Row label prefix and short name.
  virtual std::string name() const = 0;
  // False: in-process only (the multi-process phases are N/A).
  virtual bool multi_process() const { return true; }
  // True: Read() is a real zero-copy path, worth its own row.
  virtual bool has_zero_copy_read() const { return false; }
  // False if part of each operation's work runs in another process (a
  // server): then the harness's CPU time per operation is not its cost.
  virtual bool in_process_work() const { return true; }
  // How RunBatch executes a batch, for the row label.
  virtual std::string batch_label() const = 0;

  // The store's shared mappings in this process, to prefault before a
  // timed window (empty: nothing mapped, e.g. a socket client).
  virtual std::vector<Region> MappedRegions() const { return {}; }

  // Creates a new, empty store (in the parent).
  virtual absl::Status Create(const StoreConfig& config) = 0;
  // In a forked child: opens the child's own handles or connections to the
  // store the parent created (nothing inherited is used).
  virtual absl::Status AttachInChild() = 0;
  // Removes the store and everything it left on the system (parent).
  virtual void Destroy() = 0;

  // Insert or replace.
  virtual absl::Status Put(absl::string_view key, absl::string_view value) = 0;
  // NotFound on a miss.
  virtual absl::Status Get(absl::string_view key, std::string* value) = 0;
  // fn sees the value (zero-copy where the store supports it; fn may run
  // more than once, the run before an OK return is the consistent one).
  virtual absl::Status Read(absl::string_view key,
                            absl::FunctionRef<void(absl::string_view)> fn);
  // NotFound if absent.
  virtual absl::Status Erase(absl::string_view key) = 0;
  // The ops as one unit of the store's own kind: one transaction, one lock
  // hold, one pipeline (see batch_label()).
  virtual absl::Status RunBatch(const Op* ops, size_t n, BatchResult* out) = 0;

 private:
  std::string read_buffer_;
};

std::unique_ptr<Store> NewFloorStore();
std::unique_ptr<Store> NewZcipcStore();
std::unique_ptr<Store> NewLmdbStore();
std::unique_ptr<Store> NewBoostStore();
// `socket` is the unix socket of a running redis-server.
std::unique_ptr<Store> NewRedisStore(const std::string& socket);

// Starts `redis-server` as a child (unix socket in `dir`, no persistence)
// and stops it by its pid (SIGTERM, then waitpid) when destroyed.
class RedisServer {
 public:
  // Empty if redis-server is not on PATH (the Redis rows are skipped).
  static std::string FindBinary();
  RedisServer() = default;
  ~RedisServer() { Stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  absl::Status Start(const std::string& binary, const std::string& dir);
  void Stop();
  const std::string& socket() const { return socket_; }
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  std::string socket_;
};

// Stops a started server if the harness is interrupted (SIGINT, SIGTERM).
void StopRedisOnSignal(RedisServer* server);

}  // namespace bench
}  // namespace zcipc

#endif  // ZCIPC_BENCH_COMPARE_STORE_H_
