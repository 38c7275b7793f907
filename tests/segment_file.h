// Reading and replacing a segment file's whole image, for the tests that
// damage segments on purpose (corrupt_segment_test, the fuzzer). Header-only
// and free of GoogleTest, so tools/fuzz.sh can build the fuzzer with it
// outside Bazel.

#ifndef ZCIPC_TESTS_SEGMENT_FILE_H_
#define ZCIPC_TESTS_SEGMENT_FILE_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace zcipc_test {

// Reads the whole file into *out. False if it cannot be opened or read.
inline bool ReadWholeFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  if (ok) {
    out->assign(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (ok && done < out->size()) {
      ssize_t r = pread(fd, &(*out)[done], out->size() - done,
                        static_cast<off_t>(done));
      ok = r > 0;
      if (ok) done += static_cast<size_t>(r);
    }
  }
  close(fd);
  return ok;
}

// Replaces the file's whole content (and size) with `image`.
inline bool WriteWholeFile(const std::string& path, const std::string& image) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ftruncate(fd, static_cast<off_t>(image.size())) == 0;
  size_t done = 0;
  while (ok && done < image.size()) {
    ssize_t r = pwrite(fd, image.data() + done, image.size() - done,
                       static_cast<off_t>(done));
    ok = r > 0;
    if (ok) done += static_cast<size_t>(r);
  }
  close(fd);
  return ok;
}

}  // namespace zcipc_test

#endif  // ZCIPC_TESTS_SEGMENT_FILE_H_
