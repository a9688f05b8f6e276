// The collector's storage: ingest of agent batches, the miners table, raw samples, rollups and
// retention, on one SQLite file (schema in docs/storage.md). Writes go through one connection
// and reads through another, so a long read never waits on a commit (WAL). Each public call is
// safe from any thread; the write side is meant to be driven by one StoreWriter thread.
#pragma once

#include "collector/storage/sqlite.hpp"
#include "common/command.hpp"
#include "common/miner_sample.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::collector {

// What POST /api/v1/ingest carries.
struct IngestBatch {
    std::string agent_id;
    std::optional<std::string> site;  // fills in samples that carry no site of their own
    std::int64_t batch_seq = 0;
    std::vector<MinerSample> samples;
    // The JSON text each sample arrived as, when the caller has it (HTTP ingest): stored as
    // sample_json instead of encoding the decoded sample again, so the row keeps exactly what
    // the agent sent (fields this version does not know included). Empty, or one per sample.
    // Views into the caller's buffer (the request body), which must outlive Store::ingest of
    // this batch; HTTP ingest holds the body until the writer has answered. Copying each
    // sample's 1.6 KB out of the body was a malloc and a copy per sample.
    std::vector<std::string_view> sample_texts;
};

struct IngestResult {
    std::size_t stored = 0;  // samples written (a repeat of a stored (miner_id, time) is skipped)
    bool duplicate = false;  // (agent_id, batch_seq) was seen before; nothing was written
};

// One batch's part of Store::ingest_group: its result, or what ingest would have thrown.
struct GroupedIngest {
    IngestResult result;
    std::exception_ptr error;
};

// A batch refused as a whole before anything was written. sample_index is nullopt when the
// batch itself is wrong (empty agent_id); field names what ("miner_id").
class InvalidBatch : public std::runtime_error {
  public:
    InvalidBatch(std::optional<std::size_t> sample_index, std::string field,
                 const std::string& why);
    const std::optional<std::size_t>& sample_index() const noexcept { return sample_index_; }
    const std::string& field() const noexcept { return field_; }

  private:
    std::optional<std::size_t> sample_index_;
    std::string field_;
};

// One row of the miners table: identity as last reported, and when it was seen.
struct MinerRecord {
    std::string miner_id;
    std::optional<std::string> site;
    std::string host;
    std::uint16_t port = 0;
    std::optional<std::string> make;
    std::optional<std::string> model;
    std::optional<std::string> firmware;
    std::optional<std::string> firmware_version;
    std::optional<std::string> driver;
    std::optional<std::string> serial;
    std::optional<std::string> mac;
    TimePoint first_seen{};
    TimePoint last_seen{};
    std::optional<TimePoint> last_up;  // last sample with up == true
    std::map<std::string, std::string> labels;
    // The agent whose newest sample was ingested; nullopt for miners stored before commands.
    std::optional<std::string> agent_id;

    bool operator==(const MinerRecord&) const = default;
};

enum class Resolution { raw, five_minutes, one_hour };

// One bucket of a series. For raw resolution each sample is one point with sample_count 1.
// Averages, minima and maxima are over the samples that reported the value (nullopt if none).
struct RollupPoint {
    TimePoint bucket_start{};
    std::int64_t sample_count = 0;
    std::optional<double> hashrate_avg_ths, hashrate_min_ths, hashrate_max_ths;
    std::optional<double> power_avg_w, power_min_w, power_max_w;
    std::optional<double> chip_temp_avg_c, chip_temp_min_c, chip_temp_max_c;
    double up_fraction = 0;

    bool operator==(const RollupPoint&) const = default;
};

struct RollupSeries {
    Resolution resolution = Resolution::raw;
    std::vector<RollupPoint> points;
};

// How long each level is kept; nullopt keeps it forever. Ingest batch records (for idempotence)
// and final commands follow the raw horizon (the samples that verified them are gone by then).
struct RetentionHorizons {
    std::optional<std::chrono::milliseconds> raw = std::chrono::days{14};
    std::optional<std::chrono::milliseconds> rollup_5m = std::chrono::days{365};
    std::optional<std::chrono::milliseconds> rollup_1h = std::nullopt;
};

