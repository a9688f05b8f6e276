#include "policies/prices/timezone.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace hashwatt::policies::prices {

namespace {

using std::chrono::days;
using std::chrono::seconds;
using std::chrono::sys_days;

// The date part of a POSIX TZ transition rule: "Mm.w.d", "Jn" (1..365, Feb 29 never counted)
// or "n" (0..365, Feb 29 counted).
struct DateRule {
    char kind = 'M';
    int month = 0, week = 0, weekday = 0;  // M
    int day = 0;                           // J, n
};

struct PosixRule {
    std::int64_t std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    std::int64_t dst_offset = 0;
    DateRule start, end;
    std::int64_t start_time = 7200, end_time = 7200;  // local seconds after midnight, may be < 0
};

class RuleParser {
  public:
    explicit RuleParser(std::string_view s) : s_(s) {}

    PosixRule parse() {
        PosixRule r;
        name();
        r.std_offset = -offset();
        if (done()) return r;
        r.has_dst = true;
        name();
        r.dst_offset = r.std_offset + 3600;
        if (!done() && peek() != ',') r.dst_offset = -offset();
        if (done()) {
            // POSIX leaves a missing rule to the implementation; the US rule is the usual choice.
            r.start = {'M', 3, 2, 0, 0};
            r.end = {'M', 11, 1, 0, 0};
            return r;
        }
        expect(',');
        r.start = date();
        if (!done() && peek() == '/') ++i_, r.start_time = offset();
        expect(',');
        r.end = date();
        if (!done() && peek() == '/') ++i_, r.end_time = offset();
        if (!done()) fail("unexpected text");
        return r;
    }

