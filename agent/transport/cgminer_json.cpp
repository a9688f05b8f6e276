#include "agent/transport/cgminer_json.hpp"

#include <charconv>
#include <limits>

#include <boost/json.hpp>

namespace hashwatt::agent {

namespace json = boost::json;

CgminerJsonError::CgminerJsonError(const std::string& what, std::size_t offset)
    : std::runtime_error(what), offset_(offset) {}

namespace {

// ASCII only: firmware text is bytes, and <cctype> depends on the locale and on char's sign.
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_word_char(char c) noexcept { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool equals_ignore_case(std::string_view a, std::string_view lower) noexcept {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower[i]) return false;
    }
    return true;
}

// printf's spellings of non-finite doubles, which cgminer writes with "%f".
bool is_non_finite_word(std::string_view w) noexcept {
    return equals_ignore_case(w, "nan") || equals_ignore_case(w, "inf") ||
           equals_ignore_case(w, "infinity");
}

void append_control_escape(std::string& out, unsigned char c) {
    switch (c) {
        case '\n':
            out += "\\n";
            return;
        case '\r':
            out += "\\r";
            return;
        case '\t':
            out += "\\t";
            return;
        default: {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0x0f]);
        }
    }
}

int clamp_to_int(double d) noexcept {
    if (!(d == d)) return 0;  // NaN
    if (d >= static_cast<double>(std::numeric_limits<int>::max()))
        return std::numeric_limits<int>::max();
    if (d <= static_cast<double>(std::numeric_limits<int>::min()))
        return std::numeric_limits<int>::min();
    return static_cast<int>(d);
}

int status_number(const json::value* v) noexcept {
    if (!v) return 0;
    switch (v->kind()) {
        case json::kind::int64:
            return clamp_to_int(static_cast<double>(v->get_int64()));
        case json::kind::uint64:
            return clamp_to_int(static_cast<double>(v->get_uint64()));
        case json::kind::double_:
            return clamp_to_int(v->get_double());
        case json::kind::string: {
            const json::string& s = v->get_string();
            int n = 0;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
            return (ec == std::errc() && end == s.data() + s.size()) ? n : 0;
        }
        default:
            return 0;
    }
}

std::string string_or_empty(const json::value* v) {
    return (v && v->is_string()) ? std::string(v->get_string()) : std::string();
}

// The envelope fields of `fields` with the status letter taken from `letter`.
std::optional<CgminerStatus> read_status(const json::value& letter, const json::object& fields) {
    if (!letter.is_string() || letter.get_string().empty()) return std::nullopt;
    CgminerStatus s;
    s.code = letter.get_string().front();
    s.number = status_number(fields.if_contains("Code"));
    s.msg = string_or_empty(fields.if_contains("Msg"));
    s.description = string_or_empty(fields.if_contains("Description"));
    return s;
}

}  // namespace

