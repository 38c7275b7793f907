// Names whose file in /dev/shm is not a dict: each gets a fitting code, an
// ErrorKind and a message that says what the file is, at once (no waiting
// for a creator: a dict appears under its name only once complete).
//   directory, symbolic link, FIFO, socket   FailedPrecondition, kNotAFile
//   empty, short, all-zero header            DataLoss, kNoHeader
//   another user's file (mode 0600)          PermissionDenied, kPermission

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::SegmentPath;
using ::zcipc_test::UniqueName;

// Removes whatever is at the path (file, link, FIFO or directory).
class ScopedPath {
 public:
  explicit ScopedPath(std::string name)
      : name_(std::move(name)), path_(SegmentPath(name_)) {}
  ~ScopedPath() {
    if (unlink(path_.c_str()) != 0) rmdir(path_.c_str());
  }
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }

 private:
  std::string name_;
  std::string path_;
};

Options LongTimeout() {
  Options o;
  o.lock_timeout = absl::Seconds(30);
  return o;
}

// Attach and OpenOrCreate give the same answer, long before lock_timeout.
void ExpectAttachFails(const ScopedPath& p, absl::StatusCode code,
                       ErrorKind kind, absl::string_view what) {
  for (int open_or_create = 0; open_or_create < 2; ++open_or_create) {
    absl::Time start = absl::Now();
    absl::StatusOr<ZeroCopyDict> d =
        open_or_create ? ZeroCopyDict::OpenOrCreate(p.name(), LongTimeout())
                       : ZeroCopyDict::Attach(p.name(), LongTimeout());
    absl::Duration took = absl::Now() - start;
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), code) << d.status();
    EXPECT_EQ(GetErrorKind(d.status()), kind) << d.status();
    EXPECT_TRUE(absl::StartsWith(d.status().message(),
                                 absl::StrCat("dict '", p.name(), "': ")))
        << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), p.path()))
        << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), what)) << d.status();
    // Not a timing benchmark: only that it did not wait for a creator.
    EXPECT_LT(took, absl::Seconds(15)) << "waited for a creator";
  }
}

TEST(NonDictFilesTest, Directory) {
  ScopedPath p(UniqueName("dir"));
  ASSERT_EQ(mkdir(p.path().c_str(), 0700), 0);
  ExpectAttachFails(p, absl::StatusCode::kFailedPrecondition,
                    ErrorKind::kNotAFile, "is a directory");
}

TEST(NonDictFilesTest, SymbolicLinkIsNotFollowed) {
  ScopedPath p(UniqueName("link"));
  ASSERT_EQ(symlink("/etc/passwd", p.path().c_str()), 0);
  ExpectAttachFails(p, absl::StatusCode::kFailedPrecondition,
                    ErrorKind::kNotAFile, "is a symbolic link");
}

TEST(NonDictFilesTest, DanglingSymbolicLink) {
  ScopedPath p(UniqueName("dangling"));
  ASSERT_EQ(symlink("/nonexistent/zcipc", p.path().c_str()), 0);
  ExpectAttachFails(p, absl::StatusCode::kFailedPrecondition,
                    ErrorKind::kNotAFile, "is a symbolic link");
}

TEST(NonDictFilesTest, FifoIsNotOpened) {
  ScopedPath p(UniqueName("fifo"));
  ASSERT_EQ(mkfifo(p.path().c_str(), 0600), 0);
  ExpectAttachFails(p, absl::StatusCode::kFailedPrecondition,
                    ErrorKind::kNotAFile, "is a FIFO");
}

TEST(NonDictFilesTest, Socket) {
  ScopedPath p(UniqueName("sock"));
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(p.path().size(), sizeof(addr.sun_path));
  memcpy(addr.sun_path, p.path().c_str(), p.path().size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ExpectAttachFails(p, absl::StatusCode::kFailedPrecondition,
                    ErrorKind::kNotAFile, "is a socket");
  close(fd);
}

void WriteFile(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  fclose(f);
}

TEST(NonDictFilesTest, EmptyFileFailsAtOnce) {
  ScopedPath p(UniqueName("empty"));
  WriteFile(p.path(), "");
  ExpectAttachFails(p, absl::StatusCode::kDataLoss, ErrorKind::kNoHeader,
                    "is 0 bytes");
}

TEST(NonDictFilesTest, ShortFileFailsAtOnce) {
  ScopedPath p(UniqueName("short"));
  WriteFile(p.path(), "hello");
  ExpectAttachFails(p, absl::StatusCode::kDataLoss, ErrorKind::kNoHeader,
                    "is 5 bytes");
}

TEST(NonDictFilesTest, ZeroHeaderFailsAtOnce) {
  ScopedPath p(UniqueName("zeros"));
  WriteFile(p.path(), std::string(1 << 16, '\0'));
  ExpectAttachFails(p, absl::StatusCode::kDataLoss, ErrorKind::kNoHeader,
                    "has no zcipc header");
}

TEST(NonDictFilesTest, ForeignFileIsCorrupt) {
  ScopedPath p(UniqueName("foreign"));
  WriteFile(p.path(), std::string(1 << 16, 'x'));
  ExpectAttachFails(p, absl::StatusCode::kDataLoss, ErrorKind::kCorrupt,
                    "bad magic");
}

TEST(NonDictFilesTest, AnotherUsersFile) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a second user";
  ScopedPath p(UniqueName("other"));
  {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(p.name());
    ASSERT_TRUE(d.ok()) << d.status();
  }
  // Root's dict, mode 0600: a process running as nobody may not open it.
  pid_t pid = zcipc_test::StartChild([&] {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 10;
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(p.name());
    if (d.ok()) return 11;
    if (!absl::IsPermissionDenied(d.status())) return 12;
    if (GetErrorKind(d.status()) != ErrorKind::kPermission) return 13;
    if (!absl::StrContains(d.status().message(), "belongs to uid 0")) {
      return 14;
    }
    if (!absl::StrContains(d.status().message(), p.path())) return 15;
    return 0;
  });
  zcipc_test::ChildResult r = zcipc_test::WaitChild(pid);
  EXPECT_TRUE(r.ok()) << r.Describe();
}

TEST(NonDictFilesTest, CreateOverANonDictIsAlreadyExists) {
  ScopedPath p(UniqueName("taken"));
  ASSERT_EQ(mkdir(p.path().c_str(), 0700), 0);
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(p.name());
  EXPECT_TRUE(absl::IsAlreadyExists(d.status())) << d.status();
}

TEST(NonDictFilesTest, CreateLeavesNoTemporaryFiles) {
  zcipc_test::ScopedName name("tmp");
  {
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name());
    ASSERT_TRUE(d.ok()) << d.status();
    // A second Create of the same name fails and cleans up after itself.
    EXPECT_TRUE(
        absl::IsAlreadyExists(ZeroCopyDict::Create(name.name()).status()));
  }
  const std::string mine = absl::StrCat("zcipc.~creating.", getpid(), ".");
  DIR* dir = opendir("/dev/shm");
  ASSERT_NE(dir, nullptr);
  while (struct dirent* e = readdir(dir)) {
    EXPECT_FALSE(absl::StartsWith(e->d_name, mine)) << e->d_name;
  }
  closedir(dir);
}

}  // namespace
}  // namespace zcipc
