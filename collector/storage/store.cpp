#include "collector/storage/store.hpp"

#include "collector/storage/schema.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store_impl.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <iterator>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include <boost/json.hpp>

namespace hashwatt::collector {

namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kFiveMinutesMs = 5 * 60 * 1000;
constexpr std::int64_t kOneHourMs = 60 * 60 * 1000;

std::int64_t to_ms(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint from_ms(std::int64_t ms) { return TimePoint{milliseconds{ms}}; }

std::optional<double> max_over_boards(const MinerSample& s,
                                      std::optional<double> BoardSample::*field) {
    std::optional<double> out;
    for (const auto& b : s.boards) {
        const auto& v = b.*field;
        if (v && (!out || *v > *out)) out = *v;
    }
    return out;
}

// The JSON columns of one sample row, written into buffers that a batch reuses from sample to
// sample: ingest is the collector's hot path, and growing three fresh strings per sample (the
// whole sample ~1.8 KB) showed in its profile as malloc, free and copies.
struct RowJson {
    std::string sample;

    void fill(const MinerSample& s) {
        sample.clear();
        JsonWriter w(sample);
        write_json(w, s);
    }
};

std::map<std::string, std::string> parse_labels(const std::string& text) {
    std::map<std::string, std::string> out;
    const auto v = boost::json::parse(text);
    for (const auto& [k, val] : v.as_object()) {
        if (val.is_string()) out.emplace(std::string(k), std::string(val.as_string()));
    }
    return out;
}

std::string labels_json(const std::map<std::string, std::string>& labels) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    for (const auto& [k, v] : labels) w.field(k, v);
    w.end_object();
    return out;
}

constexpr std::string_view kMinerColumns =
    "miner_id, site, host, port, make, model, firmware, firmware_version, driver, serial, mac, "
    "first_seen_ms, last_seen_ms, last_up_ms, labels_json, agent_id";

MinerRecord read_miner(const sqlite::Statement& s) {
    MinerRecord m;
    m.miner_id = s.column_text(0);
    m.site = s.column_opt_text(1);
    m.host = s.column_text(2);
    m.port = static_cast<std::uint16_t>(s.column_int(3));
    m.make = s.column_opt_text(4);
    m.model = s.column_opt_text(5);
    m.firmware = s.column_opt_text(6);
    m.firmware_version = s.column_opt_text(7);
    m.driver = s.column_opt_text(8);
    m.serial = s.column_opt_text(9);
    m.mac = s.column_opt_text(10);
    m.first_seen = from_ms(s.column_int(11));
    m.last_seen = from_ms(s.column_int(12));
    if (auto up = s.column_opt_int(13)) m.last_up = from_ms(*up);
    m.labels = parse_labels(s.column_text(14));
    m.agent_id = s.column_opt_text(15);
    return m;
}

// Identity columns follow the newest sample; a sample that does not report a field (a failed
// poll knows no model) keeps what was known, and an older sample (a spooled batch arriving
// late) only fills gaps.
std::string miner_upsert_sql() {
    std::string sql =
        "INSERT INTO miners (miner_id, site, host, port, make, model, firmware, "
        "firmware_version, driver, serial, mac, first_seen_ms, last_seen_ms, last_up_ms, agent_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14) "
        "ON CONFLICT (miner_id) DO UPDATE SET ";
    const std::string newer = "excluded.last_seen_ms >= miners.last_seen_ms";
    // agent_id too: a late batch from an agent the miner has left must not take its commands.
    for (std::string_view col : {"site", "make", "model", "firmware", "firmware_version", "driver",
                                 "serial", "mac", "agent_id"}) {
        const std::string c(col);
        sql += c + " = CASE WHEN " + newer + " THEN coalesce(excluded." + c + ", miners." + c +
               ") ELSE coalesce(miners." + c + ", excluded." + c + ") END, ";
    }
    for (std::string_view col : {"host", "port"}) {
        const std::string c(col);
        sql += c + " = CASE WHEN " + newer + " THEN excluded." + c + " ELSE miners." + c + " END, ";
    }
    sql +=
        "first_seen_ms = min(miners.first_seen_ms, excluded.first_seen_ms), "
        "last_seen_ms = max(miners.last_seen_ms, excluded.last_seen_ms), "
        "last_up_ms = max(coalesce(miners.last_up_ms, excluded.last_up_ms), "
        "coalesce(excluded.last_up_ms, miners.last_up_ms))";
    return sql;
}

constexpr std::string_view kSampleInsertSql =
    "INSERT INTO samples (miner_id, observed_at_ms, up, state, error, hashrate_ths, "
    "hashrate_avg_ths, expected_hashrate_ths, power_w, power_source, power_limit_w, "
    "chip_temp_max_c, board_temp_max_c, inlet_temp_c, hw_errors_total, uptime_s, sample_json, "
    "sample_zstd, sample_dict) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, '', ?17, "
    "?18) "
    "ON CONFLICT DO NOTHING";

std::string skew_text(milliseconds d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    return s >= 120 ? std::to_string(s / 60) + " min" : std::to_string(s) + " s";
}

// `received_at` is the collector's clock. A sample observed further ahead of it than
// kMaxFutureSkew comes from an agent whose clock is wrong: stored, it would sit in
// miners.last_seen_ms (the miner "seen" until that time comes), in the latest sample and in a
// bucket no run has reached, so it is refused with the batch instead.
void validate(const IngestBatch& batch, TimePoint received_at) {
    if (batch.agent_id.empty()) throw InvalidBatch(std::nullopt, "agent_id", "empty");
    for (std::size_t i = 0; i < batch.samples.size(); ++i) {
        const auto& s = batch.samples[i];
        if (s.miner_id.empty()) throw InvalidBatch(i, "miner_id", "empty");
        if (to_ms(s.observed_at) <= 0)
            throw InvalidBatch(i, "observed_at", "missing or before 1970");
        if (s.observed_at > received_at + kMaxFutureSkew) {
            throw InvalidBatch(
                i, "observed_at",
                format_time(s.observed_at) + " is " + skew_text(s.observed_at - received_at) +
                    " ahead of the collector's clock (" + format_time(received_at) + "; at most " +
                    skew_text(kMaxFutureSkew) + " allowed): check the agent host's clock (NTP)");
        }
        if (s.host.empty()) throw InvalidBatch(i, "host", "empty");
    }
}

struct Level {
    std::string_view name;   // rollup_progress.level
    std::string_view table;  // rollups_5m, rollups_1h
    std::int64_t step_ms;
};

constexpr Level kLevels[] = {{"5m", "rollups_5m", kFiveMinutesMs},
                             {"1h", "rollups_1h", kOneHourMs}};

std::string_view table_for(Resolution r) {
    return r == Resolution::five_minutes ? "rollups_5m" : "rollups_1h";
}

std::array<std::int64_t, std::size(kLevels)> read_rolled_up_until(sqlite::Database& db) {
    std::array<std::int64_t, std::size(kLevels)> out{};
    auto q = db.prepare("SELECT level, done_until_ms FROM rollup_progress");
    while (q.step()) {
        for (std::size_t i = 0; i < std::size(kLevels); ++i) {
            if (q.column_view(0) == kLevels[i].name) out[i] = q.column_int(1);
        }
    }
    return out;
}

constexpr std::string_view kRollupColumns =
    " (miner_id, bucket_start_ms, sample_count, hashrate_avg_ths, hashrate_min_ths, "
    "hashrate_max_ths, power_avg_w, power_min_w, power_max_w, chip_temp_avg_c, "
    "chip_temp_min_c, chip_temp_max_c, up_fraction) ";

// avg, min and max over the values present, as SQL's aggregates have them (NULLs skipped,
// NULL when there are none).
struct RunningStat {
    double sum = 0, min = 0, max = 0;
    std::int64_t n = 0;

