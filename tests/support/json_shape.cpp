#include "tests/support/json_shape.hpp"

#include <string_view>

#include <boost/json.hpp>

namespace hashwatt::test {

namespace json = boost::json;

namespace {

std::string_view kind_name(const json::value& v, bool number_kinds_strict) {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "bool";
        case json::kind::int64:
        case json::kind::uint64:
            return number_kinds_strict ? "integer" : "number";
        case json::kind::double_:
            return number_kinds_strict ? "double" : "number";
        case json::kind::string:
            return "string";
        case json::kind::array:
            return "array";
        case json::kind::object:
            return "object";
    }
    return "unknown";
}

bool is_identifier(std::string_view key) {
    if (key.empty()) return false;
    for (const char c : key) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::string key_path(const std::string& parent, std::string_view key) {
    if (is_identifier(key)) {
        return parent.empty() ? std::string(key) : parent + "." + std::string(key);
    }
    return parent + "[" + json::serialize(json::string_view(key.data(), key.size())) + "]";
}

std::string index_path(const std::string& parent, std::size_t i) {
    return parent + "[" + std::to_string(i) + "]";
}

class Comparer {
  public:
    explicit Comparer(const ShapeOptions& options) : options_(options) {}

    void compare(const json::value& ref, const json::value& cand, const std::string& path) {
        if (ref.is_null()) return;
        const std::string_view ref_kind = kind_name(ref, options_.number_kinds_strict);
        const std::string_view cand_kind = kind_name(cand, options_.number_kinds_strict);
        if (ref_kind != cand_kind) {
            add(path, "type " + std::string(ref_kind) + " in reference, " + std::string(cand_kind) +
                          " in candidate");
            return;
        }
        if (ref.is_object()) {
            compare_objects(ref.get_object(), cand.get_object(), path);
        } else if (ref.is_array()) {
            compare_arrays(ref.get_array(), cand.get_array(), path);
        }
    }

    std::vector<std::string> take() { return std::move(out_); }

  private:
    void compare_objects(const json::object& ref, const json::object& cand,
                         const std::string& path) {
        for (const auto& member : ref) {
            const std::string child = key_path(path, member.key());
            if (const json::value* c = cand.if_contains(member.key())) {
                compare(member.value(), *c, child);
            } else {
                add(child, "missing in candidate");
            }
        }
        for (const auto& member : cand) {
            if (!ref.contains(member.key())) add(key_path(path, member.key()), "not in reference");
        }
    }

    void compare_arrays(const json::array& ref, const json::array& cand, const std::string& path) {
        if (ref.empty() || cand.empty()) return;
        for (std::size_t i = 0; i < cand.size(); ++i) {
            const json::value& r = i < ref.size() ? ref[i] : ref.back();
            compare(r, cand[i], index_path(path, i));
        }
    }

    void add(const std::string& path, const std::string& what) {
        out_.push_back((path.empty() ? std::string("(root)") : path) + ": " + what);
    }

    const ShapeOptions& options_;
    std::vector<std::string> out_;
};

void append_shape(std::string& out, const json::value& v) {
    switch (v.kind()) {
        case json::kind::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& member : v.get_object()) {
                if (!first) out.push_back(',');
                first = false;
                out += json::serialize(member.key());
                out.push_back(':');
                append_shape(out, member.value());
            }
            out.push_back('}');
            return;
        }
        case json::kind::array: {
            out.push_back('[');
            const json::array& a = v.get_array();
            std::string previous;
            std::size_t run = 0;
            bool first = true;
            const auto flush = [&] {
                if (run == 0) return;
                if (!first) out.push_back(',');
                first = false;
                out += previous;
                if (run > 1) out += " x" + std::to_string(run);
            };
            for (const json::value& element : a) {
                std::string shape;
                append_shape(shape, element);
                if (run > 0 && shape == previous) {
                    ++run;
                    continue;
                }
                flush();
                previous = std::move(shape);
                run = 1;
            }
            flush();
            out.push_back(']');
            return;
        }
        default:
            out += kind_name(v, true);
    }
}

}  // namespace

std::vector<std::string> shape_differences(const json::value& reference,
                                           const json::value& candidate,
                                           const ShapeOptions& options) {
    Comparer comparer(options);
    comparer.compare(reference, candidate, {});
    return comparer.take();
}

std::string shape_of(const json::value& v) {
    std::string out;
    append_shape(out, v);
    return out;
}

}  // namespace hashwatt::test
