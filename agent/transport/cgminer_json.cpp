#include "agent/transport/cgminer_json.hpp"

#include <charconv>
#include <limits>
#include <optional>

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

// cgminer ends each reply with a NUL; anything after the first one is not part of the reply.
std::string_view before_nul(std::string_view raw) noexcept { return raw.substr(0, raw.find('\0')); }

// Bytes that a string literal passes through unchanged.
bool is_plain_string_char(char c) noexcept {
    return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20;
}

// The repaired text, built lazily: unchanged input is only remembered as a run of the input and
// copied, in one piece, when a change follows it. Text that needs no repair thus costs one scan
// and no allocation, and text that does costs one copy per repair rather than one per byte.
class RepairedText {
  public:
    explicit RepairedText(std::string_view raw) noexcept : raw_(raw) {}

    std::size_t size() const noexcept { return out_.size() + (run_end_ - run_begin_); }
    bool changed() const noexcept { return changed_; }

    // raw[pos, pos + n) goes out as it is.
    void keep(std::size_t pos, std::size_t n) {
        if (pos != run_end_) {  // input was dropped or replaced in between
            flush();
            run_begin_ = pos;
        }
        run_end_ = pos + n;
    }
    // Text that the input does not have at this point.
    void insert(std::string_view s) {
        flush();
        out_.append(s);
        changed_ = true;
    }
    // The input byte at the current position does not go out (the next keep skips it).
    void drop() noexcept { changed_ = true; }
    void erase(std::size_t pos) {
        flush();
        out_.erase(pos, 1);
        changed_ = true;
    }
    // After the last byte.
    void finish() {
        if (changed_) flush();
    }

    std::string_view view() const noexcept {
        return changed_ ? std::string_view(out_) : raw_.substr(0, run_end_);
    }
    std::string take() && { return changed_ ? std::move(out_) : std::string(view()); }

  private:
    void flush() {
        if (out_.empty()) out_.reserve(raw_.size() + raw_.size() / 32 + 8);
        out_.append(raw_.data() + run_begin_, run_end_ - run_begin_);
        run_begin_ = run_end_;
    }

    std::string_view raw_;
    std::string out_;
    // Input kept since the last change, not yet in out_.
    std::size_t run_begin_ = 0;
    std::size_t run_end_ = 0;
    bool changed_ = false;
};

std::string control_escape(unsigned char c) {
    switch (c) {
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
        default: {
            static constexpr char kHex[] = "0123456789abcdef";
            return {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0f]};
        }
    }
}

struct StringEnd {
    std::size_t after;  // where the text after the string starts; beyond `raw` if not closed
    bool closed;
};

// The string literal whose opening quote is raw[open]. Backslash escapes are honoured, so `\"`
// does not end it.
StringEnd repair_string(std::string_view raw, std::size_t open, RepairedText& out) {
    const std::size_t n = raw.size();
    out.keep(open, 1);
    std::size_t i = open + 1;
    for (;;) {
        // Strings are most of a reply; passing them on in runs keeps the scan cheap.
        const std::size_t start = i;
        while (i < n && is_plain_string_char(raw[i])) ++i;
        if (i > start) out.keep(start, i - start);
        if (i >= n) return {i, false};
        const char c = raw[i];
        if (c == '"') {
            out.keep(i, 1);
            return {i + 1, true};
        }
        if (c == '\\') {
            if (i + 1 < n && raw[i + 1] == '\'') {
                out.insert("'");  // btminer's \', which JSON does not have
            } else {
                out.keep(i, i + 1 < n ? 2 : 1);
            }
            i += 2;
        } else {  // a raw control character, which JSON strings may not hold
            out.insert(control_escape(static_cast<unsigned char>(c)));
            ++i;
        }
    }
}

