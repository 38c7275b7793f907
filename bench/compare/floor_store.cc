// The in-process floor: absl::flat_hash_map<std::string, std::string> in
// the harness's own memory. No sharing, no locking, no IPC: the cost of the
// lookup and the copy alone. Single process only.

#include <string>

#include "absl/container/flat_hash_map.h"
#include "bench/compare/store.h"

namespace zcipc {
namespace bench {
namespace {

class FloorStore : public Store {
 public:
  std::string name() const override { return "floor"; }
  bool multi_process() const override { return false; }
  std::string batch_label() const override { return "loop"; }

  absl::Status Create(const StoreConfig& config) override {
    map_.clear();
    map_.reserve(config.keys);
    return absl::OkStatus();
  }
  absl::Status AttachInChild() override {
    return absl::UnimplementedError("the floor is in-process only");
  }
  void Destroy() override {
    absl::flat_hash_map<std::string, std::string>().swap(map_);
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second.assign(value.data(), value.size());
    } else {
      map_.emplace(std::string(key), std::string(value));
    }
    return absl::OkStatus();
  }
  absl::Status Get(absl::string_view key, std::string* value) override {
    auto it = map_.find(key);
    if (it == map_.end()) return absl::NotFoundError("");
    value->assign(it->second);
    return absl::OkStatus();
  }
  absl::Status Read(absl::string_view key,
                    absl::FunctionRef<void(absl::string_view)> fn) override {
    auto it = map_.find(key);
    if (it == map_.end()) return absl::NotFoundError("");
    fn(it->second);
    return absl::OkStatus();
  }
  absl::Status Erase(absl::string_view key) override {
    auto it = map_.find(key);
    if (it == map_.end()) return absl::NotFoundError("");
    map_.erase(it);
    return absl::OkStatus();
  }
  absl::Status RunBatch(const Op* ops, size_t n, BatchResult* out) override {
    out->Resize(n);
    for (size_t i = 0; i < n; ++i) {
      absl::Status s;
      switch (ops[i].kind) {
        case OpKind::kGet:
          s = Get(ops[i].key, &out->values[i]);
          break;
        case OpKind::kPut:
          s = Put(ops[i].key, ops[i].value);
          break;
        case OpKind::kErase:
          s = Erase(ops[i].key);
          break;
      }
      out->found[i] = s.ok();
      if (!s.ok() && !absl::IsNotFound(s)) return s;
    }
    return absl::OkStatus();
  }

 private:
  absl::flat_hash_map<std::string, std::string> map_;
};

}  // namespace

std::unique_ptr<Store> NewFloorStore() {
  return std::make_unique<FloorStore>();
}

}  // namespace bench
}  // namespace zcipc
