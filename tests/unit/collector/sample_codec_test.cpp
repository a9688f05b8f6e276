// The compressed raw samples (collector/storage/sample_codec.hpp) and the store's group commit.
#include "collector/storage/sample_codec.hpp"

#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "common/json_codec.hpp"
#include "tests/support/process.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono;

namespace {

constexpr std::int64_t kT0Ms = 1795597200000;  // 2026-11-25T09:00:00Z

// A rig's poll with the variety a fleet has: its own id, address, serial and readings.
MinerSample rig(int n, std::int64_t at_ms) {
    MinerSample s;
    s.miner_id = "02:00:0a:00:" + std::to_string(n / 256) + ":" + std::to_string(n % 256);
    s.mac = s.miner_id;
    s.host = "10.0." + std::to_string(n / 256) + "." + std::to_string(n % 256);
    s.port = 4028;
    s.make = "Bitmain";
    s.model = n % 3 == 0 ? "Antminer S19 Pro" : "Antminer S21";
    s.firmware = "stock";
    s.serial = "JYZZB4NBCAJJF1" + std::to_string(10000 + n);
    s.driver = "antminer";
    s.observed_at = TimePoint{milliseconds{at_ms}};
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = 100.0 + (n * 37 % 1000) / 100.0;
    s.power_w = 3200.0 + n % 97;
    s.power_source = PowerSource::measured;
    for (int b = 0; b < 3; ++b) {
        BoardSample board;
        board.index = b;
        board.hashrate_ths = *s.hashrate_ths / 3 + b;
        board.chip_temp_max_c = 60.0 + (n + b) % 17;
        board.chips = 76;
        s.boards.push_back(board);
    }
    s.fans_rpm = {5400 + n % 100, 5500 - n % 50, 5450, 5430};
    s.uptime_s = 1000 + n;
    return s;
}

std::int64_t query(const std::string& path, const std::string& sql) {
    sqlite::Database db(path);
    return db.query_int(sql);
}

}  // namespace

TEST_CASE("a sample compresses and decompresses to the same text, with and without a dictionary") {
    std::vector<std::string> texts;
    for (int n = 0; n < 600; ++n) texts.push_back(encode_sample(rig(n, kT0Ms + n)));
    const std::string dict = train_sample_dictionary(texts);
    REQUIRE_FALSE(dict.empty());
    CHECK(dict.size() <= kSampleDictBytes);

    SampleCompressor plain;
    SampleCompressor with_dict;
    with_dict.use_dictionary(7, dict);
    CHECK_FALSE(plain.dictionary_id());
    CHECK(with_dict.dictionary_id() == 7);
    int loads = 0;
    SampleDecompressor d([&](std::int64_t id) {
        ++loads;
        CHECK(id == 7);
        return dict;
    });
    const std::string text = encode_sample(rig(1234, kT0Ms + 99));
    const std::string a(plain.compress(text));
    const std::string b(with_dict.compress(text));
    CHECK(d.decompress(a, std::nullopt) == text);
    CHECK(d.decompress(b, 7) == text);
    CHECK(d.decompress(b, 7) == text);
    CHECK(loads == 1);  // loaded once, kept
    // What the dictionary is for: a row of this fleet a fraction of its text.
    CHECK(b.size() * 3 < a.size());
    CHECK(b.size() * 4 < text.size());

    // Damage is reported, never turned into a wrong sample or an allocation of the frame's say.
    std::string damaged = b;
    damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x5a);
    damaged.resize(damaged.size() - 3);
    CHECK_THROWS_AS(d.decompress(damaged, 7), CorruptSample);
    CHECK_THROWS_AS(d.decompress("not zstd at all", std::nullopt), CorruptSample);
    CHECK_THROWS_AS(d.decompress(b, std::nullopt), CorruptSample);  // needs its dictionary
    SampleDecompressor missing([](std::int64_t id) -> std::string {
        throw CorruptSample("no dictionary " + std::to_string(id));
    });
    CHECK_THROWS_AS(missing.decompress(b, 7), CorruptSample);
}

TEST_CASE("too few samples train no dictionary") {
    CHECK(train_sample_dictionary({}).empty());
    CHECK(train_sample_dictionary({encode_sample(rig(1, kT0Ms))}).empty());
}

