// docs/KNOWN-FAILURES.md, item 18 (the original Python package): Names are not
// validated.
//
// The escape is made possible on purpose: a directory named like a dict's
// file (/dev/shm/zcipc.<tag>) exists, so "<tag>/../../../tmp/<dir>/victim"
// would resolve, as a path, to a file outside /dev/shm. Create, Attach,
// OpenOrCreate and Unlink of such names (and of other names with '/', '..',
// NUL, spaces, or too long) answer InvalidArgument; the victim file outside
// /dev/shm is untouched, nothing is created there or inside the directory,
// and no entry with the tag appears in /dev/shm. Names that only look odd
// ("..x", "a..b") are valid and land in /dev/shm itself.

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_test::HasCode;
using ::zcipc_test::SegmentPath;

constexpr absl::StatusCode kInvalidArgument =
    absl::StatusCode::kInvalidArgument;

std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  closedir(d);
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Kf18NameValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tag_ = absl::StrCat("kf18-", static_cast<int64_t>(getpid()));
    trap_dir_ = SegmentPath(tag_);  // /dev/shm/zcipc.kf18-<pid>, a directory
    ASSERT_EQ(mkdir(trap_dir_.c_str(), 0700), 0) << trap_dir_;
    char tmpl[] = "/tmp/kf18-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    outside_dir_ = tmpl;
    victim_ = outside_dir_ + "/victim";
    std::ofstream(victim_) << "victim's bytes";
  }
  void TearDown() override {
    for (const std::string& n : ListDir(trap_dir_)) {
      unlink((trap_dir_ + "/" + n).c_str());
    }
    rmdir(trap_dir_.c_str());
    for (const std::string& n : ListDir(outside_dir_)) {
      unlink((outside_dir_ + "/" + n).c_str());
    }
    rmdir(outside_dir_.c_str());
  }

  // "<tag>/../../../<path without its leading slash>": as a path under
  // /dev/shm/zcipc., it resolves to `path`.
  std::string EscapeTo(const std::string& path) const {
    return absl::StrCat(tag_, "/../../..", path);
  }

  void ExpectEveryCallRefuses(const std::string& name) {
    SCOPED_TRACE(absl::StrCat("name \"", name, "\""));
    EXPECT_TRUE(HasCode(ZeroCopyDict::Create(name, MakeOptions(10, 65536)),
                        kInvalidArgument));
    EXPECT_TRUE(HasCode(ZeroCopyDict::Attach(name), kInvalidArgument));
    EXPECT_TRUE(
        HasCode(ZeroCopyDict::OpenOrCreate(name, MakeOptions(10, 65536)),
                kInvalidArgument));
    EXPECT_TRUE(HasCode(ZeroCopyDict::Unlink(name), kInvalidArgument));
  }

  std::string tag_, trap_dir_, outside_dir_, victim_;
};

TEST_F(Kf18NameValidationTest, EscapingNamesAreRefusedAndTouchNothing) {
  // The escape really resolves to the victim: the test's premise.
  char resolved[PATH_MAX];
  const std::string escaped_path = "/dev/shm/zcipc." + EscapeTo(victim_);
  ASSERT_NE(realpath(escaped_path.c_str(), resolved), nullptr) << escaped_path;
  char victim_real[PATH_MAX];
  ASSERT_NE(realpath(victim_.c_str(), victim_real), nullptr);
  ASSERT_EQ(std::string(resolved), std::string(victim_real));
  ASSERT_LE(EscapeTo(victim_).size(), kMaxNameLength)
      << "the escaping name is refused for its length alone";

  const std::vector<std::string> names = {
      EscapeTo(victim_),                          // an existing file
      EscapeTo(outside_dir_ + "/new"),            // a new file outside
      absl::StrCat(tag_, "/inner"),               // a file inside the trap
      absl::StrCat(tag_, "/./inner2"),
      absl::StrCat("../", tag_, "-up"),
      absl::StrCat("/", tag_, "-abs"),
      absl::StrCat(tag_, "/"),
      "..",
      ".",
      "",
      std::string("nul\0byte", 8),
      absl::StrCat(tag_, " space"),
      absl::StrCat(tag_, "\\back"),
      std::string(kMaxNameLength + 1, 'n'),
  };
  const std::set<std::string> shm_before = ListDir("/dev/shm");
  struct stat victim_before;
  ASSERT_EQ(stat(victim_.c_str(), &victim_before), 0);

  for (const std::string& name : names) ExpectEveryCallRefuses(name);

  // The victim is intact; nothing new outside /dev/shm or inside the trap.
  struct stat victim_after;
  ASSERT_EQ(stat(victim_.c_str(), &victim_after), 0);
  EXPECT_EQ(victim_after.st_ino, victim_before.st_ino);
  EXPECT_EQ(victim_after.st_size, victim_before.st_size);
  EXPECT_EQ(ReadFile(victim_), "victim's bytes");
  EXPECT_EQ(ListDir(outside_dir_), std::set<std::string>{"victim"});
  EXPECT_TRUE(ListDir(trap_dir_).empty());
  // No /dev/shm entry with the tag appeared (other tests' entries may come
  // and go meanwhile, so only ours are compared).
  for (const std::string& n : ListDir("/dev/shm")) {
    if (absl::StrContains(n, tag_) && shm_before.count(n) == 0) {
      ADD_FAILURE() << "new entry /dev/shm/" << n;
    }
  }
}

TEST_F(Kf18NameValidationTest, OddButValidNamesStayInDevShm) {
  for (const std::string& name :
       {absl::StrCat("..", tag_), absl::StrCat(tag_, "..x"),
        absl::StrCat(tag_, "...")}) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(ZeroCopyDict d,
                         ZeroCopyDict::Create(name, MakeOptions(10, 65536)));
    ASSERT_OK(d.Put("k", "v"));
    // The file is a regular file directly in /dev/shm.
    char resolved[PATH_MAX];
    ASSERT_NE(realpath(SegmentPath(name).c_str(), resolved), nullptr);
    EXPECT_EQ(std::string(resolved), "/dev/shm/zcipc." + name);
    struct stat st;
    ASSERT_EQ(stat(resolved, &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    ASSERT_OK(ZeroCopyDict::Unlink(name));
    EXPECT_NE(stat(resolved, &st), 0);
  }
  EXPECT_EQ(ListDir(outside_dir_), std::set<std::string>{"victim"});
}

}  // namespace
}  // namespace zcipc