// `raw` has already been cut at its first NUL.
RepairedText repair(std::string_view raw) {
    RepairedText out(raw);

    // The last character written outside a string that is not whitespace (a closing quote
    // counts), and its position in the output: the repairs depend only on this one token of
    // context.
    char last = '\0';
    std::size_t last_pos = 0;
    const auto keep_token = [&](std::size_t pos, std::size_t n) {
        out.keep(pos, n);
        last_pos = out.size() - 1;
        last = raw[pos + n - 1];
    };

    const std::size_t n = raw.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = raw[i];
        if (is_space(c)) {
            out.keep(i, 1);
            ++i;
            continue;
        }
        switch (c) {
            case '"': {
                if (last == '"') out.insert(",");  // btminer: "value""next_key"
                const auto [after, closed] = repair_string(raw, i, out);
                if (closed) {
                    last = '"';
                    last_pos = out.size() - 1;
                }
                i = after;
                continue;
            }
            case '{':
                if (last == '}') out.insert(",");  // bmminer stats: {...}{"STATS":0,...}
                keep_token(i, 1);
                ++i;
                continue;
            case ',':
                if (last == '[') {
                    out.drop();  // a leading comma in an array
                } else {
                    keep_token(i, 1);
                }
                ++i;
                continue;
            case '}':
            case ']':
                if (last == ',') out.erase(last_pos);  // only whitespace follows it
                keep_token(i, 1);
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
            if (is_non_finite_word(signed_word ? word.substr(1) : word)) {
                out.insert("null");
                last_pos = out.size() - 1;
                last = 'l';
            } else {  // true, false, null, or garbage the parser will report
                keep_token(i, end - i);
            }
            i = end;
            continue;
        }
        if (is_digit(c) || c == '-' || c == '+' || c == '.') {
            // A number, taken whole so that the `e` of an exponent is not taken for a word.
            std::size_t end = i + 1;
            while (end < n && (is_word_char(raw[end]) || raw[end] == '.' || raw[end] == '+' ||
                               raw[end] == '-'))
                ++end;
            keep_token(i, end - i);
            i = end;
            continue;
        }
        keep_token(i, 1);
        ++i;
    }
    out.finish();
    return out;
}

// The first block of a reply's arena. The captures' parsed values take 1.1 to 5 times the
// length of their text (small replies the most, relatively); this covers them all in one block.
std::size_t arena_size(std::size_t text_size) noexcept { return 3 * text_size + 1024; }

// Why a text holds no JSON value, as CgminerJsonError reports it.
struct ParseFailure {
    json::error_code ec;
    std::size_t offset = 0;
};

// The first JSON value of `text`; nullopt with `failure` filled in when there is none. The error
// message is only built when it is thrown, as a failed first attempt is routine for firmware
// that always needs a repair.
std::optional<json::value> parse_first_value(std::string_view text, ParseFailure& failure) {
    json::parse_options options;
    options.allow_invalid_utf8 = true;
    // The parser's stack of unfinished values; the captures need at most 6 KiB of it, and a
    // larger reply spills over to the heap.
    unsigned char stack_buffer[8192];
    json::stream_parser parser(json::storage_ptr(), options, stack_buffer);
    // One arena per reply instead of an allocation per object, array and long string; shared
    // ownership ties its lifetime to the value and its copies.
    parser.reset(json::make_shared_resource<json::monotonic_resource>(arena_size(text.size())));
    const std::size_t used = parser.write_some(text.data(), text.size(), failure.ec);
    if (failure.ec) {
        failure.offset = used;
        return std::nullopt;
    }
    if (!parser.done()) {
        // A bare number at the very end needs finish() to be known complete; anything else
        // unfinished here is a truncated reply.
        parser.finish(failure.ec);
        if (failure.ec) {
            failure.offset = text.size();
            return std::nullopt;
        }
    }
    return parser.release();
}

[[noreturn]] void throw_failure(std::string_view text, const ParseFailure& failure) {
    // Only finish() can fail on whitespace alone, so the offset is then the end of the text.
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        throw CgminerJsonError("cgminer reply: no JSON value", failure.offset);
    }
    throw CgminerJsonError(
        "cgminer reply: " + failure.ec.message() + " at byte " + std::to_string(failure.offset),
        failure.offset);
}

}  // namespace

std::string repair_cgminer_json(std::string_view raw) { return repair(before_nul(raw)).take(); }

json::value parse_cgminer_json(std::string_view raw) {
    const std::string_view text = before_nul(raw);
    ParseFailure failure;
    // Every repair fixes something strict JSON rejects, so where the first value parses as it
    // is, the repaired text has the same first value: only a failed parse needs the repair and
    // its copy, and most replies skip both.
    if (auto value = parse_first_value(text, failure)) return std::move(*value);
    const RepairedText repaired = repair(text);
    if (!repaired.changed()) throw_failure(text, failure);
    const std::string_view fixed = repaired.view();
    if (auto value = parse_first_value(fixed, failure)) return std::move(*value);
    throw_failure(fixed, failure);
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