struct RetentionResult {
    std::int64_t samples_deleted = 0;
    std::int64_t batches_deleted = 0;
    // Final commands finished before the raw horizon, but each miner's newest sleep or wake.
    std::int64_t commands_deleted = 0;
    std::int64_t alert_events_deleted = 0;  // alert history before the raw horizon
    std::int64_t alerts_deleted = 0;        // resolved alerts not updated since the raw horizon
    std::int64_t decisions_deleted = 0;     // policy decisions before it, but each miner's newest
    std::int64_t overrides_deleted = 0;     // policy overrides that ended before it
    std::int64_t rollups_5m_deleted = 0;
    std::int64_t rollups_1h_deleted = 0;
};

struct RollupResult {
    std::int64_t buckets_5m = 0;  // buckets written (new or recomputed for late samples)
    std::int64_t buckets_1h = 0;
};

// Which miners a new command goes to: exactly one of the three is set.
struct CommandSelector {
    std::vector<std::string> miners;
    std::optional<std::string> site;
    std::map<std::string, std::string> labels;  // a miner matches when it has every pair
};

struct CommandRequest {
    CommandType type = CommandType::sleep;
    std::optional<double> power_target_w;  // required for set_power_target, absent otherwise
    CommandSelector selector;
    std::chrono::milliseconds deadline{std::chrono::minutes(10)};  // from creation
};

// A command as the collector keeps it: the wire Command, where it goes, and what came of it.
// `status` is the collector's verdict; `agent_status` what the agent reported (the collector
// calls a command succeeded only once a stored sample shows it in effect).
struct CommandRecord {
    Command command;  // deadline always set
    std::string agent_id;
    CommandStatus status = CommandStatus::queued;
    std::optional<TimePoint> sent_at;
    std::optional<TimePoint> finished_at;  // set with a final status
    std::optional<std::string> message;
    std::optional<TimePoint> verified_at;  // when a sample showed it in effect
    std::optional<CommandStatus> agent_status;
    std::optional<std::string> agent_message;
    std::optional<TimePoint> agent_finished_at;

    bool operator==(const CommandRecord&) const = default;
};

// succeeded, failed, unsupported and timed_out: nothing changes a command after that.
bool is_final(CommandStatus s) noexcept;

// A command request or result refused before anything was written. `path` names the field
// or selector entry to blame ("miners[2]") when there is one.
class CommandRejected : public std::runtime_error {
  public:
    enum class Reason {
        invalid,          // a bad value (power target, selector, result status)
        unknown_miner,    // a miner id that is not in the miners table
        no_match,         // the selector matched no miner
        no_agent,         // a miner no agent has reported (nothing can carry the command)
        unknown_command,  // a result for a command id that does not exist
        already_final,    // a result for a command that is already final
    };
    CommandRejected(Reason reason, const std::string& what, std::string path = {});
    Reason reason() const noexcept { return reason_; }
    const std::string& path() const noexcept { return path_; }

  private:
    Reason reason_;
    std::string path_;
};

struct CommandFilter {
    std::optional<std::string> miner_id;
    std::optional<std::string> agent_id;
    std::optional<CommandStatus> status;
    std::size_t limit = 100;  // newest first
};

struct VerifyResult {
    std::int64_t succeeded = 0;
    std::int64_t failed = 0;
    std::int64_t timed_out = 0;
};