std::string repair_cgminer_json(std::string_view raw) {
    if (const auto nul = raw.find('\0'); nul != std::string_view::npos) raw = raw.substr(0, nul);

    std::string out;
    out.reserve(raw.size() + raw.size() / 32 + 8);

    bool in_string = false;
    // The last character written outside a string that is not whitespace (a closing quote
    // counts), and its position in `out`: the repairs depend only on this one token of context.
    char last = '\0';
    std::size_t last_pos = 0;
    const auto emit = [&](char c) {
        last_pos = out.size();
        out.push_back(c);
        last = c;
    };

    const std::size_t n = raw.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = raw[i];
        if (in_string) {
            if (c == '"') {
                in_string = false;
                emit(c);
                ++i;
            } else if (c == '\\') {
                if (i + 1 < n && raw[i + 1] == '\'') {
                    out.push_back('\'');
                } else {
                    out.push_back('\\');
                    if (i + 1 < n) out.push_back(raw[i + 1]);
                }
                i += 2;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                append_control_escape(out, static_cast<unsigned char>(c));
                ++i;
            } else {
                out.push_back(c);
                ++i;
            }
            continue;
        }

        if (is_space(c)) {
            out.push_back(c);
            ++i;
            continue;
        }
        switch (c) {
            case '"':
                if (last == '"') out.push_back(',');  // btminer: "value""next_key"
                in_string = true;
                out.push_back(c);
                ++i;
                continue;
            case '{':
                if (last == '}') out.push_back(',');  // bmminer stats: {...}{"STATS":0,...}
                emit(c);
                ++i;
                continue;
            case ',':
                if (last != '[') emit(c);  // a leading comma in an array is dropped
                ++i;
                continue;
            case '}':
            case ']':
                if (last == ',') out.erase(last_pos, 1);  // only whitespace follows it
                emit(c);
                ++i;
                continue;
            default:
                break;
        }

        const bool signed_word = (c == '-' || c == '+') && i + 1 < n && is_alpha(raw[i + 1]);
        if (is_alpha(c) || signed_word) {
            std::size_t end = i + (signed_word ? 1 : 0);
            while (end < n && is_word_char(raw[end])) ++end;
            const std::string_view word = raw.substr(i, end - i);
            const std::string_view bare = signed_word ? word.substr(1) : word;
            if (is_non_finite_word(bare)) {
                out += "nul";
                emit('l');
            } else {  // true, false, null, or garbage the parser will report
                out.append(word.substr(0, word.size() - 1));
                emit(word.back());
            }
            i = end;
            continue;
        }
        if (is_digit(c) || c == '-' || c == '+' || c == '.') {
            // A number, copied whole so that the `e` of an exponent is not taken for a word.
            std::size_t end = i + 1;
            while (end < n && (is_word_char(raw[end]) || raw[end] == '.' || raw[end] == '+' ||
                               raw[end] == '-'))
                ++end;
            out.append(raw.substr(i, end - i - 1));
            emit(raw[end - 1]);
            i = end;
            continue;
        }
        emit(c);
        ++i;
    }
    return out;
}

json::value parse_cgminer_json(std::string_view raw) {
    const std::string text = repair_cgminer_json(raw);

    json::parse_options options;
    options.allow_invalid_utf8 = true;
    json::stream_parser parser(json::storage_ptr(), options);
    json::error_code ec;
    const std::size_t used = parser.write_some(text.data(), text.size(), ec);
    if (ec) {
        throw CgminerJsonError(
            "cgminer reply: " + ec.message() + " at byte " + std::to_string(used), used);
    }
    if (!parser.done()) {
        // A bare number at the very end needs finish() to be known complete; anything else
        // unfinished here is a truncated reply.
        parser.finish(ec);
        if (ec) {
            const bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
            throw CgminerJsonError(blank ? std::string("cgminer reply: no JSON value")
                                         : "cgminer reply: " + ec.message() + " at byte " +
                                               std::to_string(text.size()),
                                   text.size());
        }
    }
    return parser.release();
}

const json::object* multi_section(const json::value& reply, std::string_view command) {
    const json::object* top = reply.if_object();
    if (!top) return nullptr;
    const json::value* section = top->if_contains(command);
    if (!section) return nullptr;
    if (const json::array* wrapped = section->if_array()) {
        return wrapped->empty() ? nullptr : wrapped->front().if_object();
    }
    return section->if_object();
}

std::optional<CgminerStatus> cgminer_status(const json::object& reply) {
    const json::value* status = reply.if_contains("STATUS");
    if (!status) return std::nullopt;
    if (const json::array* list = status->if_array()) {
        if (list->empty()) return std::nullopt;
        const json::object* entry = list->front().if_object();
        const json::value* letter = entry ? entry->if_contains("STATUS") : nullptr;
        return letter ? read_status(*letter, *entry) : std::nullopt;
    }
    return read_status(*status, reply);  // Whatsminer's flat envelope
}

std::optional<CgminerStatus> cgminer_status(const json::value& reply) {
    const json::object* obj = reply.if_object();
    return obj ? cgminer_status(*obj) : std::nullopt;
}

}  // namespace hashwatt::agent
