// A main() for builds without libFuzzer: runs LLVMFuzzerTestOneInput once on each file named on
// the command line, and on each regular file inside each folder named, in name order, except dot files. A broken
// rule aborts the process as it would under libFuzzer, so a test fails on the first bad input.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool replay_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "replay: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...: replays each input file, or each file of "
                         "each folder\n", argv[0]);
    return 2;
  }
  std::size_t replayed = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path argument(argv[i]);
    std::error_code error;
    if (!std::filesystem::is_directory(argument, error)) {
      if (replay_file(argument)) {
        ++replayed;
      } else {
        ok = false;
      }
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(argument, error)) {
      // Dot files (.gitkeep) only keep empty folders in git.
      if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
        files.push_back(entry.path());
      }
    }
    if (error) {
      std::fprintf(stderr, "replay: failed to list %s: %s\n", argv[i], error.message().c_str());
      ok = false;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      if (replay_file(file)) {
        ++replayed;
      } else {
        ok = false;
      }
    }
  }
  std::printf("replay: %zu input%s ran without a broken rule\n", replayed, replayed == 1 ? "" : "s");
  return ok ? 0 : 1;
}
