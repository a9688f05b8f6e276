#include "agent/transport/cgminer_json.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::agent;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures";

std::string read_path(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_fixture(std::string_view relative) { return read_path(kFixtures / relative); }

// Every captured reply of the families whose daemons speak the cgminer RPC, plus the HTTP bodies
// kept beside them (plain JSON, which must come through unharmed).
std::vector<fs::path> fixture_files() {
    std::vector<fs::path> files;
    for (const char* family : {"antminer", "avalon", "braiins", "luxos", "whatsminer", "vnish"}) {
        for (const auto& entry : fs::directory_iterator(kFixtures / family)) {
            const auto ext = entry.path().extension();
            if (entry.is_regular_file() && (ext == ".json" || ext == ".txt")) {
                files.push_back(entry.path());
            }
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::size_t error_offset(std::string_view raw) {
    try {
        parse_cgminer_json(raw);
    } catch (const CgminerJsonError& e) {
        return e.offset();
    }
    FAIL("no CgminerJsonError for: " << raw);
    return 0;
}

// What parse_cgminer_json gives for `raw`: the value, or the offset of its CgminerJsonError.
struct Outcome {
    std::optional<json::value> value;
    std::size_t offset = 0;
};

Outcome parse_outcome(std::string_view raw) {
    try {
        return {parse_cgminer_json(raw), 0};
    } catch (const CgminerJsonError& e) {
        return {std::nullopt, e.offset()};
    }
}

// The same, computed the way parse_cgminer_json did before it parsed clean text in place and
// used an arena: always on the repaired copy, with the default storage.
Outcome reference_outcome(std::string_view raw) {
    const std::string text = repair_cgminer_json(raw);
    json::parse_options options;
    options.allow_invalid_utf8 = true;
    json::stream_parser parser(json::storage_ptr(), options);
    json::error_code ec;
    const std::size_t used = parser.write_some(text.data(), text.size(), ec);
    if (ec) return {std::nullopt, used};
    if (!parser.done()) {
        parser.finish(ec);
        if (ec) return {std::nullopt, text.size()};
    }
    return {parser.release(), 0};
}

}  // namespace

// ---- repair_cgminer_json, one fault at a time ------------------------------------------------

TEST_CASE("repair: valid JSON passes through unchanged") {
    const std::string text = R"({"a":[1,-2.5e-3,1E+5,true,false,null],"b":{"c":"d\"e\\"},"e":[]})";
    CHECK(repair_cgminer_json(text) == text);
    CHECK(repair_cgminer_json("") == "");
    CHECK(repair_cgminer_json(" \n\t{ } \r\n") == " \n\t{ } \r\n");
}

TEST_CASE("repair: }{ between array elements gets its comma") {
    CHECK(repair_cgminer_json(R"([{"a":1}{"b":2}])") == R"([{"a":1},{"b":2}])");
    CHECK(repair_cgminer_json(R"([{"a":1}{"b":2}{"c":3}])") == R"([{"a":1},{"b":2},{"c":3}])");
    CHECK(repair_cgminer_json("[{}\n{}]") == "[{}\n,{}]");
}

TEST_CASE("repair: leading comma in an array is dropped") {
    CHECK(repair_cgminer_json(R"({"a":[,{"b":1}]})") == R"({"a":[{"b":1}]})");
    CHECK(repair_cgminer_json("[ ,1]") == "[ 1]");
    CHECK(repair_cgminer_json("[,]") == "[]");
}

TEST_CASE("repair: trailing commas before } and ] are dropped") {
    CHECK(repair_cgminer_json(R"({"a":1,})") == R"({"a":1})");
    CHECK(repair_cgminer_json("[1,2,]") == "[1,2]");
    CHECK(repair_cgminer_json("{\"a\":1,\n}") == "{\"a\":1\n}");
    CHECK(repair_cgminer_json(R"({"a":[1,],"b":{"c":2,},})") == R"({"a":[1],"b":{"c":2}})");
}

