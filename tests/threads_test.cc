// Eight threads through one handle: mixed writes (Put of self-checking
// values, Erase, Add, batches) and lock-free reads (Get, Read, ForEach),
// counting torn reads; and a deterministic single-thread variant of the same
// operation mix against a model.

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::MakeValue;
using ::zcipc_test::ParseValue;
using ::zcipc_test::ScopedName;

constexpr int kKeys = 64;

std::string Key(int i) { return absl::StrCat("t", i); }

TEST(ThreadsTest, EightThreadsMixedWritesAndReadsOnOneHandle) {
  ScopedName name;
  Options o;
  o.max_items = 1000;
  o.heap_size = 16 << 20;
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict d, ZeroCopyDict::Create(name.name(), o));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, errors{0}, reads{0}, adds{0};
  std::vector<std::thread> threads;
  // 4 writers: each owns keys i % 4 == w, so generations per key increase.
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(w);
      std::vector<uint64_t> gen(kKeys, 0);
      for (int op = 0; op < 3000; ++op) {
        int k = (rng() % (kKeys / 4)) * 4 + w;
        absl::Status s;
        switch (rng() % 6) {
          case 0:
            s = d.Erase(Key(k));
            if (absl::IsNotFound(s)) s = absl::OkStatus();
            break;
          case 1:
            s = d.Add("shared-counter", 1).status();
            adds++;
            break;
          case 2:
            s = d.Write([&](Batch& b) {
              for (int i = 0; i < 3; ++i) {
                int bk = (rng() % (kKeys / 4)) * 4 + w;
                absl::Status bs = b.Put(Key(bk), MakeValue(Key(bk), ++gen[bk], 2000));
                if (!bs.ok()) return bs;
              }
              return absl::OkStatus();
            });
            break;
          default:
            s = d.Put(Key(k), MakeValue(Key(k), ++gen[k], 2000));
        }
        if (!s.ok()) errors++;
      }
    });
  }
  // 4 readers.
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(100 + r);
      std::string v;
      while (!stop.load()) {
        int k = rng() % kKeys;
        absl::Status s;
        if (rng() % 50 == 0) {
          s = d.ForEach([&](absl::string_view fk, absl::string_view fv) {
            if (fk == "shared-counter") return;
            if (!ParseValue(fk, fv, nullptr, 2000)) torn++;
          });
        } else if (rng() % 2) {
          s = d.Get(Key(k), &v);
          if (s.ok() && !ParseValue(Key(k), v, nullptr, 2000)) torn++;
        } else {
          s = d.Read(Key(k), [&](absl::string_view rv) { v.assign(rv.data(), rv.size()); });
          if (s.ok() && !ParseValue(Key(k), v, nullptr, 2000)) torn++;
        }
        if (!s.ok() && !absl::IsNotFound(s)) errors++;
        reads++;
      }
    });
  }
  for (int i = 0; i < 4; ++i) threads[i].join();
  stop = true;
  for (size_t i = 4; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(reads.load(), 1000u);
  ASSERT_OK_AND_ASSIGN(int64_t counted, d.Add("shared-counter", 0));
  EXPECT_EQ(static_cast<uint64_t>(counted), adds.load());
  EXPECT_OK(d.Check());
}

// The same mix, one thread, checked against a model after every operation.
TEST(ThreadsTest, DeterministicVariantMatchesAModel) {
  ScopedName name;
  Options o;
  o.max_items = 1000;
  o.heap_size = 16 << 20;
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict d, ZeroCopyDict::Create(name.name(), o));
  std::map<std::string, std::string> model;
  std::mt19937 rng(5);
  for (int op = 0; op < 5000; ++op) {
    int k = rng() % kKeys;
    switch (rng() % 4) {
      case 0: {
        absl::Status s = d.Erase(Key(k));
        EXPECT_EQ(s.ok(), model.erase(Key(k)) == 1);
        break;
      }
      case 1: {
        std::vector<std::pair<std::string, std::string>> puts;
        ASSERT_OK(d.Write([&](Batch& b) {
          for (int i = 0; i < 3; ++i) {
            int bk = rng() % kKeys;
            std::string v = MakeValue(Key(bk), op, 2000);
            absl::Status s = b.Put(Key(bk), v);
            if (!s.ok()) return s;
            model[Key(bk)] = v;
          }
          return absl::OkStatus();
        }));
        break;
      }
      default: {
        std::string v = MakeValue(Key(k), op, 2000);
        ASSERT_OK(d.Put(Key(k), v));
        model[Key(k)] = v;
      }
    }
    std::string got;
    absl::Status s = d.Get(Key(k), &got);
    auto it = model.find(Key(k));
    ASSERT_EQ(s.ok(), it != model.end()) << op;
    if (s.ok()) ASSERT_EQ(got, it->second);
  }
  EXPECT_EQ(d.Size(), model.size());
  EXPECT_OK(d.Check());
}

}  // namespace
}  // namespace zcipc
