// Boost.Interprocess: a managed_shared_memory segment holding a
// boost::interprocess::map<string, string> (an ordered tree, the usual
// Boost.Interprocess container) under an interprocess_sharable_mutex: gets take it shared, writes
// exclusive. The batched variant holds the lock once per batch.

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/containers/string.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_sharable_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <boost/interprocess/sync/sharable_lock.hpp>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/compare/store.h"

namespace zcipc {
namespace bench {
namespace {

namespace bip = boost::interprocess;

using Segment = bip::managed_shared_memory;
using CharAlloc = bip::allocator<char, Segment::segment_manager>;
using ShmString = bip::basic_string<char, std::char_traits<char>, CharAlloc>;

// Transparent, so lookups by absl::string_view build no shared string.
struct Less {
  using is_transparent = void;
  static absl::string_view View(const ShmString& s) {
    return absl::string_view(s.data(), s.size());
  }
  static absl::string_view View(absl::string_view s) { return s; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) < View(b);
  }
};

using Pair = std::pair<const ShmString, ShmString>;
using PairAlloc = bip::allocator<Pair, Segment::segment_manager>;
using Map = bip::map<ShmString, ShmString, Less, PairAlloc>;

struct Root {
  explicit Root(const PairAlloc& alloc) : map(Less(), alloc) {}
  bip::interprocess_sharable_mutex mutex;
  Map map;
};

class BoostStore : public Store {
 public:
  ~BoostStore() override { Destroy(); }

  std::string name() const override { return "Boost.IPC"; }
  std::string batch_label() const override { return "lock per batch"; }

  std::vector<Region> MappedRegions() const override {
    if (segment_ == nullptr) return {};
    return {{segment_->get_address(), segment_->get_size()}};
  }

  absl::Status Create(const StoreConfig& config) override {
    Destroy();
    name_ = absl::StrCat("zcipc-bench-boost-", config.tag);
    bip::shared_memory_object::remove(name_.c_str());
    // Per entry: a tree node (~48 bytes) and two strings' buffers, each
    // with the allocator's header; a third spare.
    size_t size = (config.keys + 1024) * (config.value_size + 192) * 4 / 3 +
                  (32ull << 20);
    try {
      segment_ = std::make_unique<Segment>(bip::create_only, name_.c_str(), size);
      root_ = segment_->construct<Root>("root")(
          PairAlloc(segment_->get_segment_manager()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("Boost.Interprocess create: ", e.what()));
    }
    alloc_ = std::make_unique<CharAlloc>(segment_->get_segment_manager());
    return absl::OkStatus();
  }
  absl::Status AttachInChild() override {
    (void)segment_.release();  // the parent's mapping stays; never unmapped
    try {
      segment_ = std::make_unique<Segment>(bip::open_only, name_.c_str());
      root_ = segment_->find<Root>("root").first;
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("Boost.Interprocess open: ", e.what()));
    }
    if (root_ == nullptr) return absl::InternalError("Boost.Interprocess: no root");
    alloc_ = std::make_unique<CharAlloc>(segment_->get_segment_manager());
    return absl::OkStatus();
  }
  void Destroy() override {
    alloc_.reset();
    segment_.reset();
    root_ = nullptr;
    if (!name_.empty()) bip::shared_memory_object::remove(name_.c_str());
    name_.clear();
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    bip::scoped_lock<bip::interprocess_sharable_mutex> lock(root_->mutex);
    return PutLocked(key, value);
  }
  absl::Status Get(absl::string_view key, std::string* value) override {
    bip::sharable_lock<bip::interprocess_sharable_mutex> lock(root_->mutex);
    return GetLocked(key, value);
  }
  absl::Status Read(absl::string_view key,
                    absl::FunctionRef<void(absl::string_view)> fn) override {
    bip::sharable_lock<bip::interprocess_sharable_mutex> lock(root_->mutex);
    auto it = root_->map.find(key);
    if (it == root_->map.end()) return absl::NotFoundError("");
    fn(Less::View(it->second));
    return absl::OkStatus();
  }
  absl::Status Erase(absl::string_view key) override {
    bip::scoped_lock<bip::interprocess_sharable_mutex> lock(root_->mutex);
    return EraseLocked(key);
  }
  absl::Status RunBatch(const Op* ops, size_t n, BatchResult* out) override {
    out->Resize(n);
    bool writes = false;
    for (size_t i = 0; i < n; ++i) writes |= ops[i].kind != OpKind::kGet;
    if (!writes) {
      bip::sharable_lock<bip::interprocess_sharable_mutex> lock(root_->mutex);
      for (size_t i = 0; i < n; ++i) {
        out->found[i] = GetLocked(ops[i].key, &out->values[i]).ok();
      }
      return absl::OkStatus();
    }
    bip::scoped_lock<bip::interprocess_sharable_mutex> lock(root_->mutex);
    for (size_t i = 0; i < n; ++i) {
      absl::Status s;
      switch (ops[i].kind) {
        case OpKind::kGet:
          s = GetLocked(ops[i].key, &out->values[i]);
          break;
        case OpKind::kPut:
          s = PutLocked(ops[i].key, ops[i].value);
          break;
        case OpKind::kErase:
          s = EraseLocked(ops[i].key);
          break;
      }
      out->found[i] = s.ok();
      if (!s.ok() && !absl::IsNotFound(s)) return s;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status PutLocked(absl::string_view key, absl::string_view value) {
    try {
      auto it = root_->map.find(key);
      if (it != root_->map.end()) {
        it->second.assign(value.data(), value.data() + value.size());
      } else {
        root_->map.emplace(ShmString(key.data(), key.size(), *alloc_),
                           ShmString(value.data(), value.size(), *alloc_));
      }
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat("Boost.Interprocess put: ", e.what()));
    }
    return absl::OkStatus();
  }
  absl::Status GetLocked(absl::string_view key, std::string* value) {
    auto it = root_->map.find(key);
    if (it == root_->map.end()) return absl::NotFoundError("");
    value->assign(it->second.data(), it->second.size());
    return absl::OkStatus();
  }
  absl::Status EraseLocked(absl::string_view key) {
    auto it = root_->map.find(key);
    if (it == root_->map.end()) return absl::NotFoundError("");
    root_->map.erase(it);
    return absl::OkStatus();
  }

  std::string name_;
  std::unique_ptr<Segment> segment_;
  std::unique_ptr<CharAlloc> alloc_;
  Root* root_ = nullptr;
};

}  // namespace

std::unique_ptr<Store> NewBoostStore() {
  return std::make_unique<BoostStore>();
}

}  // namespace bench
}  // namespace zcipc
