// The replay program of a fuzz target in the ordinary (gcc) build: every file of the given
// directories goes through the target's LLVMFuzzerTestOneInput once, so each seed and each
// saved finding (fuzz/regressions/<name>/) is a regression test of `make test` (CTest
// fuzz_replay_<name>, registered in fuzz/CMakeLists.txt).
//
//   fuzz_replay_<name> [--selectors N] DIR... [--selectors 0] DIR...
//
// With --selectors N (N > 0) each file of the directories after it is run N times, prefixed
// by each selector byte 0..N-1 (the fixtures are raw replies, fuzz_input.hpp); with 0 the files
// run as they are (saved inputs already carry their selector byte).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run(const std::string& bytes) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
    unsigned selectors = 0;
    std::size_t files = 0;
    std::size_t inputs = 0;
    for (int a = 1; a < argc; ++a) {
        const std::string arg = argv[a];
        if (arg == "--selectors" && a + 1 < argc) {
            selectors = static_cast<unsigned>(std::strtoul(argv[++a], nullptr, 10));
            continue;
        }
        const std::filesystem::path dir(arg);
        if (!std::filesystem::is_directory(dir)) {
            std::fprintf(stderr, "replay: %s is not a directory\n", arg.c_str());
            return 2;
        }
        std::vector<std::filesystem::path> paths;
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            if (e.is_regular_file() && e.path().filename().string()[0] != '.') {
                paths.push_back(e.path());
            }
        }
        std::sort(paths.begin(), paths.end());  // a stable order for reading a failure's log
        for (const auto& p : paths) {
            const std::string bytes = read_file(p);
            ++files;
            if (selectors == 0) {
                run(bytes);
                ++inputs;
                continue;
            }
            for (unsigned s = 0; s < selectors; ++s) {
                run(std::string(1, static_cast<char>(s)) + bytes);
                ++inputs;
            }
        }
    }
    std::printf("replay: %zu files, %zu inputs, no crash\n", files, inputs);
    return 0;
}
