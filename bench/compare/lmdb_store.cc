// LMDB (Debian liblmdb): one environment in a directory on /dev/shm (RAM,
// like the shared-memory peers), MDB_NOSYNC | MDB_WRITEMAP. One read
// transaction per get (a reset/renewed read-only handle, LMDB's own idiom
// for repeated reads), one write transaction per put; the batched variant
// runs a whole batch in one transaction.

#include <lmdb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/compare/store.h"

namespace zcipc {
namespace bench {
namespace {

absl::Status LmdbError(absl::string_view what, int rc) {
  return absl::InternalError(absl::StrCat("LMDB ", what, ": ", mdb_strerror(rc)));
}

class LmdbStore : public Store {
 public:
  ~LmdbStore() override { Destroy(); }

  std::string name() const override { return "LMDB"; }
  std::string batch_label() const override { return "txn per batch"; }

  // The used part of the map (the rest of the file is a hole: populating it
  // would allocate memory).
  std::vector<Region> MappedRegions() const override {
    if (env_ == nullptr) return {};
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0) return {};
    const size_t used = (info.me_last_pgno + 1) * static_cast<size_t>(stat.ms_psize);
    std::vector<Region> regions = MappingsOfFile(path_ + "/data.mdb");
    for (Region& r : regions) r.len = std::min(r.len, used);
    return regions;
  }

  absl::Status Create(const StoreConfig& config) override {
    Destroy();
    path_ = absl::StrCat(config.dir, "/lmdb-", config.tag);
    if (mkdir(path_.c_str(), 0700) != 0) {
      return absl::InternalError(absl::StrCat("mkdir ", path_, ": ", strerror(errno)));
    }
    // Leaf pages hold ~key + value + 16 bytes per entry at fill ~0.5-1,
    // values over ~2 KiB would go to overflow pages (not used here).
    map_size_ = (config.keys + 1024) * (config.value_size + 96) * 3 + (64ull << 20);
    return Open();
  }
  absl::Status AttachInChild() override {
    // The parent's environment must not be used across fork: open our own
    // (the inherited handles are abandoned, never closed, in the child).
    env_ = nullptr;
    read_txn_ = nullptr;
    // Its map is dropped (nothing here uses it), so that this process has
    // one mapping of the data file, its own.
    for (const Region& r : MappingsOfFile(path_ + "/data.mdb")) munmap(r.addr, r.len);
    return Open();
  }
  void Destroy() override {
    if (read_txn_ != nullptr) mdb_txn_abort(read_txn_);
    read_txn_ = nullptr;
    if (env_ != nullptr) mdb_env_close(env_);
    env_ = nullptr;
    if (!path_.empty()) {
      unlink((path_ + "/data.mdb").c_str());
      unlink((path_ + "/lock.mdb").c_str());
      rmdir(path_.c_str());
    }
    path_.clear();
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    MDB_txn* txn;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return LmdbError("txn_begin", rc);
    MDB_val k = Val(key), v = Val(value);
    rc = mdb_put(txn, dbi_, &k, &v, 0);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return LmdbError("put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? absl::OkStatus() : LmdbError("commit", rc);
  }
  absl::Status Get(absl::string_view key, std::string* value) override {
    return Read(key, [&](absl::string_view v) { value->assign(v.data(), v.size()); });
  }
  absl::Status Read(absl::string_view key,
                    absl::FunctionRef<void(absl::string_view)> fn) override {
    absl::Status s = BeginRead();
    if (!s.ok()) return s;
    MDB_val k = Val(key), v;
    int rc = mdb_get(read_txn_, dbi_, &k, &v);
    if (rc == 0) fn(absl::string_view(static_cast<const char*>(v.mv_data), v.mv_size));
    mdb_txn_reset(read_txn_);
    if (rc == MDB_NOTFOUND) return absl::NotFoundError("");
    return rc == 0 ? absl::OkStatus() : LmdbError("get", rc);
  }
  absl::Status Erase(absl::string_view key) override {
    MDB_txn* txn;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return LmdbError("txn_begin", rc);
    MDB_val k = Val(key);
    rc = mdb_del(txn, dbi_, &k, nullptr);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return rc == MDB_NOTFOUND ? absl::NotFoundError("") : LmdbError("del", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? absl::OkStatus() : LmdbError("commit", rc);
  }
  absl::Status RunBatch(const Op* ops, size_t n, BatchResult* out) override {
    out->Resize(n);
    bool writes = false;
    for (size_t i = 0; i < n; ++i) writes |= ops[i].kind != OpKind::kGet;
    MDB_txn* txn;
    if (writes) {
      int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
      if (rc != 0) return LmdbError("txn_begin", rc);
    } else {
      absl::Status s = BeginRead();
      if (!s.ok()) return s;
      txn = read_txn_;
    }
    for (size_t i = 0; i < n; ++i) {
      MDB_val k = Val(ops[i].key), v;
      int rc = 0;
      switch (ops[i].kind) {
        case OpKind::kGet:
          rc = mdb_get(txn, dbi_, &k, &v);
          if (rc == 0) out->values[i].assign(static_cast<const char*>(v.mv_data), v.mv_size);
          break;
        case OpKind::kPut:
          v = Val(ops[i].value);
          rc = mdb_put(txn, dbi_, &k, &v, 0);
          break;
        case OpKind::kErase:
          rc = mdb_del(txn, dbi_, &k, nullptr);
          break;
      }
      out->found[i] = rc == 0;
      if (rc != 0 && rc != MDB_NOTFOUND) {
        if (writes) mdb_txn_abort(txn); else mdb_txn_reset(txn);
        return LmdbError("batch op", rc);
      }
    }
    if (!writes) {
      mdb_txn_reset(txn);
      return absl::OkStatus();
    }
    int rc = mdb_txn_commit(txn);
    return rc == 0 ? absl::OkStatus() : LmdbError("commit", rc);
  }

 private:
  static MDB_val Val(absl::string_view s) {
    MDB_val v;
    v.mv_size = s.size();
    v.mv_data = const_cast<char*>(s.data());
    return v;
  }

  absl::Status Open() {
    int rc = mdb_env_create(&env_);
    if (rc != 0) return LmdbError("env_create", rc);
    rc = mdb_env_set_mapsize(env_, map_size_);
    if (rc == 0) rc = mdb_env_set_maxreaders(env_, 64);
    if (rc == 0) rc = mdb_env_open(env_, path_.c_str(), MDB_NOSYNC | MDB_WRITEMAP, 0600);
    if (rc != 0) return LmdbError("env_open", rc);
    MDB_txn* txn;
    rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return LmdbError("txn_begin", rc);
    rc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return LmdbError("dbi_open", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? absl::OkStatus() : LmdbError("commit", rc);
  }

  absl::Status BeginRead() {
    int rc = read_txn_ == nullptr
                 ? mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_)
                 : mdb_txn_renew(read_txn_);
    return rc == 0 ? absl::OkStatus() : LmdbError("read txn", rc);
  }

  std::string path_;
  size_t map_size_ = 0;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* read_txn_ = nullptr;  // reset between reads, renewed per read
};

}  // namespace

std::unique_ptr<Store> NewLmdbStore() { return std::make_unique<LmdbStore>(); }

}  // namespace bench
}  // namespace zcipc
