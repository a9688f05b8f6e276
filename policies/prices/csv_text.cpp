#include "policies/prices/csv_text.hpp"

#include <charconv>
#include <cmath>

namespace hashwatt::policies::prices::detail {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

Lines::Lines(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
}

bool Lines::next(std::string_view& line, std::size_t& number) {
    while (pos_ < text_.size()) {
        auto nl = text_.find('\n', pos_);
        if (nl == std::string_view::npos) nl = text_.size();
        auto l = trim(text_.substr(pos_, nl - pos_));
        pos_ = nl + 1;
        ++number_;
        if (l.empty()) continue;
        line = l;
        number = number_;
        return true;
    }
    return false;
}

std::optional<std::vector<std::string>> split_fields(std::string_view line) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (true) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::string field;
        if (i < line.size() && line[i] == '"') {
            ++i;
            bool closed = false;
            while (i < line.size()) {
                if (line[i] == '"') {
                    if (i + 1 < line.size() && line[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    closed = true;
                    break;
                }
                field += line[i++];
            }
            if (!closed) return std::nullopt;
            while (i < line.size() && line[i] != ',') ++i;  // spaces after the closing quote
        } else {
            auto comma = line.find(',', i);
            if (comma == std::string_view::npos) comma = line.size();
            field = std::string(trim(line.substr(i, comma - i)));
            i = comma;
        }
        out.push_back(std::move(field));
        if (i >= line.size()) break;
        ++i;  // the comma
    }
    return out;
}

std::optional<double> parse_number(std::string_view s) noexcept {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

}  // namespace hashwatt::policies::prices::detail