TEST_CASE("repair: bare non-finite numbers become null") {
    CHECK(repair_cgminer_json(R"({"MHS av":nan})") == R"({"MHS av":null})");
    CHECK(repair_cgminer_json(R"({"a":-nan})") == R"({"a":null})");
    CHECK(repair_cgminer_json(R"({"a":inf})") == R"({"a":null})");
    CHECK(repair_cgminer_json(R"({"a":-inf})") == R"({"a":null})");
    CHECK(repair_cgminer_json(R"({"a":NaN})") == R"({"a":null})");
    CHECK(repair_cgminer_json(R"({"a":Infinity})") == R"({"a":null})");
    CHECK(repair_cgminer_json(R"({"a":-Infinity})") == R"({"a":null})");
    CHECK(repair_cgminer_json(R"({"a":NAN,"b":+INF})") == R"({"a":null,"b":null})");
    CHECK(repair_cgminer_json("[nan,1,inf]") == "[null,1,null]");
    CHECK(repair_cgminer_json("nan") == "null");
}

TEST_CASE("repair: other bare words and numbers are left alone") {
    CHECK(repair_cgminer_json("[true,false,null]") == "[true,false,null]");
    CHECK(repair_cgminer_json("[nanometer,info,infinite]") == "[nanometer,info,infinite]");
    // The `e` of an exponent is part of the number, not the start of a word.
    CHECK(repair_cgminer_json("[1e5,-2.5E-3,0e0]") == "[1e5,-2.5E-3,0e0]");
}

TEST_CASE("repair: nothing inside a string is taken for a fault") {
    CHECK(repair_cgminer_json(R"({"k":"a}{b"})") == R"({"k":"a}{b"})");
    CHECK(repair_cgminer_json(R"({"k":"x nan"})") == R"({"k":"x nan"})");
    CHECK(repair_cgminer_json(R"({"k":"inf"})") == R"({"k":"inf"})");
    CHECK(repair_cgminer_json(R"({"k":"[,1,]"})") == R"({"k":"[,1,]"})");
    CHECK(repair_cgminer_json(R"({"k":"a,}"})") == R"({"k":"a,}"})");
    // An escaped quote does not end the string.
    CHECK(repair_cgminer_json(R"({"k":"a\"}{nan"})") == R"({"k":"a\"}{nan"})");
    // An escaped backslash does, so the repair applies after it.
    CHECK(repair_cgminer_json(R"({"k":"a\\"}{"l":1})") == R"({"k":"a\\"},{"l":1})");
}

TEST_CASE("repair: raw control characters inside strings are escaped") {
    CHECK(repair_cgminer_json("{\"Type\":\"Antminer S9\nV1.3.58\"}") ==
          R"({"Type":"Antminer S9\nV1.3.58"})");
    CHECK(repair_cgminer_json("[\"a\rb\tc\"]") == R"(["a\rb\tc"])");
    CHECK(repair_cgminer_json(std::string("[\"a\x01z\x1f\"]")) == R"(["a\u0001z\u001f"])");
    // The same characters between tokens are whitespace (or garbage) and stay as they are.
    CHECK(repair_cgminer_json("{\n\t\"a\":\r\n1}") == "{\n\t\"a\":\r\n1}");
}

