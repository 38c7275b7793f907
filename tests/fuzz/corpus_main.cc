// Replays fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer, so
// the regular (gcc, Bazel) build runs the seed corpus in CI and anyone can
// replay a finding:
//
//   segment_fuzzer_corpus_test [DIR_OR_FILE...]
//
// With no arguments it replays tests/fuzz/corpus/ from the test's runfiles
// ($TEST_SRCDIR/$TEST_WORKSPACE), else from the current directory. Fails if
// it found no input; an input that breaks an invariant aborts (the file's
// name is printed before it runs).

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void AddInputs(const std::string& path, std::vector<std::string>* out) {
  if (!IsDirectory(path)) {
    out->push_back(path);
    return;
  }
  std::vector<std::string> files;
  if (DIR* dir = opendir(path.c_str())) {
    while (struct dirent* e = readdir(dir)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string full = path + "/" + name;
      if (!IsDirectory(full)) files.push_back(full);
    }
    closedir(dir);
  }
  std::sort(files.begin(), files.end());
  out->insert(out->end(), files.begin(), files.end());
}

std::string DefaultCorpus() {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr) {
    std::string dir =
        std::string(srcdir) + "/" + workspace + "/tests/fuzz/corpus";
    if (IsDirectory(dir)) return dir;
  }
  return "tests/fuzz/corpus";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> inputs;
  if (argc > 1) {
    for (int i = 1; i < argc; ++i) AddInputs(argv[i], &inputs);
  } else {
    AddInputs(DefaultCorpus(), &inputs);
  }
  if (inputs.empty()) {
    fprintf(stderr, "no fuzz inputs found\n");
    return 1;
  }
  int failed = 0;
  for (const std::string& path : inputs) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      fprintf(stderr, "cannot read %s\n", path.c_str());
      ++failed;
      continue;
    }
    std::string data((std::istreambuf_iterator<char>(file)),
                     std::istreambuf_iterator<char>());
    fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), data.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()),
                           data.size());
  }
  printf("%zu passed, %d failed\n", inputs.size() - failed, failed);
  return failed == 0 ? 0 : 1;
}
