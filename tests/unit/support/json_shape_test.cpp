#include "tests/support/json_shape.hpp"

#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
namespace json = boost::json;

namespace {

using Lines = std::vector<std::string>;

Lines diff(std::string_view reference, std::string_view candidate, ShapeOptions options = {}) {
    return shape_differences(json::parse(reference), json::parse(candidate), options);
}

const char* const kStats = R"({
  "STATUS":[{"STATUS":"S","When":1600293501,"Code":70,"Msg":"BMMiner stats"}],
  "STATS":[{"BMMiner":"2.0.0","Type":"Antminer S9"},
           {"STATS":0,"GHS 5s":"11781.40","GHS av":11609.55,"chain_rate1":"","fan":[3840,4920]}],
  "id":1})";

}  // namespace

TEST_CASE("shape: identical documents have no differences") {
    CHECK(diff(kStats, kStats).empty());
    CHECK(diff(kStats, kStats, ShapeOptions{true}).empty());
    CHECK(diff("1", "2").empty());
    CHECK(diff("[]", "[]").empty());
}

TEST_CASE("shape: values do not matter, only types") {
    const char* other = R"({
      "STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],
      "STATS":[{"BMMiner":"x","Type":"y"},
               {"STATS":7,"GHS 5s":"0.00","GHS av":0.5,"chain_rate1":"1","fan":[0,0,0,0]}],
      "id":9})";
    CHECK(diff(kStats, other).empty());
}

TEST_CASE("shape: a renamed key is one missing and one extra") {
    CHECK(diff(R"({"SUMMARY":[{"Elapsed":1,"MHS av":2.0}]})",
               R"({"SUMMARY":[{"Elapsed_s":1,"MHS av":2.0}]})") ==
          Lines{"SUMMARY[0].Elapsed: missing in candidate",
                "SUMMARY[0].Elapsed_s: not in reference"});
}

TEST_CASE("shape: a changed type") {
    CHECK(diff(kStats, R"({
      "STATUS":[{"STATUS":"S","When":1600293501,"Code":70,"Msg":"BMMiner stats"}],
      "STATS":[{"BMMiner":"2.0.0","Type":"Antminer S9"},
               {"STATS":0,"GHS 5s":"11781.40","GHS av":11609.55,"chain_rate1":0,"fan":[1,2]}],
      "id":"1"})") == Lines{"STATS[1].chain_rate1: type string in reference, number in candidate",
                            "id: type number in reference, string in candidate"});
    CHECK(diff(R"({"a":true})", R"({"a":null})") ==
          Lines{"a: type bool in reference, null in candidate"});
}

TEST_CASE("shape: changed nesting") {
    CHECK(diff(R"({"STATS":[{"fan":[1,2]}]})", R"({"STATS":{"fan":[1,2]}})") ==
          Lines{"STATS: type array in reference, object in candidate"});
    CHECK(diff(R"({"a":{"b":{"c":1}}})", R"({"a":{"b":[{"c":1}]}})") ==
          Lines{"a.b: type object in reference, array in candidate"});
    CHECK(diff(R"({"a":{"b":1}})", R"({"a":{"b":{"c":1}}})") ==
          Lines{"a.b: type number in reference, object in candidate"});
    CHECK(diff("[1]", "{}") == Lines{"(root): type array in reference, object in candidate"});
}

TEST_CASE("shape: an extra key") {
    CHECK(diff(R"({"STATS":[{"a":1},{"b":2}]})", R"({"STATS":[{"a":1},{"b":2,"foo":3}]})") ==
          Lines{"STATS[1].foo: not in reference"});
}

TEST_CASE("shape: keys that are not identifiers are quoted in paths") {
    CHECK(diff(R"({"SUMMARY":[{"MHS av":1.5}]})", R"({"SUMMARY":[{"MHS av":"1.5"}]})") ==
          Lines{R"(SUMMARY[0]["MHS av"]: type number in reference, string in candidate)"});
    CHECK(diff(R"({"Pool Stale%%":1})", "{}") ==
          Lines{R"(["Pool Stale%%"]: missing in candidate)"});
}

TEST_CASE("shape: integer and double are one kind unless strict") {
    const char* ref = R"({"a":1,"b":2.5,"c":3})";
    const char* cand = R"({"a":1.0,"b":2,"c":18446744073709551615})";
    CHECK(diff(ref, cand).empty());
    CHECK(diff(ref, cand, ShapeOptions{true}) ==
          Lines{"a: type integer in reference, double in candidate",
                "b: type double in reference, integer in candidate"});
}

TEST_CASE("shape: null in the reference matches anything") {
    CHECK(diff(R"({"a":null,"b":null,"c":null})", R"({"a":1,"b":{"x":[1]},"c":null})").empty());
    // ...but the key must still be there.
    CHECK(diff(R"({"a":null})", "{}") == Lines{"a: missing in candidate"});
}

TEST_CASE("shape: arrays of records vary in length") {
    const char* ref = R"({"POOLS":[{"URL":"a","Priority":0},{"URL":"b","Priority":1}]})";
    // Longer: the extra elements are compared with the reference's last one.
    CHECK(diff(ref, R"({"POOLS":[{"URL":"a","Priority":0},{"URL":"b","Priority":1},
                                 {"URL":"c","Priority":2},{"URL":"d","Priority":"3"}]})") ==
          Lines{"POOLS[3].Priority: type number in reference, string in candidate"});
    // Shorter is fine.
    CHECK(diff(ref, R"({"POOLS":[{"URL":"a","Priority":0}]})").empty());
    // Element by index when the reference has one there: the version block is not a record.
    CHECK(diff(R"([{"Type":"S9"},{"STATS":0}])", R"([{"STATS":0},{"STATS":0}])") ==
          Lines{"[0].Type: missing in candidate", "[0].STATS: not in reference"});
}

TEST_CASE("shape: an empty array on either side matches any array") {
    CHECK(diff(R"({"a":[]})", R"({"a":[1,"x",{"y":2}]})").empty());
    CHECK(diff(R"({"a":[{"b":1}]})", R"({"a":[]})").empty());
    CHECK(diff(R"({"a":[]})", R"({"a":{}})") ==
          Lines{"a: type array in reference, object in candidate"});
}

TEST_CASE("shape_of: a compact picture of the structure") {
    CHECK(shape_of(json::parse(
              R"({"STATUS":[{"STATUS":"S","Code":11}],"POOLS":[{"a":1.5},{"a":2.5},{"a":1}],)"
              R"("b":[true,null,"s"],"e":[],"id":1})")) ==
          R"({"STATUS":[{"STATUS":string,"Code":integer}],"POOLS":[{"a":double} x2,{"a":integer}],)"
          R"("b":[bool,null,string],"e":[],"id":integer})");
    CHECK(shape_of(json::parse("3")) == "integer");
}