    void add(std::optional<double> v) {
        if (!v) return;
        if (n == 0 || *v < min) min = *v;
        if (n == 0 || *v > max) max = *v;
        sum += *v;
        ++n;
    }
    std::optional<double> avg() const {
        return n ? std::optional<double>(sum / static_cast<double>(n)) : std::nullopt;
    }
    std::optional<double> low() const { return n ? std::optional<double>(min) : std::nullopt; }
    std::optional<double> high() const { return n ? std::optional<double>(max) : std::nullopt; }
};

struct RollupBucket {
    std::int64_t count = 0, up = 0;
    RunningStat hashrate, power, chip_temp;
};

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// One level's new buckets, fed the samples of [from, to) in time order. A bucket is a time
// range, so its samples arrive together: only the current bucket's miners are held, and each
// is written once the scan passes its end. Done in C++ because SQL's GROUP BY sorted every
// row of the range first, which cost more than the rest of the pass.
class FreshRollup {
  public:
    FreshRollup(sqlite::Database& db, const Level& level, std::int64_t from_ms, std::int64_t to_ms)
        : insert_(db.prepare("INSERT OR REPLACE INTO " + std::string(level.table) +
                             std::string(kRollupColumns) +
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"))
        , step_ms_(level.step_ms)
        , from_ms_(from_ms)
        , to_ms_(to_ms) {}

    std::int64_t from_ms() const { return from_ms_; }
    std::int64_t to_ms() const { return to_ms_; }
    std::int64_t step_ms() const { return step_ms_; }
    std::int64_t written() const { return written_; }
    bool wants(std::int64_t at_ms) const { return at_ms >= from_ms_ && at_ms < to_ms_; }

    void add(std::string_view miner_id, std::int64_t at_ms, bool up, std::optional<double> hashrate,
             std::optional<double> power, std::optional<double> chip_temp) {
        const std::int64_t bucket = at_ms / step_ms_ * step_ms_;
        if (bucket != bucket_ms_) {
            flush();
            bucket_ms_ = bucket;
        }
        auto it = miners_.find(miner_id);
        if (it == miners_.end()) it = miners_.emplace(std::string(miner_id), RollupBucket{}).first;
        RollupBucket& b = it->second;
        ++b.count;
        b.up += up ? 1 : 0;
        b.hashrate.add(hashrate);
        b.power.add(power);
        b.chip_temp.add(chip_temp);
    }

    void flush() {
        for (const auto& [miner_id, b] : miners_) {
            insert_.reset();
            insert_.bind(1, miner_id)
                .bind(2, bucket_ms_)
                .bind(3, b.count)
                .bind(4, b.hashrate.avg())
                .bind(5, b.hashrate.low())
                .bind(6, b.hashrate.high())
                .bind(7, b.power.avg())
                .bind(8, b.power.low())
                .bind(9, b.power.high())
                .bind(10, b.chip_temp.avg())
                .bind(11, b.chip_temp.low())
                .bind(12, b.chip_temp.high())
                .bind(13, static_cast<double>(b.up) / static_cast<double>(b.count));
            insert_.run();
            ++written_;
        }
        miners_.clear();
    }

  private:
    sqlite::Statement insert_;
    std::int64_t step_ms_, from_ms_, to_ms_;
    std::int64_t bucket_ms_ = 0;
    std::int64_t written_ = 0;
    std::unordered_map<std::string, RollupBucket, StringHash, std::equal_to<>> miners_;
};

}  // namespace

InvalidBatch::InvalidBatch(std::optional<std::size_t> sample_index, std::string field,
                           const std::string& why)
    : std::runtime_error((sample_index ? "samples[" + std::to_string(*sample_index) + "]." : "") +
                         field + ": " + why)
    , sample_index_(sample_index)
    , field_(std::move(field)) {}

Store::Store(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}

Store::~Store() = default;

namespace {

TimePoint or_now(TimePoint t) {
    return t == TimePoint{} ? std::chrono::time_point_cast<milliseconds>(Clock::now()) : t;
}

}  // namespace

IngestResult Store::ingest(const IngestBatch& batch, TimePoint received_at) {
    received_at = or_now(received_at);
    validate(batch, received_at);
    std::lock_guard lock(impl_->write_mutex);
    sqlite::Transaction tx(impl_->write_db);
    const IngestResult result = ingest_rows(*impl_, batch, received_at);
    tx.commit();
    train_dictionary_when_due(*impl_, received_at);
    return result;
}

std::vector<GroupedIngest> Store::ingest_group(std::span<const IngestBatch* const> batches,
                                               TimePoint received_at) {
    std::vector<GroupedIngest> out(batches.size());
    received_at = or_now(received_at);
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    sqlite::Transaction tx(db);
    std::size_t i = 0;
    for (; i < batches.size(); ++i) {
        try {
            validate(*batches[i], received_at);
        } catch (...) {
            out[i].error = std::current_exception();
            continue;
        }
        // A savepoint per batch: a batch that fails is undone alone and its neighbours in the
        // group still commit, as they would have in transactions of their own.
        db.exec("SAVEPOINT batch");
        try {
            out[i].result = ingest_rows(*impl_, *batches[i], received_at);
            db.exec("RELEASE batch");
        } catch (...) {
            out[i].error = std::current_exception();
            try {
                db.exec("ROLLBACK TO batch; RELEASE batch");
            } catch (...) {
            }
            // Some errors (disk full, I/O) end the whole transaction in SQLite; what is left of
            // the group must not run outside one.
            if (!db.in_transaction()) break;
        }
    }
    // Nothing of the group is committed: every batch not already refused gets the error.
    const auto fail_all = [&out](const std::exception_ptr& error) {
        for (auto& o : out) {
            if (!o.error) o.error = error;
        }
        return out;
    };
    if (i < batches.size()) return fail_all(out[i].error);
    try {
        tx.commit();
    } catch (...) {
        return fail_all(std::current_exception());
    }
    train_dictionary_when_due(*impl_, received_at);
    return out;
}

void Store::train_dictionary_when_due(Impl& impl, TimePoint now) {
    if (impl.compressor.dictionary_id() || impl.training.size() < kSampleDictTrainingSamples) {
        return;
    }
    // Outside the batches' transaction, so that the dictionary row a compressor refers to is
    // always committed: a batch rolled back cannot take it with it.
    std::vector<std::string> texts = std::move(impl.training);
    impl.training = {};
    const std::string dict = train_sample_dictionary(texts);
    if (dict.empty()) {
        // Too little to learn from (a handful of identical rigs): rows stay compressed without
        // one, and the next samples are tried again.
        log::info("sample dictionary not trained: too little variety in the samples",
                  {{"samples", std::to_string(texts.size())}});
        return;
    }
    try {
        auto& db = impl.write_db;
        sqlite::Transaction tx(db);
        auto q = db.prepare(
            "INSERT INTO sample_dicts (created_at_ms, trained_on, dict) VALUES (?1, ?2, ?3)");
        q.bind(1, to_ms(now)).bind(2, static_cast<std::int64_t>(texts.size())).bind_blob(3, dict);
        q.run();
        const std::int64_t id = db.query_int("SELECT last_insert_rowid()");
        tx.commit();
        impl.compressor.use_dictionary(id, dict);
        log::info("sample dictionary trained", {{"dict_id", std::to_string(id)},
                                                {"bytes", std::to_string(dict.size())},
                                                {"samples", std::to_string(texts.size())}});
    } catch (const std::exception& e) {
        // Ingest goes on without one; the next samples are collected to try again.
        log::warn("cannot store the sample dictionary", {{"error", e.what()}});
    }
}

IngestResult Store::ingest_rows(Impl& impl, const IngestBatch& batch, TimePoint received_at) {
    auto& db = impl.write_db;
    // Prepared once: at 500 samples a batch and a hundred batches a second, parsing the three
    // statements again each time was a measurable share of ingest.
    auto& cache = impl.ingest;
    if (!cache.mark) {
        cache.mark = std::make_unique<sqlite::Statement>(
            db.prepare("INSERT INTO ingest_batches (agent_id, batch_seq, received_at_ms, samples) "
                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"));
        cache.upsert = std::make_unique<sqlite::Statement>(db.prepare(miner_upsert_sql()));
        cache.insert = std::make_unique<sqlite::Statement>(db.prepare(kSampleInsertSql));
        cache.dirty = std::make_unique<sqlite::Statement>(
            db.prepare("INSERT OR IGNORE INTO rollup_dirty (level, miner_id, bucket_start_ms) "
                       "VALUES (?1, ?2, ?3)"));
    }
    if (!impl.rolled_up_until) impl.rolled_up_until = read_rolled_up_until(db);
    const auto& rolled_up_until = *impl.rolled_up_until;
    auto& mark = *cache.mark;
    mark.reset();
    mark.bind(1, batch.agent_id)
        .bind(2, batch.batch_seq)
        .bind(3, to_ms(received_at))
        .bind(4, static_cast<std::int64_t>(batch.samples.size()));
    mark.run();
    if (db.changes() == 0) return IngestResult{0, true};  // seen before: nothing written

    auto& upsert = *cache.upsert;
    auto& insert = *cache.insert;
    IngestResult result;
    RowJson json;
    const bool have_texts = batch.sample_texts.size() == batch.samples.size();
    for (std::size_t i = 0; i < batch.samples.size(); ++i) {
        const MinerSample& original = batch.samples[i];
        const MinerSample* s = &original;
        MinerSample with_site;
        // A sample that takes its site from the batch is stored with it, so it is encoded
        // anew; otherwise the text it came as is the row.
        const bool fill_site = !original.site && batch.site;
        if (fill_site) {
            with_site = original;
            with_site.site = batch.site;
            s = &with_site;
        }
        const std::int64_t at = to_ms(s->observed_at);

        upsert.reset();
        upsert.bind(1, s->miner_id)
            .bind(2, s->site)
            .bind(3, s->host)
            .bind(4, static_cast<std::int64_t>(s->port))
            .bind(5, s->make)
            .bind(6, s->model)
            .bind(7, s->firmware)
            .bind(8, s->firmware_version)
            .bind(9, s->driver)
            .bind(10, s->serial)
            .bind(11, s->mac)
            .bind(12, at);
        if (s->up) {
            upsert.bind(13, at);
        } else {
            upsert.bind_null(13);
        }
        upsert.bind(14, batch.agent_id);
        upsert.run();

        const bool use_text = have_texts && !fill_site;
        if (!use_text) json.fill(*s);
        insert.reset();
        insert.bind(1, s->miner_id)
            .bind(2, at)
            .bind(3, s->up)
            .bind(4, to_string(s->state))
            .bind(5,
                  s->error ? std::optional<std::string_view>(to_string(*s->error)) : std::nullopt)
            .bind(6, s->hashrate_ths)
            .bind(7, s->hashrate_avg_ths)
            .bind(8, s->expected_hashrate_ths)
            .bind(9, s->power_w)
            .bind(10, s->power_source ? std::optional<std::string_view>(to_string(*s->power_source))
                                      : std::nullopt)
            .bind(11, s->power_limit_w)
            .bind(12, max_over_boards(*s, &BoardSample::chip_temp_max_c))
            .bind(13, max_over_boards(*s, &BoardSample::board_temp_max_c))
            .bind(14, s->inlet_temp_c)
            .bind(15, s->hw_errors_total)
            .bind(16, s->uptime_s);
        const std::string_view text =
            use_text ? batch.sample_texts[i] : std::string_view(json.sample);
        insert.bind_blob(17, impl.compressor.compress(text))
            .bind(18, impl.compressor.dictionary_id());
        insert.run();
        if (db.changes() == 0) continue;  // already stored
        ++result.stored;
        if (!impl.compressor.dictionary_id() && impl.training.size() < kSampleDictTrainingSamples) {
            impl.training.emplace_back(text);
        }
        // A sample in a bucket already rolled up (a spooled batch arriving late): that bucket
        // is recomputed at the next run.
        for (std::size_t l = 0; l < std::size(kLevels); ++l) {
            if (at >= rolled_up_until[l]) continue;
            auto& dirty = *cache.dirty;
            dirty.reset();
            dirty.bind(1, kLevels[l].name)
                .bind(2, s->miner_id)
                .bind(3, at / kLevels[l].step_ms * kLevels[l].step_ms);
            dirty.run();
        }
    }
    return result;
}

std::vector<MinerRecord> Store::miners() const {
    std::lock_guard lock(impl_->read_mutex);
    auto s = impl_->read_db.prepare("SELECT " + std::string(kMinerColumns) +
                                    " FROM miners ORDER BY miner_id");
    std::vector<MinerRecord> out;
    while (s.step()) out.push_back(read_miner(s));
    return out;
}

std::optional<MinerRecord> Store::miner(const std::string& miner_id) const {
    std::lock_guard lock(impl_->read_mutex);
    auto s = impl_->read_db.prepare("SELECT " + std::string(kMinerColumns) +
                                    " FROM miners WHERE miner_id = ?1");
    s.bind(1, miner_id);
    if (!s.step()) return std::nullopt;
    return read_miner(s);
}

void Store::set_labels(const std::string& miner_id,
                       const std::map<std::string, std::string>& labels) {
    std::lock_guard lock(impl_->write_mutex);
    auto s = impl_->write_db.prepare("UPDATE miners SET labels_json = ?2 WHERE miner_id = ?1");
    s.bind(1, miner_id).bind(2, labels_json(labels));
    s.run();
    if (impl_->write_db.changes() == 0) {
        throw std::out_of_range("no miner with id '" + miner_id + "'");
    }
}

std::vector<MinerSample> Store::samples(const std::string& miner_id, TimePoint from,
                                        TimePoint to) const {
    std::lock_guard lock(impl_->read_mutex);
    // The slots walked are only those between the miner's first and last sample.
    auto s = impl_->read_db.prepare(
        slot_range_cte("max(?2, (SELECT first_seen_ms FROM miners WHERE miner_id = ?1))",
                       "min(?3, (SELECT last_seen_ms + 1 FROM miners WHERE miner_id = ?1))") +
        "SELECT s.sample_json, s.sample_zstd, s.sample_dict " + slot_join("?1") +
        "WHERE s.observed_at_ms >= ?2 AND s.observed_at_ms < ?3 ORDER BY s.observed_at_ms");
    s.bind(1, miner_id).bind(2, to_ms(from)).bind(3, to_ms(to));
    std::vector<MinerSample> out;
    while (s.step()) out.push_back(decode_sample(stored_sample_text(s, 0, impl_->decompressor)));
    return out;
}

std::vector<MinerSample> Store::latest_samples() const {
    std::lock_guard lock(impl_->read_mutex);
    // The miners table knows each miner's newest time, so this is one index probe per miner.
    auto s = impl_->read_db.prepare(
        "SELECT s.sample_json, s.sample_zstd, s.sample_dict FROM miners m "
        "JOIN samples s INDEXED BY samples_slot_miner_time "
        "ON s.observed_at_ms / 300000 = m.last_seen_ms / 300000 AND s.miner_id = m.miner_id "
        "AND s.observed_at_ms = m.last_seen_ms ORDER BY m.miner_id");
    std::vector<MinerSample> out;
    while (s.step()) out.push_back(decode_sample(stored_sample_text(s, 0, impl_->decompressor)));
    return out;
}

Resolution Store::resolution_for(std::chrono::milliseconds range) noexcept {
    if (range <= std::chrono::hours{6}) return Resolution::raw;
    if (range <= std::chrono::days{7}) return Resolution::five_minutes;
    return Resolution::one_hour;
}

RollupSeries Store::rollup(const std::string& miner_id, TimePoint from, TimePoint to,
                           std::optional<Resolution> resolution) const {
    RollupSeries series;
    series.resolution = resolution ? *resolution : resolution_for(to - from);
    std::string sql;
    std::int64_t start_ms = to_ms(from);
    if (series.resolution == Resolution::raw) {
        sql = slot_range_cte("max(?2, (SELECT first_seen_ms FROM miners WHERE miner_id = ?1))",
                             "min(?3, (SELECT last_seen_ms + 1 FROM miners WHERE miner_id = ?1))") +
              "SELECT s.observed_at_ms, 1, s.hashrate_ths, s.hashrate_ths, s.hashrate_ths, "
              "s.power_w, s.power_w, s.power_w, s.chip_temp_max_c, s.chip_temp_max_c, "
              "s.chip_temp_max_c, s.up " +
              slot_join("?1") +
              "WHERE s.observed_at_ms >= ?2 AND s.observed_at_ms < ?3 ORDER BY s.observed_at_ms";
    } else {
        // A bucket that starts before `from` but overlaps it is included.
        const std::int64_t step =
            series.resolution == Resolution::five_minutes ? kFiveMinutesMs : kOneHourMs;
        start_ms -= ((start_ms % step) + step) % step;
        sql =
            "SELECT bucket_start_ms, sample_count, hashrate_avg_ths, hashrate_min_ths, "
            "hashrate_max_ths, power_avg_w, power_min_w, power_max_w, chip_temp_avg_c, "
            "chip_temp_min_c, chip_temp_max_c, up_fraction FROM " +
            std::string(table_for(series.resolution)) +
            " WHERE miner_id = ?1 AND bucket_start_ms >= ?2 AND bucket_start_ms < ?3 "
            "ORDER BY bucket_start_ms";
    }
    std::lock_guard lock(impl_->read_mutex);
    auto s = impl_->read_db.prepare(sql);
    s.bind(1, miner_id).bind(2, start_ms).bind(3, to_ms(to));
    while (s.step()) {
        RollupPoint p;
        p.bucket_start = from_ms(s.column_int(0));
        p.sample_count = s.column_int(1);
        p.hashrate_avg_ths = s.column_opt_double(2);
        p.hashrate_min_ths = s.column_opt_double(3);
        p.hashrate_max_ths = s.column_opt_double(4);
        p.power_avg_w = s.column_opt_double(5);
        p.power_min_w = s.column_opt_double(6);
        p.power_max_w = s.column_opt_double(7);
        p.chip_temp_avg_c = s.column_opt_double(8);
        p.chip_temp_min_c = s.column_opt_double(9);
        p.chip_temp_max_c = s.column_opt_double(10);
        p.up_fraction = s.column_double(11);
        series.points.push_back(p);
    }
    return series;
}

RollupResult Store::run_rollups(TimePoint now) {
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    sqlite::Transaction tx(db);
    const std::int64_t max_id = db.query_int("SELECT coalesce(max(sample_id), 0) FROM samples");
    RollupResult result;
    struct Progress {
        std::int64_t done_until = 0;  // buckets before this were rolled up by an earlier run
        std::int64_t complete_end = 0;
        bool skip = false;
    };
    std::array<Progress, std::size(kLevels)> progress;
    std::vector<FreshRollup> fresh;
    for (std::size_t i = 0; i < std::size(kLevels); ++i) {
        const Level& level = kLevels[i];
        Progress& p = progress[i];
        auto q = db.prepare("SELECT done_until_ms FROM rollup_progress WHERE level = ?1");
        q.bind(1, level.name);
        if (q.step()) p.done_until = q.column_int(0);
        p.complete_end = to_ms(now) / level.step_ms * level.step_ms;
        auto dirty = db.prepare("SELECT EXISTS (SELECT 1 FROM rollup_dirty WHERE level = ?1)");
        dirty.bind(1, level.name);
        p.skip = p.complete_end <= p.done_until && !(dirty.step() && dirty.column_int(0) != 0);
        if (!p.skip && p.complete_end > p.done_until) {
            fresh.emplace_back(db, level, p.done_until, p.complete_end);
        }
    }
    // Buckets completed since the last run, of both levels in one pass over the time index.
    if (!fresh.empty()) {
        std::int64_t from = fresh.front().from_ms(), to = fresh.front().to_ms();
        for (const auto& f : fresh) {
            from = std::min(from, f.from_ms());
            to = std::max(to, f.to_ms());
        }
        auto scan = db.prepare(
            "SELECT miner_id, observed_at_ms, up, hashrate_ths, power_w, chip_temp_max_c "
            "FROM samples INDEXED BY samples_time_rollup "
            "WHERE observed_at_ms >= ?1 AND observed_at_ms < ?2 ORDER BY observed_at_ms");
        scan.bind(1, from).bind(2, to);
        while (scan.step()) {
            const std::int64_t at = scan.column_int(1);
            for (auto& f : fresh) {
                if (f.wants(at)) {
                    f.add(scan.column_view(0), at, scan.column_int(2) != 0,
                          scan.column_opt_double(3), scan.column_opt_double(4),
                          scan.column_opt_double(5));
                }
            }
        }
        for (auto& f : fresh) {
            f.flush();
            (f.step_ms() == kFiveMinutesMs ? result.buckets_5m : result.buckets_1h) += f.written();
        }
    }
    for (std::size_t i = 0; i < std::size(kLevels); ++i) {
        const Level& level = kLevels[i];
        const Progress& p = progress[i];
        if (p.skip) continue;
        // Older buckets that received a late sample (ingest listed them in rollup_dirty) are
        // recomputed whole. They are few, so SQL's GROUP BY does; each is read through the
        // sample slots it spans (one for 5 min, twelve for 1 h), the way the samples index is
        // keyed.
        auto late = db.prepare(
            "WITH RECURSIVE dirty AS (SELECT miner_id, bucket_start_ms AS b "
            "FROM rollup_dirty WHERE level = ?2), "
            "dslot(miner_id, b, k) AS (SELECT miner_id, b, b / 300000 FROM dirty UNION ALL "
            "SELECT miner_id, b, k + 1 FROM dslot WHERE k + 1 < (b + ?1) / 300000) "
            "INSERT OR REPLACE INTO " +
            std::string(level.table) + std::string(kRollupColumns) + "SELECT s.miner_id, d.b, " +
            "count(*), avg(s.hashrate_ths), min(s.hashrate_ths), max(s.hashrate_ths), "
            "avg(s.power_w), min(s.power_w), max(s.power_w), avg(s.chip_temp_max_c), "
            "min(s.chip_temp_max_c), max(s.chip_temp_max_c), avg(s.up) "
            "FROM dslot d JOIN samples s INDEXED BY samples_slot_miner_time "
            "ON s.observed_at_ms / 300000 = d.k "
            "AND s.miner_id = d.miner_id GROUP BY s.miner_id, d.b");
        late.bind(1, level.step_ms).bind(2, level.name);
        late.run();
        (level.step_ms == kFiveMinutesMs ? result.buckets_5m : result.buckets_1h) += db.changes();
        auto clear = db.prepare("DELETE FROM rollup_dirty WHERE level = ?1");
        clear.bind(1, level.name);
        clear.run();

        auto save = db.prepare(
            "INSERT INTO rollup_progress (level, done_until_ms, last_sample_id) "
            "VALUES (?1, ?2, ?3) ON CONFLICT (level) DO UPDATE SET "
            "done_until_ms = excluded.done_until_ms, last_sample_id = excluded.last_sample_id");
        save.bind(1, level.name).bind(2, std::max(p.complete_end, p.done_until)).bind(3, max_id);
        save.run();
    }
    tx.commit();
    auto& until = impl_->rolled_up_until.emplace();
    for (std::size_t i = 0; i < std::size(kLevels); ++i) {
        until[i] = std::max(progress[i].complete_end, progress[i].done_until);
    }
    return result;
}

RetentionResult Store::apply_retention(TimePoint now, const RetentionHorizons& horizons) {
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    sqlite::Transaction tx(db);
    RetentionResult result;
    const auto delete_before = [&](std::string_view sql, std::int64_t cutoff_ms) {
        auto s = db.prepare(sql);
        s.bind(1, cutoff_ms);
        s.run();
        return db.changes();
    };
    if (horizons.raw) {
        const std::int64_t cutoff = to_ms(now) - horizons.raw->count();
        result.samples_deleted =
            delete_before("DELETE FROM samples WHERE observed_at_ms < ?1", cutoff);
        result.batches_deleted =
            delete_before("DELETE FROM ingest_batches WHERE received_at_ms < ?1", cutoff);
        // Each miner's newest sleep or wake stays whatever its age: it is the state hashwatt
        // wants the miner in (the MinerStateUnexpected alert, and the policy's last word).
        result.commands_deleted = delete_before(
            "DELETE FROM commands WHERE finished_at_ms < ?1 AND status NOT IN ('queued', 'sent') "
            "AND id NOT IN (SELECT id FROM (SELECT id, MAX(created_at_ms) FROM commands "
            "WHERE type IN ('sleep', 'wake') AND status != 'unsupported' GROUP BY miner_id))",
            cutoff);
        // Alert history as far back as the samples; alerts that are over (resolved, or
        // inactive) and untouched since go with it. Firing and pending ones stay.
        result.alert_events_deleted =
            delete_before("DELETE FROM alert_events WHERE at_ms < ?1", cutoff);
        result.alerts_deleted = delete_before(
            "DELETE FROM alerts WHERE state IN ('resolved', 'inactive') AND updated_at_ms < ?1",
            cutoff);
        // Policy decisions likewise, but each miner's newest: it says why a miner asleep for
        // weeks is asleep.
        result.decisions_deleted = delete_before(
            "DELETE FROM decisions WHERE at_ms < ?1 AND decision_id NOT IN "
            "(SELECT MAX(decision_id) FROM decisions GROUP BY miner_id)",
            cutoff);
        // Overrides that ended before the horizon: they no longer act, and the decisions
        // that name them are what history needs.
        result.overrides_deleted =
            delete_before("DELETE FROM policy_overrides WHERE end_ms < ?1", cutoff);
    }
    // A bucket goes once all of it is past the horizon.
    if (horizons.rollup_5m) {
        const std::int64_t cutoff = to_ms(now) - horizons.rollup_5m->count() - kFiveMinutesMs;
        result.rollups_5m_deleted =
            delete_before("DELETE FROM rollups_5m WHERE bucket_start_ms < ?1", cutoff + 1);
    }
    if (horizons.rollup_1h) {
        const std::int64_t cutoff = to_ms(now) - horizons.rollup_1h->count() - kOneHourMs;
        result.rollups_1h_deleted =
            delete_before("DELETE FROM rollups_1h WHERE bucket_start_ms < ?1", cutoff + 1);
    }
    tx.commit();
    return result;
}

void Store::set_auto_checkpoint(bool on) {
    std::lock_guard lock(impl_->write_mutex);
    if (on) {
        impl_->write_db.exec("PRAGMA wal_autocheckpoint=" + std::to_string(kWalCheckpointPages));
    } else {
        impl_->write_db.watch_wal(&impl_->wal_frames);
    }
}

std::int64_t Store::wal_frames() const { return impl_->wal_frames.load(); }

Store::CheckpointResult Store::checkpoint(bool restart) {
    std::lock_guard lock(impl_->checkpoint_mutex);
    if (!impl_->checkpoint_db) {
        auto& db = impl_->checkpoint_db.emplace(impl_->path);
        configure_connection(db);
        // A restart waits this long for the writer's transaction and readers' snapshots, then
        // gives up until the next try: the writer waits behind it, so not for long.
        db.busy_timeout_ms(200);
    }
    auto q = impl_->checkpoint_db->prepare(restart ? "PRAGMA wal_checkpoint(RESTART)"
                                                   : "PRAGMA wal_checkpoint(PASSIVE)");
    CheckpointResult r;
    if (q.step()) {
        r.busy = q.column_int(0) != 0;
        r.wal_frames = q.column_int(1);
        r.checkpointed = q.column_int(2);
    }
    return r;
}

void Store::with_write(const std::function<void(sqlite::Database&)>& f) {
    std::lock_guard lock(impl_->write_mutex);
    f(impl_->write_db);
}

void Store::with_read(const std::function<void(sqlite::Database&)>& f) const {
    std::lock_guard lock(impl_->read_mutex);
    f(impl_->read_db);
}

std::string Store::integrity_check() const {
    std::lock_guard lock(impl_->read_mutex);
    auto s = impl_->read_db.prepare("PRAGMA integrity_check");
    return s.step() ? s.column_text(0) : std::string("no result");
}

int Store::schema_version() const {
    std::lock_guard lock(impl_->read_mutex);
    return static_cast<int>(impl_->read_db.query_int("PRAGMA user_version"));
}

}  // namespace hashwatt::collector