class Store {
  public:
    // Opens or creates the file, migrating it to the current schema.
    explicit Store(const std::string& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // One transaction per batch: all of it or nothing. Throws InvalidBatch (nothing written)
    // for a batch that fails validation; sqlite::Error on storage failure (rolled back).
    // `received_at` (ingest_batches.received_at_ms, which retention goes by) defaults to now.
    IngestResult ingest(const IngestBatch& batch, TimePoint received_at = TimePoint{});
    // Several batches in one transaction, each in a savepoint of its own: outcome i is what
    // ingest(*batches[i]) would have returned or thrown, but the group pays for one commit
    // (one commit record in the WAL, one BEGIN) instead of one each. A batch that fails
    // (validation, storage) is undone alone; a failed commit fails every batch of the group. Throws
    // (sqlite::Error, nothing written) only when the transaction cannot begin.
    std::vector<GroupedIngest> ingest_group(std::span<const IngestBatch* const> batches,
                                            TimePoint received_at = TimePoint{});

    std::vector<MinerRecord> miners() const;
    std::optional<MinerRecord> miner(const std::string& miner_id) const;
    // Replaces a known miner's labels (operator metadata: rack, row, ...); ingest never
    // touches them. Throws std::out_of_range for an unknown miner.
    void set_labels(const std::string& miner_id, const std::map<std::string, std::string>& labels);
    // Samples with from <= observed_at < to, oldest first, exactly as ingested.
    std::vector<MinerSample> samples(const std::string& miner_id, TimePoint from,
                                     TimePoint to) const;
    // The newest sample of every miner, ordered by miner_id.
    std::vector<MinerSample> latest_samples() const;
    // A series for [from, to): the resolution is `resolution` if given, else chosen by the
    // range: raw up to 6 h, 5 min up to 7 days, 1 h beyond.
    RollupSeries rollup(const std::string& miner_id, TimePoint from, TimePoint to,
                        std::optional<Resolution> resolution = std::nullopt) const;
    static Resolution resolution_for(std::chrono::milliseconds range) noexcept;

    // Rolls up every bucket that is complete at `now` and not yet rolled up, plus buckets that
    // received late samples since the last run. Idempotent: a second run at the same `now`
    // writes nothing.
    RollupResult run_rollups(TimePoint now);
    // Deletes what is older than each horizon at `now`. Idempotent.
    RetentionResult apply_retention(TimePoint now, const RetentionHorizons& horizons = {});

    // Commands. The writes below are meant for the writer thread (StoreWriter::try_submit_write).

    // One command per selected miner, all in one transaction, status queued, each addressed to
    // the miner's agent. Throws CommandRejected (nothing written): invalid for a bad power
    // target or selector, unknown_miner naming the first unknown id, no_match for an empty
    // selection, no_agent naming a miner no agent has reported.
    std::vector<CommandRecord> create_commands(const CommandRequest& request, TimePoint now);
    // The agent's queued commands that are not past their deadline, oldest first, marked sent
    // at `now` in the same transaction.
    std::vector<Command> take_pending(const std::string& agent_id, TimePoint now);
    // Records what the agent reported. failed and unsupported are final at once; sent only
    // acknowledges; succeeded and timed_out wait for verify_commands to judge the samples.
    // Throws CommandRejected: unknown_command, already_final, invalid (status queued, or a
    // miner_id that is not the command's).
    CommandRecord record_result(const CommandResult& result, TimePoint now);
    // For each sent command (all, or only those for `miner_ids`): succeeded once a sample
    // observed after it was sent (and by its deadline) shows it in effect; past the deadline
    // without that, failed if the agent reported on it, else timed_out; queued commands past
    // the deadline are timed_out. Messages say what the last sample showed.
    VerifyResult verify_commands(TimePoint now,
                                 const std::vector<std::string>* miner_ids = nullptr);
    std::vector<CommandRecord> commands(const CommandFilter& filter) const;
    std::optional<CommandRecord> command(const std::string& id) const;

    // Checkpointing off the ingest thread (StoreWriter does it). By default the write
    // connection copies the WAL back into the file itself when a commit takes it past 64 MiB,
    // stalling that commit for the copy and its fsync; with set_auto_checkpoint(false) it only
    // appends, and checkpoint() from another thread does the copying, on its own connection.
    void set_auto_checkpoint(bool on);
    // With auto checkpoint off: the WAL's length in pages after the last commit.
    std::int64_t wal_frames() const;
    struct CheckpointResult {
        bool busy = false;  // another checkpoint ran, or (restart) a writer or reader stayed
        std::int64_t wal_frames = 0;    // pages in the WAL
        std::int64_t checkpointed = 0;  // of those, copied into the file
    };
    // passive: copies what it can without blocking anyone. restart: also waits (its busy
    // timeout) for the writer and readers, so that the next commit starts the WAL afresh
    // instead of growing it; it holds the writer back only for what passive left.
    CheckpointResult checkpoint(bool restart);

    // For collector modules that keep tables of their own in this file (collector/alerts):
    // runs f on the write connection under the write lock (open a sqlite::Transaction inside
    // for several statements), or on the read connection under the read lock. f must not call
    // back into this Store.
    void with_write(const std::function<void(sqlite::Database&)>& f);
    void with_read(const std::function<void(sqlite::Database&)>& f) const;

    // PRAGMA integrity_check's first line ("ok" when healthy).
    std::string integrity_check() const;
    // PRAGMA user_version of the file.
    int schema_version() const;

  private:
    struct Impl;
    // The rows of one batch, inside the caller's transaction.
    static IngestResult ingest_rows(Impl& impl, const IngestBatch& batch, TimePoint received_at);
    // Once the first samples are in and the file has no dictionary yet: trains one on them
    // and compresses the rows from then on with it (collector/storage/sample_codec.hpp).
    static void train_dictionary_when_due(Impl& impl, TimePoint now);
    std::unique_ptr<Impl> impl_;
};

}  // namespace hashwatt::collector