  private:
    bool done() const { return i_ >= s_.size(); }
    char peek() const { return s_[i_]; }
    [[noreturn]] void fail(const std::string& what) const {
        throw std::invalid_argument("TZ rule '" + std::string(s_) + "': " + what + " at column " +
                                    std::to_string(i_ + 1));
    }
    void expect(char c) {
        if (done() || peek() != c) fail(std::string("expected '") + c + "'");
        ++i_;
    }
    void name() {
        if (!done() && peek() == '<') {
            auto close = s_.find('>', i_);
            if (close == std::string_view::npos) fail("unclosed '<'");
            i_ = close + 1;
            return;
        }
        std::size_t start = i_;
        while (!done() && std::isalpha(static_cast<unsigned char>(peek()))) ++i_;
        if (i_ - start < 3) fail("expected a zone abbreviation");
    }
    int number(int max) {
        if (done() || !std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a number");
        int v = 0;
        while (!done() && std::isdigit(static_cast<unsigned char>(peek()))) {
            v = v * 10 + (peek() - '0');
            if (v > max) fail("number out of range");
            ++i_;
        }
        return v;
    }
    // [+-]hh[:mm[:ss]] in seconds, sign as written (POSIX offsets are positive west of UTC).
    std::int64_t offset() {
        int sign = 1;
        if (!done() && (peek() == '+' || peek() == '-')) sign = peek() == '-' ? -1 : 1, ++i_;
        std::int64_t v = std::int64_t{number(167)} * 3600;
        if (!done() && peek() == ':') ++i_, v += number(59) * 60;
        if (!done() && peek() == ':') ++i_, v += number(59);
        return sign * v;
    }
    DateRule date() {
        DateRule d;
        if (!done() && peek() == 'M') {
            ++i_;
            d.kind = 'M';
            d.month = number(12);
            expect('.');
            d.week = number(5);
            expect('.');
            d.weekday = number(6);
            if (d.month < 1 || d.week < 1) fail("month and week start at 1");
        } else if (!done() && peek() == 'J') {
            ++i_;
            d.kind = 'J';
            d.day = number(365);
            if (d.day < 1) fail("Julian day starts at 1");
        } else {
            d.kind = 'n';
            d.day = number(365);
        }
        return d;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

// Local midnight of the rule's date in `year`, as days since the epoch.
std::int64_t rule_day(const DateRule& d, int year) {
    using namespace std::chrono;
    const std::chrono::year y{year};
    if (d.kind == 'J') {
        std::int64_t n = d.day - 1;
        if (y.is_leap() && d.day >= 60) ++n;
        return (sys_days{y / January / 1} + days{n}).time_since_epoch().count();
    }
    if (d.kind == 'n') return (sys_days{y / January / 1} + days{d.day}).time_since_epoch().count();
    const sys_days first{y / month(static_cast<unsigned>(d.month)) / 1};
    const unsigned first_wd = weekday{first}.c_encoding();
    int dom = 1 + static_cast<int>((static_cast<unsigned>(d.weekday) + 7 - first_wd) % 7) +
              (d.week - 1) * 7;
    const int month_days = static_cast<int>(
        unsigned{(y / month(static_cast<unsigned>(d.month)) / std::chrono::last).day()});
    while (dom > month_days) dom -= 7;  // week 5 means the last such weekday
    return (first + days{dom - 1}).time_since_epoch().count();
}

std::int64_t rule_offset(const PosixRule& r, std::int64_t t) {
    if (!r.has_dst) return r.std_offset;
    const auto local_day =
        sys_days{days{(t + r.std_offset) >= 0 ? (t + r.std_offset) / 86400
                                              : -((-(t + r.std_offset) + 86399) / 86400)}};
    const int year = static_cast<int>(std::chrono::year_month_day{local_day}.year());
    const std::int64_t start = rule_day(r.start, year) * 86400 + r.start_time - r.std_offset;
    const std::int64_t end = rule_day(r.end, year) * 86400 + r.end_time - r.dst_offset;
    const bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r.dst_offset : r.std_offset;
}

}  // namespace

struct ZoneData {
    std::string name;
    std::vector<std::int64_t> transitions;  // UTC seconds, ascending
    std::vector<std::uint8_t> type_of;      // per transition
    std::vector<std::int64_t> type_offset;  // per local time type, seconds east
    std::optional<PosixRule> footer;

    std::int64_t offset_at(std::int64_t t) const {
        if (transitions.empty() || t < transitions.front()) {
            if (transitions.empty() && footer) return rule_offset(*footer, t);
            return type_offset.empty() ? 0 : type_offset.front();
        }
        auto it = std::upper_bound(transitions.begin(), transitions.end(), t);
        const auto i = static_cast<std::size_t>(it - transitions.begin()) - 1;
        if (i + 1 == transitions.size() && footer) return rule_offset(*footer, t);
        return type_offset[type_of[i]];
    }
};

namespace {

class Reader {
  public:
    Reader(std::string_view b, const std::string& name) : b_(b), name_(name) {}
    std::size_t pos() const { return p_; }
    void need(std::size_t n) const {
        if (b_.size() - p_ < n) throw std::invalid_argument(name_ + ": truncated TZif data");
    }
    std::uint64_t be(int bytes) {
        need(static_cast<std::size_t>(bytes));
        std::uint64_t v = 0;
        for (int k = 0; k < bytes; ++k) v = (v << 8) | static_cast<unsigned char>(b_[p_++]);
        return v;
    }
    void skip(std::size_t n) {
        need(n);
        p_ += n;
    }
    std::string_view rest() const { return b_.substr(p_); }

  private:
    std::string_view b_;
    const std::string& name_;
    std::size_t p_ = 0;
};

struct Counts {
    std::uint64_t isut, isstd, leap, time, type, chars;
};

Counts header(Reader& r, const std::string& name, char* version) {
    r.need(44);
    if (r.be(4) != 0x545a6966) throw std::invalid_argument(name + ": not a TZif file");
    *version = static_cast<char>(r.be(1));
    r.skip(15);
    Counts c{r.be(4), r.be(4), r.be(4), r.be(4), r.be(4), r.be(4)};
    if (c.type == 0 || c.type > 255 || c.time > 100000 || c.chars > 100000 || c.leap > 100000) {
        throw std::invalid_argument(name + ": implausible TZif header");
    }
    return c;
}

}  // namespace

TimeZone TimeZone::from_tzif(std::string_view bytes, std::string name) {
    auto d = std::make_shared<ZoneData>();
    d->name = std::move(name);
    Reader r(bytes, d->name);
    char version = 0;
    Counts c = header(r, d->name, &version);
    int time_size = 4;
    if (version >= '2') {
        // Skip the 32-bit block; the 64-bit one after the second header covers every year.
        r.skip(c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut);
        c = header(r, d->name, &version);
        time_size = 8;
    }
    for (std::uint64_t k = 0; k < c.time; ++k) {
        auto v = r.be(time_size);
        d->transitions.push_back(time_size == 8 ? static_cast<std::int64_t>(v)
                                                : static_cast<std::int32_t>(v));
    }
    for (std::uint64_t k = 0; k < c.time; ++k) {
        auto idx = static_cast<std::uint8_t>(r.be(1));
        if (idx >= c.type) throw std::invalid_argument(d->name + ": transition type out of range");
        d->type_of.push_back(idx);
    }
    for (std::uint64_t k = 0; k < c.type; ++k) {
        d->type_offset.push_back(static_cast<std::int32_t>(r.be(4)));
        r.skip(2);  // isdst, abbreviation index
    }
    if (!std::is_sorted(d->transitions.begin(), d->transitions.end())) {
        throw std::invalid_argument(d->name + ": transitions out of order");
    }
    r.skip(c.chars + c.leap * static_cast<std::uint64_t>(time_size + 4) + c.isstd + c.isut);
    if (time_size == 8) {
        auto rest = r.rest();
        if (rest.size() < 2 || rest[0] != '\n') {
            throw std::invalid_argument(d->name + ": missing TZ footer");
        }
        auto nl = rest.find('\n', 1);
        if (nl == std::string_view::npos) throw std::invalid_argument(d->name + ": bad TZ footer");
        auto rule = rest.substr(1, nl - 1);
        if (!rule.empty()) d->footer = RuleParser(rule).parse();
    }
    return TimeZone(std::move(d));
}

TimeZone TimeZone::from_posix_rule(std::string_view rule, std::string name) {
    auto d = std::make_shared<ZoneData>();
    d->name = std::move(name);
    d->footer = RuleParser(rule).parse();
    return TimeZone(std::move(d));
}

TimeZone TimeZone::utc() {
    static const TimeZone z = from_posix_rule("UTC0", "UTC");
    return z;
}

TimeZone TimeZone::load(std::string_view name) {
    const char* env = std::getenv("TZDIR");
    const std::string dir = env && *env ? env : "/usr/share/zoneinfo";
    const std::string quoted = "'" + std::string(name) + "'";
    // Names are paths below the database folder; anything that could climb out is refused.
    bool ok = !name.empty() && name.front() != '/' && name.find("..") == std::string_view::npos;
    for (char c : name) {
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' ||
                    c == '-' || c == '+');
    }
    if (!ok) throw std::invalid_argument("unknown time zone " + quoted + " (not an IANA name)");
    std::ifstream in(dir + "/" + std::string(name), std::ios::binary);
    if (!in) {
        throw std::invalid_argument("unknown time zone " + quoted + " (no such file in " + dir +
                                    "; is tzdata installed?)");
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    try {
        return from_tzif(buf.str(), std::string(name));
    } catch (const std::invalid_argument& e) {
        // A folder ("America") or a data file ("leapseconds") in the database is not a zone.
        throw std::invalid_argument("unknown time zone " + quoted + " (" + e.what() + ")");
    }
}

const std::string& TimeZone::name() const noexcept { return d_->name; }

seconds TimeZone::utc_offset(TimePoint t) const {
    return seconds{d_->offset_at(std::chrono::floor<seconds>(t).time_since_epoch().count())};
}

LocalTime TimeZone::to_local(TimePoint t) const {
    return LocalTime{t.time_since_epoch() + utc_offset(t)};
}

std::vector<TimePoint> TimeZone::from_local(LocalTime l) const {
    const auto ms = l.time_since_epoch();
    const std::int64_t s = std::chrono::floor<seconds>(ms).count();
    // Offsets change at most a few times a year, so the offsets in force a day either side
    // are every offset that could map to this reading.
    std::vector<TimePoint> out;
    for (std::int64_t probe : {s - 86400, s, s + 86400}) {
        const std::int64_t off = d_->offset_at(probe);
        if (d_->offset_at(s - off) != off) continue;
        const TimePoint u{ms - seconds{off}};
        if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace hashwatt::policies::prices