TEST_CASE("the store trains a dictionary on its first samples and reads every row back") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    const std::size_t n = kSampleDictTrainingSamples + 500;
    std::vector<MinerSample> all;
    {
        Store store(path);
        std::vector<MinerSample> batch;
        std::int64_t seq = 0;
        for (std::size_t i = 0; i < n; ++i) {
            all.push_back(
                rig(static_cast<int>(i % 400), kT0Ms + static_cast<std::int64_t>(i) * 1000));
            batch.push_back(all.back());
            if (batch.size() == 250) {
                CHECK(store.ingest(IngestBatch{"a1", "north", ++seq, batch, {}}).stored == 250);
                batch.clear();
            }
        }
    }
    CHECK(query(path, "SELECT count(*) FROM sample_dicts") == 1);
    CHECK(query(path, "SELECT trained_on FROM sample_dicts") ==
          static_cast<std::int64_t>(kSampleDictTrainingSamples));
    // Rows before the dictionary are compressed without one, rows after with it; none as text.
    CHECK(query(path, "SELECT count(*) FROM samples WHERE sample_dict IS NULL") ==
          static_cast<std::int64_t>(kSampleDictTrainingSamples));
    CHECK(query(path, "SELECT count(*) FROM samples WHERE sample_dict = 1") == 500);
    CHECK(query(path,
                "SELECT count(*) FROM samples WHERE sample_json != '' OR sample_zstd IS "
                "NULL") == 0);
    CHECK(query(path, "SELECT avg(length(sample_zstd)) FROM samples WHERE sample_dict = 1") * 2 <
          query(path, "SELECT avg(length(sample_zstd)) FROM samples WHERE sample_dict IS NULL"));

    // Reopened: the same dictionary goes on (no second one), and every row reads back as sent.
    Store store(path);
    const auto extra = rig(5, kT0Ms + 10'000'000);
    CHECK(store.ingest(IngestBatch{"a1", "north", 1000, {extra}, {}}).stored == 1);
    CHECK(query(path, "SELECT count(*) FROM sample_dicts") == 1);
    CHECK(query(path, "SELECT sample_dict FROM samples ORDER BY sample_id DESC LIMIT 1") == 1);
    all.push_back(extra);
    const auto id = all[5].miner_id;
    std::vector<std::string> expected;
    for (auto s : all) {
        if (s.miner_id != id) continue;
        s.site = "north";
        expected.push_back(encode_sample(s));
    }
    const auto got = store.samples(id, TimePoint{milliseconds{kT0Ms}},
                                   TimePoint{milliseconds{kT0Ms + 20'000'000}});
    REQUIRE(got.size() == expected.size());
    CHECK(got.size() == 5);
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(encode_sample(got[i]) == expected[i]);
    const auto latest = store.latest_samples();
    CHECK(latest.size() == 400);
}

TEST_CASE("rows stored as text before schema 10 still read back, and a damaged row is an error") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    auto old_row = rig(1, kT0Ms);
    old_row.site = "north";
    {
        Store store(path);
        CHECK(store.ingest(IngestBatch{"a1", "north", 1, {rig(2, kT0Ms)}, {}}).stored == 1);
    }
    {
        // A row as schema 9 wrote it: the text in sample_json, nothing compressed.
        sqlite::Database raw(path);
        raw.exec(
            "INSERT INTO miners (miner_id, site, host, port, first_seen_ms, last_seen_ms) "
            "VALUES ('" +
            old_row.miner_id + "', 'north', '10.0.0.1', 4028, " + std::to_string(kT0Ms) + ", " +
            std::to_string(kT0Ms) + ")");
        auto q = raw.prepare(
            "INSERT INTO samples (miner_id, observed_at_ms, up, state, sample_json) "
            "VALUES (?1, ?2, 1, 'mining', ?3)");
        q.bind(1, old_row.miner_id).bind(2, kT0Ms).bind(3, encode_sample(old_row));
        q.run();
    }
    Store store(path);
    const auto got = store.samples(old_row.miner_id, TimePoint{milliseconds{kT0Ms}},
                                   TimePoint{milliseconds{kT0Ms + 1}});
    REQUIRE(got.size() == 1);
    CHECK(encode_sample(got[0]) == encode_sample(old_row));
    CHECK(store.latest_samples().size() == 2);

    // A row that names a dictionary the file does not have says so.
    {
        sqlite::Database raw(path);
        raw.exec("UPDATE samples SET sample_dict = 42 WHERE sample_zstd IS NOT NULL");
    }
    const auto id = rig(2, kT0Ms).miner_id;
    CHECK_THROWS_WITH_AS(
        store.samples(id, TimePoint{milliseconds{kT0Ms}}, TimePoint{milliseconds{kT0Ms + 1}}),
        doctest::Contains("dictionary 42"), CorruptSample);
}

TEST_CASE("a group of batches commits together; a bad or repeated batch fails alone") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    IngestBatch first{"a1", "north", 1, {rig(1, kT0Ms), rig(2, kT0Ms)}, {}};
    auto bad_sample = rig(3, kT0Ms);
    bad_sample.host.clear();
    IngestBatch bad{"a1", "north", 2, {rig(4, kT0Ms), bad_sample}, {}};
    IngestBatch third{"a2", "north", 1, {rig(5, kT0Ms)}, {}};
    IngestBatch again = first;  // the same (agent_id, batch_seq) in the same group
    const std::vector<const IngestBatch*> group = {&first, &bad, &third, &again};
    const auto out = store.ingest_group(group);
    REQUIRE(out.size() == 4);
    CHECK_FALSE(out[0].error);
    CHECK(out[0].result.stored == 2);
    REQUIRE(out[1].error);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(out[1].error), "samples[1].host: empty",
                         InvalidBatch);
    CHECK_FALSE(out[2].error);
    CHECK(out[2].result.stored == 1);
    CHECK_FALSE(out[3].error);
    CHECK(out[3].result.duplicate);
    CHECK(query(path, "SELECT count(*) FROM samples") == 3);
    CHECK(query(path, "SELECT count(*) FROM ingest_batches") == 2);
    // The refused batch left nothing behind and can come again once fixed.
    bad.samples[1].host = "10.0.0.3";
    CHECK(store.ingest(bad).stored == 2);
}