TEST_CASE("repair: \\' inside a string becomes '") {
    CHECK(repair_cgminer_json(R"({"Firmware Version":"\'20200917.22.REL\'"})") ==
          R"({"Firmware Version":"'20200917.22.REL'"})");
    // `\\` then `'`: an escaped backslash followed by a plain quote, left alone.
    CHECK(repair_cgminer_json(R"(["a\\'"])") == R"(["a\\'"])");
}

TEST_CASE("repair: btminer's missing comma between a value and the next key") {
    CHECK(repair_cgminer_json(R"({"a":"x""temp0":1})") == R"({"a":"x","temp0":1})");
    CHECK(repair_cgminer_json(R"({"a":"""temp0":1})") == R"({"a":"","temp0":1})");
    // A key followed by its value is not two strings in a row.
    CHECK(repair_cgminer_json(R"({"a":"b"})") == R"({"a":"b"})");
}

TEST_CASE("repair: everything from the first NUL is dropped") {
    CHECK(repair_cgminer_json(std::string("{\"a\":1}\0", 8)) == R"({"a":1})");
    CHECK(repair_cgminer_json(std::string("{\"a\":1}\0junk\0", 13)) == R"({"a":1})");
    CHECK(repair_cgminer_json(std::string("\0{}", 3)) == "");
}

// ---- parse_cgminer_json ----------------------------------------------------------------------

TEST_CASE("parse: every captured reply parses") {
    const auto files = fixture_files();
    // Guards against a wrong fixture path silently testing nothing.
    CHECK(files.size() >= 71);
    for (const auto& path : files) {
        CAPTURE(path.string());
        const std::string text = read_path(path);
        json::value v;
        CHECK_NOTHROW(v = parse_cgminer_json(text));
        // RPC replies are objects; two REST bodies (BOS pools, Vnish presets) are arrays.
        const std::string name = path.filename().string();
        const bool http = name.find("_rest_") != std::string::npos ||
                          name.find("_web_") != std::string::npos ||
                          path.parent_path().filename() == "vnish";
        if (http) {
            CHECK((v.is_object() || v.is_array()));
        } else {
            CHECK(v.is_object());
        }
        // Valid JSON must come out of the repair byte for byte.
        if (path.extension() == ".json") CHECK(repair_cgminer_json(text) == text);
        // cgminer's trailing NUL changes nothing.
        CHECK(parse_cgminer_json(text + std::string(1, '\0')) == v);
    }
}

TEST_CASE("parse: Hiveon S9 stats with }{ between STATS elements") {
    const auto v = parse_cgminer_json(read_fixture("antminer/s9_hiveon_stats.txt"));
    const auto& stats = v.at("STATS").as_array();
    REQUIRE(stats.size() == 2);
    CHECK(stats[0].is_object());
    CHECK(stats[0].at("Type") == "Antminer S9 Hiveon");
    REQUIRE(stats[1].is_object());
    CHECK(stats[1].at("GHS 5s") == "11781.40");
    CHECK(stats[1].at("GHS av").as_double() == doctest::Approx(11609.55));
}

TEST_CASE("parse: Avalon multi-command reply with a bare nan and a stray trailing quote") {
    const std::string raw = read_fixture("avalon/a10xx_multicommand_nan.txt");
    CHECK(raw.back() == '"');
    const auto v = parse_cgminer_json(raw);
    const json::object* summary = multi_section(v, "summary");
    REQUIRE(summary != nullptr);
    const auto& s = summary->at("SUMMARY").at(0).as_object();
    CHECK(s.at("MHS av").is_null());
    CHECK(s.at("Elapsed") == 155);
    CHECK(multi_section(v, "stats") != nullptr);
    CHECK(multi_section(v, "pools") != nullptr);
}

TEST_CASE("parse: Whatsminer firmware string with single quotes") {
    const auto v = parse_cgminer_json(read_fixture("whatsminer/m30s_summary.json"));
    CHECK(v.at("SUMMARY").at(0).at("Firmware Version") == "'20200512.13.REL'");
    // btminer's own escaping of those quotes, as it appears on the wire.
    const auto w =
        parse_cgminer_json(R"({"STATUS":"S","Msg":{"Firmware Version":"\'20200917.22.REL\'"}})");
    CHECK(w.at("Msg").at("Firmware Version") == "'20200917.22.REL'");
}

TEST_CASE("parse: the first value is taken and trailing bytes ignored") {
    CHECK(parse_cgminer_json(R"({"a":1}"})") == json::parse(R"({"a":1})"));
    CHECK(parse_cgminer_json("{\"a\":1}\n{\"b\":2}") == json::parse(R"({"a":1})"));
    CHECK(parse_cgminer_json("  [1,2]  garbage") == json::parse("[1,2]"));
    CHECK(parse_cgminer_json("42") == 42);
}

TEST_CASE("parse: NUL-terminated replies") {
    CHECK(parse_cgminer_json(std::string("{\"a\":1}\0", 8)) == json::parse(R"({"a":1})"));
    CHECK(parse_cgminer_json(std::string("{\"a\":1}\0{\"b\":2}", 15)) == json::parse(R"({"a":1})"));
}

TEST_CASE("parse: a duplicate key keeps its last value") {
    const auto v = parse_cgminer_json(R"({"a":1,"b":2,"a":3})");
    REQUIRE(v.is_object());
    CHECK(v.as_object().size() == 2);
    CHECK(v.at("a") == 3);
    CHECK(v.at("b") == 2);
    // Nested objects and duplicates of a different type too.
    const auto w = parse_cgminer_json(R"({"x":{"k":"old","k":[1]},"x2":{"k":null,"k":5}})");
    CHECK(w.at("x").at("k") == json::array{1});
    CHECK(w.at("x2").at("k") == 5);
}

TEST_CASE("parse: invalid UTF-8 inside a string is kept") {
    const auto v = parse_cgminer_json("{\"User\":\"caf\xe9\"}");
    CHECK(v.at("User").as_string() == "caf\xe9");
}

TEST_CASE("parse: no complete value throws CgminerJsonError") {
    CHECK_THROWS_AS(parse_cgminer_json(R"({"STATUS":[{"STATUS":"S")"), CgminerJsonError);
    CHECK(error_offset(R"({"a":1)") == 6);
    CHECK(error_offset("") == 0);
    CHECK(error_offset(" \r\n") == 3);
    CHECK(error_offset(std::string("\0{\"a\":1}", 8)) == 0);
    CHECK(error_offset(R"({"a":tru})") == 5);
    CHECK(error_offset(R"({"a":nul})") == 5);
    try {
        parse_cgminer_json(R"({"a":1)");
    } catch (const CgminerJsonError& e) {
        CHECK(std::string(e.what()) == "cgminer reply: incomplete JSON at byte 6");
    }
    try {
        parse_cgminer_json("   ");
    } catch (const CgminerJsonError& e) {
        CHECK(std::string(e.what()) == "cgminer reply: no JSON value");
    }
    // Every prefix of a real reply is either incomplete (throws) or, once whole, parses.
    const std::string full = read_fixture("antminer/s9_hiveon_version.json");
    for (std::size_t n = 0; n + 1 < full.size(); ++n) {
        CAPTURE(n);
        CHECK_THROWS_AS(parse_cgminer_json(std::string_view(full).substr(0, n)), CgminerJsonError);
    }
}

TEST_CASE("parse: damaged replies fail only with CgminerJsonError") {
    // Each byte of a real reply replaced in turn by each character the repairs key on: the
    // result either parses or throws CgminerJsonError, never anything else (and under ASan,
    // never reads out of bounds).
    const std::string original = read_fixture("antminer/s9_hiveon_stats.txt");
    int parsed = 0, rejected = 0, other = 0;
    for (std::size_t i = 0; i < original.size(); ++i) {
        for (const char c : {'"', '\\', '{', '}', '[', ']', ',', '\0', '\n', 'n', '-'}) {
            std::string damaged = original;
            damaged[i] = c;
            try {
                parse_cgminer_json(damaged);
                ++parsed;
            } catch (const CgminerJsonError&) {
                ++rejected;
            } catch (...) {
                ++other;
            }
        }
    }
    CHECK(other == 0);
    CHECK(parsed > 0);
    CHECK(rejected > 0);
}

TEST_CASE("parse: in place or through the repair, the outcome is the same") {
    // Each byte of a clean reply replaced in turn: some variants still need no repair (parsed in
    // place), others do (parsed from the repaired copy); both must match the reference, values
    // and error offsets alike.
    const std::string original = read_fixture("antminer/s19pro_bmminer_summary.json");
    int in_place = 0, repaired = 0;
    for (std::size_t i = 0; i < original.size(); ++i) {
        for (const char c : {'"', '\\', '\'', '{', '}', '[', ']', ',', '\0', '\n', '\x01', 'n'}) {
            std::string damaged = original;
            damaged[i] = c;
            CAPTURE(damaged);
            const Outcome expected = reference_outcome(damaged);
            const Outcome actual = parse_outcome(damaged);
            CHECK(actual.value == expected.value);
            if (!expected.value) CHECK(actual.offset == expected.offset);
            const bool needs_repair = repair_cgminer_json(damaged) != damaged;
            (needs_repair ? repaired : in_place) += 1;
        }
    }
    CHECK(in_place > 100);
    CHECK(repaired > 100);
    for (const auto& path : fixture_files()) {
        CAPTURE(path.string());
        const std::string text = read_path(path);
        CHECK(parse_outcome(text).value == reference_outcome(text).value);
    }
}

TEST_CASE("parse: short random texts give what the repaired text gives") {
    // Made of the bytes that the repairs and the parser key on, so that valid and broken JSON,
    // faults before, inside and after the first value all turn up.
    std::string alphabet = "\"\\'{}[],:\n\x01 nNaAiIfFl-+.e0123tru";
    alphabet.push_back('\0');
    std::mt19937 rng(20240611);
    int parsed = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string text(rng() % 20, ' ');
        for (char& c : text) c = alphabet[rng() % alphabet.size()];
        CAPTURE(text);
        const Outcome expected = reference_outcome(text);
        const Outcome actual = parse_outcome(text);
        CHECK(actual.value == expected.value);
        if (!expected.value) CHECK(actual.offset == expected.offset);
        if (actual.value) ++parsed;
    }
    CHECK(parsed > 100);
}

TEST_CASE("parse: a clean reply and the same reply needing repair give the same value") {
    for (const auto& path : fixture_files()) {
        if (path.extension() != ".json") continue;  // the .txt captures need repair already
        CAPTURE(path.string());
        const std::string clean = read_path(path);
        const auto close = clean.find_last_not_of(" \t\r\n");
        REQUIRE(close != std::string::npos);
        // A trailing comma before the last bracket: repaired away, so the value is unchanged.
        std::string damaged = clean;
        damaged.insert(close, ",");
        REQUIRE(repair_cgminer_json(damaged) != damaged);
        CHECK(parse_cgminer_json(damaged) == parse_cgminer_json(clean));
    }
}

TEST_CASE("parse: error offsets count in the repaired text") {
    // `[,` loses its comma, so the bad literal sits one byte earlier than in the raw text.
    CHECK(error_offset(R"({"a":[,1],"b":tru})") == error_offset(R"({"a":[1],"b":tru})"));
    CHECK(error_offset(R"({"a":[1],"b":tru})") == 13);
    CHECK(error_offset(std::string("{\"a\":tru}\0", 10)) == 5);
}

TEST_CASE("parse: the value owns its memory and outlives the call") {
    const auto parse_copy_of_fixture = [] {
        const std::string text = read_fixture("antminer/s9_hiveon_stats.txt");
        return parse_cgminer_json(text);  // `text` is gone when the value is used
    };
    std::optional<json::value> whole(parse_copy_of_fixture());
    REQUIRE(whole->is_object());
    CHECK(whole->storage().is_shared());
    // A copy of a part shares the arena and keeps it alive after the whole value is gone.
    const json::value stats = whole->at("STATS");
    whole.reset();
    REQUIRE(stats.is_array());
    CHECK(stats.at(1).at("GHS 5s") == "11781.40");
    CHECK(stats.at(1).at("GHS av").as_double() == doctest::Approx(11609.55));
    // Changing a copy allocates from the same arena and leaves the original alone.
    json::value edited = stats;
    edited.as_array().emplace_back("a string longer than the small-string buffer");
    edited.as_array().at(0).as_object()["Type"] = "changed";
    CHECK(edited.storage().get() == stats.storage().get());
    CHECK(edited.as_array().size() == 3);
    CHECK(stats.as_array().size() == 2);
    CHECK(stats.at(0).at("Type") == "Antminer S9 Hiveon");

    // Assigned to a value with the default storage, the result is copied into that storage.
    json::value heap;
    heap = parse_copy_of_fixture();
    CHECK_FALSE(heap.storage().is_shared());
    CHECK(heap == parse_copy_of_fixture());
}

// ---- multi_section ---------------------------------------------------------------------------

TEST_CASE("multi_section: sub-replies of a real multi-command reply") {
    const auto v =
        parse_cgminer_json(read_fixture("avalon/a10xx_multicommand_pools+summary+stats.json"));
    const json::object* summary = multi_section(v, "summary");
    REQUIRE(summary != nullptr);
    CHECK(summary->contains("SUMMARY"));
    const json::object* pools = multi_section(v, "pools");
    REQUIRE(pools != nullptr);
    CHECK(pools->at("POOLS").as_array().size() == 3);
    const json::object* stats = multi_section(v, "stats");
    REQUIRE(stats != nullptr);
    CHECK(stats->contains("STATS"));

    CHECK(multi_section(v, "devs") == nullptr);
    CHECK(multi_section(v, "SUMMARY") == nullptr);
    CHECK(multi_section(v, "id") == nullptr);
}

TEST_CASE("multi_section: odd shapes") {
    CHECK(multi_section(json::value(nullptr), "summary") == nullptr);
    CHECK(multi_section(json::parse("[1]"), "summary") == nullptr);
    CHECK(multi_section(json::parse(R"({"summary":[]})"), "summary") == nullptr);
    CHECK(multi_section(json::parse(R"({"summary":[1]})"), "summary") == nullptr);
    CHECK(multi_section(json::parse(R"({"summary":"x"})"), "summary") == nullptr);
    const auto unwrapped = json::parse(R"({"summary":{"SUMMARY":[]}})");
    const json::object* s = multi_section(unwrapped, "summary");
    REQUIRE(s != nullptr);
    CHECK(s->contains("SUMMARY"));
}

// ---- cgminer_status --------------------------------------------------------------------------

TEST_CASE("cgminer_status: standard envelope") {
    const auto v =
        parse_cgminer_json(read_fixture("avalon/a10xx_multicommand_pools+summary+stats.json"));
    CHECK_FALSE(cgminer_status(v).has_value());  // the multi-command wrapper has none
    const auto s = cgminer_status(*multi_section(v, "summary"));
    REQUIRE(s.has_value());
    CHECK(s->code == 'S');
    CHECK(s->number == 11);
    CHECK(s->msg == "Summary");
    CHECK(s->description == "cgminer 4.11.1");
    CHECK(status_ok(*s));

    const auto stats =
        cgminer_status(parse_cgminer_json(read_fixture("antminer/s9_hiveon_stats.txt")));
    REQUIRE(stats.has_value());
    CHECK(stats->code == 'S');
    CHECK(stats->number == 70);
    CHECK(stats->msg == "BMMiner stats");
    CHECK(stats->description == "bmminer 1.0.0");
}

TEST_CASE("cgminer_status: error and info letters") {
    const auto err = cgminer_status(
        parse_cgminer_json(read_fixture("whatsminer/m30s_error_cmd_key_multicommand.json")));
    REQUIRE(err.has_value());
    CHECK(err->code == 'E');
    CHECK(err->number == 24);
    CHECK(err->msg == "Missing JSON 'command'");
    CHECK_FALSE(status_ok(*err));

    const auto info =
        cgminer_status(parse_cgminer_json(read_fixture("avalon/ascset_softoff_reply.json")));
    REQUIRE(info.has_value());
    CHECK(info->code == 'I');
    CHECK(info->number == 118);
    CHECK(info->msg == "ASC 0 set info: success softoff:1753434821");
    CHECK(status_ok(*info));

    CHECK_FALSE(status_ok(CgminerStatus{'W', 0, {}, {}}));
    CHECK_FALSE(status_ok(CgminerStatus{'F', 0, {}, {}}));
}

TEST_CASE("cgminer_status: Whatsminer flat envelope") {
    const auto s =
        cgminer_status(parse_cgminer_json(read_fixture("whatsminer/m31s_sleeping_status.json")));
    REQUIRE(s.has_value());
    CHECK(s->code == 'S');
    CHECK(s->number == 131);
    CHECK(s->msg.empty());  // Msg is an object there
    CHECK(s->description == "whatsminer v1.3");
    CHECK(status_ok(*s));

    const auto v205 =
        cgminer_status(parse_cgminer_json(read_fixture("whatsminer/apiv205_status.json")));
    REQUIRE(v205.has_value());
    CHECK(v205->code == 'S');
    CHECK(v205->number == 131);
    CHECK(v205->description.empty());

    const auto flat_msg =
        cgminer_status(json::parse(R"({"STATUS":"E","When":1,"Code":"45","Msg":"Access denied"})"));
    REQUIRE(flat_msg.has_value());
    CHECK(flat_msg->code == 'E');
    CHECK(flat_msg->number == 45);
    CHECK(flat_msg->msg == "Access denied");
    CHECK(flat_msg->description.empty());
}

TEST_CASE("cgminer_status: no status") {
    CHECK_FALSE(cgminer_status(json::parse(R"({"enc":"abc"})")).has_value());
    CHECK_FALSE(cgminer_status(json::parse(R"({"STATUS":[]})")).has_value());
    CHECK_FALSE(cgminer_status(json::parse(R"({"STATUS":[{}]})")).has_value());
    CHECK_FALSE(cgminer_status(json::parse(R"({"STATUS":""})")).has_value());
    CHECK_FALSE(cgminer_status(json::parse(R"({"STATUS":5})")).has_value());
    CHECK_FALSE(cgminer_status(json::parse("[1]")).has_value());
    const auto no_code = cgminer_status(json::parse(R"({"STATUS":[{"STATUS":"S"}]})"));
    REQUIRE(no_code.has_value());
    CHECK(no_code->number == 0);
    CHECK(no_code->msg.empty());
}

TEST_CASE("adopt: the parsed value moves in with its arena instead of being copied") {
    json::value v;
    const auto* heap = v.storage().get();
    adopt(v, parse_cgminer_json(R"({"STATUS":[{"STATUS":"S"}],"a":[1,2,3]})"));
    CHECK(v.storage().get() != heap);  // plain assignment would have copied onto the heap
    CHECK(v.at("a").as_array().size() == 3);
    adopt(v, parse_cgminer_json(R"({"b":true})"));  // and again: the first arena is released
    CHECK(v.at("b").as_bool());
}
