// zcipc: lock-free Get (a copy) and zero-copy Read; Put one at a time (one
// writer-lock hold each) and batches through Write (one hold per batch).

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/compare/store.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace bench {
namespace {

class ZcipcStore : public Store {
 public:
  ~ZcipcStore() override { Destroy(); }

  std::string name() const override { return "zcipc"; }
  bool has_zero_copy_read() const override { return true; }
  std::string batch_label() const override {
    return "Write batch (gets lock-free)";
  }

  std::vector<Region> MappedRegions() const override {
    return MappingsOfFile("/dev/shm/zcipc." + name_);
  }

  absl::Status Create(const StoreConfig& config) override {
    Destroy();
    name_ = absl::StrCat("bench-compare-", config.tag);
    Options o;
    o.max_items = config.keys + 1024;
    // One block per entry: 24 header bytes + key padded to 8 + value,
    // rounded to 16; a quarter spare for blocks that move.
    o.heap_size = (config.keys + 1024) * (config.value_size + 64) * 5 / 4 +
                  (16ull << 20);
    (void)ZeroCopyDict::Unlink(name_);  // a leftover of a killed run
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name_, o);
    if (!d.ok()) return d.status();
    dict_.emplace(*std::move(d));
    return absl::OkStatus();
  }
  absl::Status AttachInChild() override {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name_);
    if (!d.ok()) return d.status();
    dict_.emplace(*std::move(d));
    return absl::OkStatus();
  }
  void Destroy() override {
    dict_.reset();
    if (!name_.empty()) (void)ZeroCopyDict::Unlink(name_);
    name_.clear();
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    return dict_->Put(key, value);
  }
  absl::Status Get(absl::string_view key, std::string* value) override {
    return dict_->Get(key, value);
  }
  absl::Status Read(absl::string_view key,
                    absl::FunctionRef<void(absl::string_view)> fn) override {
    return dict_->Read(key, fn);
  }
  absl::Status Erase(absl::string_view key) override {
    return dict_->Erase(key);
  }
  absl::Status RunBatch(const Op* ops, size_t n, BatchResult* out) override {
    out->Resize(n);
    bool writes = false;
    for (size_t i = 0; i < n; ++i) writes |= ops[i].kind != OpKind::kGet;
    if (!writes) {
      // Reads need no lock: a batch of gets is a loop of lock-free Gets.
      for (size_t i = 0; i < n; ++i) {
        absl::Status s = dict_->Get(ops[i].key, &out->values[i]);
        out->found[i] = s.ok();
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
      return absl::OkStatus();
    }
    return dict_->Write([&](Batch& b) -> absl::Status {
      for (size_t i = 0; i < n; ++i) {
        absl::Status s;
        switch (ops[i].kind) {
          case OpKind::kGet:
            s = b.Get(ops[i].key, &out->values[i]);
            break;
          case OpKind::kPut:
            s = b.Put(ops[i].key, ops[i].value);
            break;
          case OpKind::kErase:
            s = b.Erase(ops[i].key);
            break;
        }
        out->found[i] = s.ok();
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
      return absl::OkStatus();
    });
  }

 private:
  std::string name_;
  std::optional<ZeroCopyDict> dict_;
};

}  // namespace

std::unique_ptr<Store> NewZcipcStore() {
  return std::make_unique<ZcipcStore>();
}

}  // namespace bench
}  // namespace zcipc
