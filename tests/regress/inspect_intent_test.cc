// Inspect() names every intent op the write protocol records, including
// kRepair (a repairer that died after its op-specific step), which it used
// to print as "unknown".

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/match.h"
#include "engine/layout/layout.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

TEST(InspectIntentTest, NamesEveryOp) {
  zcipc_test::ScopedName name("intent");
  Options o;
  o.max_items = 16;
  o.heap_size = 1 << 16;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok()) << d.status();
  const struct {
    layout::Op op;
    const char* name;
  } kOps[] = {{layout::Op::kInsert, "insert"},
              {layout::Op::kUpdateInPlace, "update-in-place"},
              {layout::Op::kRelocate, "relocate"},
              {layout::Op::kErase, "erase"},
              {layout::Op::kPurge, "purge"},
              {layout::Op::kRepair, "repair"}};
  int fd = open(zcipc_test::SegmentPath(name.name()).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  for (const auto& k : kOps) {
    // As a writer that died in that op would have left it (no lock held).
    uint64_t op = static_cast<uint64_t>(k.op);
    ASSERT_EQ(pwrite(fd, &op, sizeof(op), offsetof(layout::Header, intent)),
              static_cast<ssize_t>(sizeof(op)));
    absl::StatusOr<Inspection> in = Inspect(*d);
    ASSERT_TRUE(in.ok()) << in.status();
    EXPECT_TRUE(absl::StartsWith(in->intent, k.name)) << in->intent;
  }
  close(fd);
}

}  // namespace
}  // namespace zcipc
