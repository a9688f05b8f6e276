#include "policies/prices/feed.hpp"

#include "common/units.hpp"
#include "policies/prices/csv_text.hpp"

#include <cctype>
#include <stdexcept>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::policies::prices {

namespace {

struct Step {
    bool is_index = false;
    std::string key;
    std::size_t index = 0;
};

std::vector<Step> parse_path(std::string_view path) {
    auto fail = [&](std::size_t at, const std::string& what) {
        throw std::invalid_argument("json path '" + std::string(path) + "': " + what +
                                    " at column " + std::to_string(at + 1));
    };
    if (path.empty()) throw std::invalid_argument("json path is empty");
    std::vector<Step> steps;
    std::size_t i = 0;
    bool need_key = path.front() != '[';
    while (i < path.size()) {
        if (path[i] == '[') {
            std::size_t j = i + 1;
            std::size_t v = 0;
            while (j < path.size() && std::isdigit(static_cast<unsigned char>(path[j]))) {
                v = v * 10 + static_cast<std::size_t>(path[j] - '0');
                if (v > 100'000'000) fail(i, "index too large");
                ++j;
            }
            if (j == i + 1 || j >= path.size() || path[j] != ']') {
                fail(i + 1, "expected a number in []");
            }
            steps.push_back({true, "", v});
            i = j + 1;
            need_key = false;
            if (i < path.size() && path[i] == '.') ++i, need_key = true;
            if (need_key && i >= path.size()) fail(i, "expected a key after '.'");
            continue;
        }
        if (!need_key) fail(i, "expected '.' or '['");
        std::size_t j = i;
        while (j < path.size() && path[j] != '.' && path[j] != '[' && path[j] != ']') ++j;
        if (j == i) fail(i, "expected a key");
        steps.push_back({false, std::string(path.substr(i, j - i)), 0});
        i = j;
        need_key = false;
        if (i < path.size() && path[i] == '.') {
            ++i, need_key = true;
            if (i >= path.size()) fail(i, "expected a key after '.'");
        } else if (i < path.size() && path[i] == ']') {
            fail(i, "unexpected ']'");
        }
    }
    return steps;
}

std::string kind_of(const boost::json::value& v) {
    switch (v.kind()) {
        case boost::json::kind::object:
            return "an object";
        case boost::json::kind::array:
            return "an array";
        case boost::json::kind::string:
            return "a string";
        case boost::json::kind::bool_:
            return "a boolean";
        case boost::json::kind::null:
            return "null";
        default:
            return "a number";
    }
}

std::string utc_clock(TimePoint t, TimePoint now) {
    auto day = std::chrono::floor<std::chrono::days>(t);
    const auto mins = std::chrono::duration_cast<std::chrono::minutes>(t - day).count();
    auto two = [](long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
    std::string hm = two(mins / 60) + ":" + two(mins % 60);
    if (day == std::chrono::floor<std::chrono::days>(now)) return hm;
    const std::chrono::year_month_day ymd{day};
    return std::to_string(static_cast<int>(ymd.year())) + "-" +
           two(static_cast<long>(unsigned{ymd.month()})) + "-" +
           two(static_cast<long>(unsigned{ymd.day()})) + "T" + hm + "Z";
}

}  // namespace

void validate_json_path(std::string_view path) { parse_path(path); }

double parse_feed_price(std::string_view body, std::string_view path, PriceUnit unit) {
    const auto steps = parse_path(path);
    if (body.size() > kMaxFeedBodyBytes) {
        throw std::invalid_argument("feed body: " + std::to_string(body.size()) +
                                    " bytes, over the limit of " +
                                    std::to_string(kMaxFeedBodyBytes));
    }
    boost::json::error_code ec;
    boost::json::parser p;
    const auto used = p.write(body.data(), body.size(), ec);
    if (ec) {
        throw std::invalid_argument("feed body: invalid JSON at byte " + std::to_string(used) +
                                    ": " + ec.message());
    }
    const boost::json::value root = p.release();
    const boost::json::value* v = &root;
    std::string where;
    for (const auto& s : steps) {
        const std::string here = s.is_index ? where + "[" + std::to_string(s.index) + "]"
                                            : (where.empty() ? s.key : where + "." + s.key);
        const std::string parent = where.empty() ? "feed body" : where;
        if (s.is_index) {
            if (!v->is_array()) {
                throw std::invalid_argument(parent + ": expected an array, got " + kind_of(*v));
            }
            const auto& a = v->get_array();
            if (s.index >= a.size()) {
                throw std::invalid_argument(here + ": out of range (an array of " +
                                            std::to_string(a.size()) + ")");
            }
            v = &a[s.index];
        } else {
            if (!v->is_object()) {
                throw std::invalid_argument(parent + ": expected an object, got " + kind_of(*v));
            }
            const auto* next = v->get_object().if_contains(s.key);
            if (!next) throw std::invalid_argument(here + ": missing");
            v = next;
        }
        where = here;
    }
    double price = 0;
    if (v->is_double()) {
        price = v->get_double();
    } else if (v->is_int64()) {
        price = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
        price = static_cast<double>(v->get_uint64());
    } else if (v->is_string()) {
        auto n = detail::parse_number(std::string_view(v->get_string()));
        if (!n) throw std::invalid_argument(where + ": not a number (a string)");
        price = *n;
    } else {
        throw std::invalid_argument(where + ": not a number (" + kind_of(*v) + ")");
    }
    return to_per_mwh(price, unit);
}

double feed_price(const PriceSourceConfig& cfg, std::string_view body) {
    const auto* h = std::get_if<HttpSource>(&cfg.source);
    if (!h) {
        throw std::invalid_argument("feed_price: a " + std::string(to_string(cfg.kind)) +
                                    " source is not a feed");
    }
    return parse_feed_price(body, h->json_path, h->unit) + cfg.adder_per_mwh;
}

FeedState::FeedState(Duration stale_after) : stale_after_(stale_after) {
    if (stale_after <= Duration::zero()) {
        throw std::invalid_argument("FeedState: stale_after must be positive");
    }
}

void FeedState::update(double price_per_mwh, TimePoint received_at) {
    if (received_at_ && received_at < *received_at_) return;
    price_ = price_per_mwh;
    received_at_ = received_at;
}

void FeedState::failed(std::string error, TimePoint at) {
    if (last_error_at_ && at < *last_error_at_) return;
    last_error_ = std::move(error);
    last_error_at_ = at;
}

FeedReading FeedState::current(TimePoint now) const {
    FeedReading r;
    r.last_price_per_mwh = price_;
    r.received_at = received_at_;
    if (received_at_ && now - *received_at_ <= stale_after_) {
        r.price_per_mwh = price_;
        r.stale = false;
        return r;
    }
    r.reason = received_at_ ? "no price since " + utc_clock(*received_at_, now) + " (stale after " +
                                  format_duration(stale_after_) + ")"
                            : "no price received yet";
    // Only an error newer than the last good price explains the silence.
    if (last_error_ && (!received_at_ || *last_error_at_ >= *received_at_)) {
        r.reason += "; last error at " + utc_clock(*last_error_at_, now) + ": " + *last_error_;
    }
    return r;
}

}  // namespace hashwatt::policies::prices
