// How a fuzz input is read by the targets of fuzz/: the first byte picks the function under test
// (modulo the target's selector count, so every byte value means something), the rest is the
// untrusted text. Functions that take several replies get the rest split on the ASCII record
// separator 0x1E (a byte no miner reply or config file holds): part i is the i-th reply, and an
// empty or missing part is a reply that was not received (nullopt).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace hashwatt::fuzz {

inline constexpr char kPartSeparator = '\x1e';

struct Input {
    std::uint8_t selector = 0;
    std::string_view rest;
};

// The selector (modulo `selectors`) and the text after it; nullopt for an empty input.
inline std::optional<Input> split_selector(const std::uint8_t* data, std::size_t size,
                                           std::uint8_t selectors) {
    if (size == 0 || selectors == 0) return std::nullopt;
    return Input{static_cast<std::uint8_t>(data[0] % selectors),
                 std::string_view(reinterpret_cast<const char*>(data + 1), size - 1)};
}

// `count` parts of `text` split on kPartSeparator; absent (nullopt) when empty or not there.
inline std::vector<std::optional<std::string_view>> split_parts(std::string_view text,
                                                                std::size_t count) {
    std::vector<std::optional<std::string_view>> parts(count);
    std::size_t i = 0;
    while (i < count) {
        const std::size_t end = text.find(kPartSeparator);
        const std::string_view part = text.substr(0, end);
        if (!part.empty()) parts[i] = part;
        ++i;
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return parts;
}

}  // namespace hashwatt::fuzz
