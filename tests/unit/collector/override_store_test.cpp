// The policy_overrides table (collector/control/override_store.hpp) on a real Store file:
// saved and replaced by id, every field round-trips, ended ones are not loaded, deletes say
// whether there was one, bad records are refused, and retention removes long-ended ones.
#include "collector/control/override_store.hpp"

#include "collector/storage/store.hpp"
#include "tests/support/process.hpp"

#include <stdexcept>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::control;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'795'597'200'000)};  // 2026-11-25T09:00:00Z

OverrideRecord record(const std::string& id, TimePoint start, TimePoint end) {
    OverrideRecord r;
    r.value.id = id;
    r.value.target = policies::PointKind::sleep;
    r.value.start = start;
    r.value.end = end;
    r.value.priority = 5;
    r.created_by = "ops";
    r.created_at = kT0 - 1h;
    return r;
}

}  // namespace

TEST_CASE("overrides: saved, replaced by id, loaded until they end") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    auto a = record("dr-7", kT0, kT0 + 2h);
    a.value.site = "west";
    a.value.miners = {"m1", "m\"2"};
    auto b = record("manual", kT0 - 1h, kT0 + 1h);
    b.value.target = policies::PointKind::reduced;
    save_override(store, a);
    save_override(store, b);

    auto loaded = load_overrides(store, kT0);
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0] == b);  // by start
    CHECK(loaded[1] == a);  // every field round-trips, miners' JSON escapes included

    b.value.target = policies::PointKind::full;
    b.value.priority = 9;
    save_override(store, b);  // same id: replaced, not added
    loaded = load_overrides(store, kT0);
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].value.target == policies::PointKind::full);
    CHECK(loaded[0].value.priority == 9);

    // end is exclusive: at kT0 + 1h "manual" has ended.
    loaded = load_overrides(store, kT0 + 1h);
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].value.id == "dr-7");
    CHECK(load_overrides(store, kT0 + 2h).empty());

    CHECK(delete_override(store, "dr-7"));
    CHECK_FALSE(delete_override(store, "dr-7"));
    CHECK_FALSE(delete_override(store, "never"));
    REQUIRE(load_overrides(store, kT0).size() == 1);
}

TEST_CASE("overrides: a bad record is refused, naming the field, and nothing is written") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    CHECK_THROWS_WITH_AS(save_override(store, record("", kT0, kT0 + 1h)), "id: empty",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(save_override(store, record("x", kT0, kT0)), "end: not after start",
                         std::invalid_argument);
    auto r = record("x", kT0, kT0 + 1h);
    r.created_by.clear();
    CHECK_THROWS_WITH_AS(save_override(store, r), "created_by: empty", std::invalid_argument);
    CHECK(load_overrides(store, kT0 - 24h).empty());
}

TEST_CASE("overrides: target spellings") {
    CHECK(parse_point_kind("sleep") == policies::PointKind::sleep);
    CHECK(parse_point_kind("reduced") == policies::PointKind::reduced);
    CHECK(parse_point_kind("full") == policies::PointKind::full);
    CHECK_FALSE(parse_point_kind("Sleep"));
    CHECK_FALSE(parse_point_kind(""));
}

TEST_CASE("overrides: retention removes those that ended before the raw horizon") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    save_override(store, record("old", kT0, kT0 + 1h));
    save_override(store, record("recent", kT0, kT0 + 40h));
    RetentionHorizons h;
    h.raw = std::chrono::days{1};
    CHECK(store.apply_retention(kT0 + 24h, h).overrides_deleted == 0);  // ended 23h ago
    CHECK(store.apply_retention(kT0 + 26h, h).overrides_deleted == 1);
    CHECK(store.apply_retention(kT0 + 26h, h).overrides_deleted == 0);  // idempotent
    const auto left = load_overrides(store, kT0);
    REQUIRE(left.size() == 1);
    CHECK(left[0].value.id == "recent");
}

namespace {

// Only what restore_overrides calls.
struct Collecting : PolicyControl {
    std::vector<policies::Override> added;
    ControlStatus status() const override { return {}; }
    std::vector<policies::Decision> last_decisions() const override { return {}; }
    void add_override(const policies::Override& o) override { added.push_back(o); }
    bool remove_override(const std::string&) override { return false; }
    std::vector<policies::Override> overrides(TimePoint) const override { return added; }
};

}  // namespace

TEST_CASE("overrides: a starting loop is handed those that have not ended") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    save_override(store, record("ended", kT0 - 2h, kT0));
    save_override(store, record("now", kT0 - 1h, kT0 + 1h));
    save_override(store, record("later", kT0 + 1h, kT0 + 2h));
    Collecting loop;
    CHECK(restore_overrides(store, loop, kT0) == 2);
    REQUIRE(loop.added.size() == 2);
    CHECK(loop.added[0].id == "now");
    CHECK(loop.added[1].id == "later");
}
