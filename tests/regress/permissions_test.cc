// Permissions (README "Trust": "mode 0600 keeps other users out"). The
// segment file is created mode 0600, owned by its creator, even under a
// permissive umask; a process of another user (a forked child that drops to
// user nobody, 65534) cannot attach, create over, or unlink it: Attach and
// Unlink are PermissionDenied, and the dict is unchanged afterwards.

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <ios>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::StatSegment;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

TEST(PermissionsTest, SegmentIsMode0600EvenUnderAPermissiveUmask) {
  ScopedName name("perm-mode");
  const mode_t old_umask = umask(0);
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), MakeOptions(10, 65536));
  umask(old_umask);
  ASSERT_OK(d.status());
  struct stat st;
  ASSERT_TRUE(StatSegment(name.name(), &st));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_EQ(st.st_gid, getegid());
  // OpenOrCreate creates with the same mode.
  ScopedName name2("perm-mode");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict d2,
      ZeroCopyDict::OpenOrCreate(name2.name(), MakeOptions(10, 65536)));
  ASSERT_TRUE(StatSegment(name2.name(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
}

enum ChildExit {
  kRefused = 0,
  kDropFailed = 10,
  kAttachNotDenied = 11,
  kOpenOrCreateNotDenied = 12,
  kUnlinkNotDenied = 13,
  kCreateNotRefused = 14,
};

TEST(PermissionsTest, OtherUserIsPermissionDenied) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to user nobody";
  }
  ScopedName name("perm-user");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(10, 65536)));
  ASSERT_OK(dict.Put("secret", "s3cr3t"));
  struct stat before;
  ASSERT_TRUE(StatSegment(name.name(), &before));

  const pid_t pid = StartChild([&]() -> int {
    if (setgroups(0, nullptr) != 0 || setgid(kNogroup) != 0 ||
        setuid(kNobody) != 0 || geteuid() != kNobody) {
      return kDropFailed;
    }
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
    if (!absl::IsPermissionDenied(d.status())) {
      return ChildFailure(kAttachNotDenied, "Attach", d.status());
    }
    d = ZeroCopyDict::OpenOrCreate(name.name(), MakeOptions(10, 65536));
    if (!absl::IsPermissionDenied(d.status())) {
      return ChildFailure(kOpenOrCreateNotDenied, "OpenOrCreate", d.status());
    }
    absl::Status s = ZeroCopyDict::Unlink(name.name());
    if (!absl::IsPermissionDenied(s)) {
      return ChildFailure(kUnlinkNotDenied, "Unlink", s);
    }
    d = ZeroCopyDict::Create(name.name(), MakeOptions(10, 65536));
    if (d.ok()) return kCreateNotRefused;
    return kRefused;
  });
  ASSERT_GT(pid, 0);
  const ChildResult r = WaitChild(pid);
  EXPECT_TRUE(r.ok()) << "child as nobody " << r.Describe()
                      << " (10 could not drop privileges, 11 Attach, 12 "
                         "OpenOrCreate, 13 Unlink not PermissionDenied, 14 "
                         "Create succeeded)";

  // The dict is unchanged: same file, same mode, same data.
  struct stat after;
  ASSERT_TRUE(StatSegment(name.name(), &after));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_uid, before.st_uid);
  ASSERT_OK_AND_ASSIGN(std::string v, dict.Get("secret"));
  EXPECT_EQ(v, "s3cr3t");
  EXPECT_EQ(dict.Size(), 1u);
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
