// The commands table through the Store, with fixed times: creation by each selector and every
// refusal, the agent's pending list, results, and the verdict from later samples and deadlines.
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "tests/support/command_samples.hpp"
#include "tests/support/process.hpp"

#include <future>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono;

namespace {

constexpr std::int64_t kT0Ms = 1795597200000;  // 2026-11-25T09:00:00Z
TimePoint t0_plus(milliseconds d) { return TimePoint{milliseconds{kT0Ms}} + d; }

MinerSample sample(const std::string& id, TimePoint at, MinerState state, double power_w,
                   std::optional<std::string> site = "north") {
    return test::state_sample(id, at, state, power_w, std::move(site));
}

struct Fixture {
    test::TempDir dir;
    Store store{dir.path() + "/c.db"};
    std::int64_t seq = 0;

    Fixture() {
        // m1, m2 at north through agent a1; m3 at south through a2.
        ingest("a1", {sample("m1", t0_plus(0s), MinerState::mining, 3250),
                      sample("m2", t0_plus(0s), MinerState::mining, 3100)});
        ingest("a2", {sample("m3", t0_plus(0s), MinerState::mining, 3000, "south")});
        store.set_labels("m1", {{"rack", "r1"}, {"row", "2"}});
        store.set_labels("m2", {{"rack", "r1"}, {"row", "3"}});
    }
    void ingest(const std::string& agent, std::vector<MinerSample> v) {
        store.ingest(IngestBatch{agent, std::nullopt, ++seq, std::move(v), {}});
    }
    CommandRecord one(const std::string& miner, CommandType type = CommandType::sleep,
                      seconds deadline = 600s, TimePoint at = t0_plus(10s)) {
        CommandRequest r;
        r.type = type;
        r.selector.miners = {miner};
        r.deadline = deadline;
        auto out = store.create_commands(r, at);
        REQUIRE(out.size() == 1);
        return out[0];
    }
};

std::vector<std::string> miners_of(const std::vector<CommandRecord>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) out.push_back(c.command.miner_id);
    std::sort(out.begin(), out.end());
    return out;
}

CommandRejected::Reason rejection(const std::function<void()>& f) {
    try {
        f();
    } catch (const CommandRejected& e) {
        return e.reason();
    }
    FAIL("nothing was refused");
    return CommandRejected::Reason::invalid;
}

std::size_t command_rows(Fixture& f) { return f.store.commands(CommandFilter{}).size(); }

}  // namespace

TEST_CASE("miners record the agent that reported them") {
    Fixture f;
    CHECK(f.store.miner("m1")->agent_id == "a1");
    CHECK(f.store.miner("m3")->agent_id == "a2");
    // The miner moves to a2; a late batch from a1 with an older sample does not take it back.
    f.ingest("a2", {sample("m1", t0_plus(60s), MinerState::mining, 3250)});
    f.ingest("a1", {sample("m1", t0_plus(30s), MinerState::mining, 3250)});
    CHECK(f.store.miner("m1")->agent_id == "a2");
}

TEST_CASE("create_commands: one per miner by ids, site or labels, addressed to its agent") {
    Fixture f;
    CommandRequest r;
    r.type = CommandType::set_power_target;
    r.power_target_w = 2800;
    r.deadline = 120s;

    SUBCASE("by ids, a repeated id counted once") {
        r.selector.miners = {"m1", "m3", "m1"};
        const auto out = f.store.create_commands(r, t0_plus(10s));
        REQUIRE(out.size() == 2);
        CHECK(out[0].command.miner_id == "m1");
        CHECK(out[0].agent_id == "a1");
        CHECK(out[1].agent_id == "a2");
        CHECK(out[0].status == CommandStatus::queued);
        CHECK(out[0].command.power_target_w == 2800);
        CHECK(out[0].command.created_at == t0_plus(10s));
        CHECK(out[0].command.deadline == t0_plus(130s));
        CHECK(out[0].command.id != out[1].command.id);
        CHECK(f.store.command(out[0].command.id) == out[0]);
    }
    SUBCASE("by site") {
        r.selector.site = "north";
        CHECK(miners_of(f.store.create_commands(r, t0_plus(10s))) ==
              std::vector<std::string>{"m1", "m2"});
    }
    SUBCASE("by labels: every pair must match") {
        r.selector.labels = {{"rack", "r1"}};
        CHECK(miners_of(f.store.create_commands(r, t0_plus(10s))) ==
              std::vector<std::string>{"m1", "m2"});
        r.selector.labels = {{"rack", "r1"}, {"row", "3"}};
        CHECK(miners_of(f.store.create_commands(r, t0_plus(10s))) ==
              std::vector<std::string>{"m2"});
    }
}

TEST_CASE("create_commands refusals write nothing") {
    Fixture f;
    CommandRequest r;
    r.type = CommandType::sleep;
    r.selector.miners = {"m1", "nope", "m2"};
    try {
        f.store.create_commands(r, t0_plus(10s));
        FAIL("accepted an unknown miner");
    } catch (const CommandRejected& e) {
        CHECK(e.reason() == CommandRejected::Reason::unknown_miner);
        CHECK(std::string(e.what()).find("\"nope\"") != std::string::npos);
        CHECK(e.path() == "miners[1]");
    }
    r.selector = {};
    r.selector.site = "west";
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::no_match);
    r.selector = {};
    r.selector.labels = {{"rack", "r9"}};
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::no_match);
    r.selector.site = "north";  // two selectors
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::invalid);
    r.selector = {};
    r.selector.miners = {"m1"};
    r.power_target_w = 3000;  // not for sleep
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::invalid);
    r.type = CommandType::set_power_target;
    r.power_target_w = std::nullopt;
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::invalid);
    r.power_target_w = -5;
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::invalid);
    // A miner stored before miners carried their agent: nobody can carry a command to it.
    {
        sqlite::Database raw(f.dir.path() + "/c.db");
        raw.exec("UPDATE miners SET agent_id = NULL WHERE miner_id = 'm2'");
    }
    r.type = CommandType::sleep;
    r.power_target_w = std::nullopt;
    r.selector.miners = {"m1", "m2"};
    CHECK(rejection([&] { f.store.create_commands(r, t0_plus(10s)); }) ==
          CommandRejected::Reason::no_agent);
    CHECK(command_rows(f) == 0);
}

TEST_CASE("take_pending: an agent gets its own queued commands once, marked sent") {
    Fixture f;
    const auto c1 = f.one("m1");
    const auto c2 = f.one("m2", CommandType::wake, 600s, t0_plus(11s));
    const auto c3 = f.one("m3");
    const auto short_lived = f.one("m1", CommandType::reboot, 5s, t0_plus(12s));

    const auto got = f.store.take_pending("a1", t0_plus(20s));
    REQUIRE(got.size() == 2);  // the 5 s one is past its deadline
    CHECK(got[0].id == c1.command.id);
    CHECK(got[1].id == c2.command.id);
    CHECK(got[1].type == CommandType::wake);
    CHECK(f.store.take_pending("a1", t0_plus(21s)).empty());
    const auto sent = f.store.command(c1.command.id);
    CHECK(sent->status == CommandStatus::sent);
    CHECK(sent->sent_at == t0_plus(20s));
    CHECK(f.store.command(c3.command.id)->status == CommandStatus::queued);
    CHECK(f.store.command(short_lived.command.id)->status == CommandStatus::queued);

    CommandFilter only_sent;
    only_sent.status = CommandStatus::sent;
    CHECK(f.store.commands(only_sent).size() == 2);
    CommandFilter by_miner;
    by_miner.miner_id = "m1";
    by_miner.limit = 1;
    const auto newest = f.store.commands(by_miner);
    REQUIRE(newest.size() == 1);
    CHECK(newest[0].command.id == short_lived.command.id);
}

TEST_CASE("record_result: refusals are final, success waits for the samples") {
    Fixture f;
    const auto c = f.one("m1");
    f.store.take_pending("a1", t0_plus(20s));
    CommandResult r{c.command.id, "m1", CommandStatus::succeeded, "acknowledged", t0_plus(25s)};
    auto rec = f.store.record_result(r, t0_plus(26s));
    CHECK(rec.status == CommandStatus::sent);
    CHECK(rec.agent_status == CommandStatus::succeeded);
    CHECK(rec.agent_message == "acknowledged");
    CHECK(rec.agent_finished_at == t0_plus(25s));
    CHECK(f.store.command(c.command.id) == rec);

    r.status = CommandStatus::unsupported;
    r.message = "no sleep on this firmware";
    rec = f.store.record_result(r, t0_plus(27s));
    CHECK(rec.status == CommandStatus::unsupported);
    CHECK(rec.finished_at == t0_plus(27s));
    CHECK(rec.message == "no sleep on this firmware");
    CHECK(rejection([&] { f.store.record_result(r, t0_plus(28s)); }) ==
          CommandRejected::Reason::already_final);

    r.command_id = "nope";
    CHECK(rejection([&] { f.store.record_result(r, t0_plus(28s)); }) ==
          CommandRejected::Reason::unknown_command);
    const auto other = f.one("m2");
    r.command_id = other.command.id;
    r.status = CommandStatus::queued;
    CHECK(rejection([&] { f.store.record_result(r, t0_plus(28s)); }) ==
          CommandRejected::Reason::invalid);
    r.status = CommandStatus::failed;
    r.miner_id = "m1";  // not the command's miner
    CHECK(rejection([&] { f.store.record_result(r, t0_plus(28s)); }) ==
          CommandRejected::Reason::invalid);
    CHECK(f.store.command(other.command.id)->status == CommandStatus::queued);
}

TEST_CASE("record_result: a report arriving after the samples settled it is kept, once") {
    Fixture f;
    const auto c = f.one("m1", CommandType::sleep, 120s);
    f.store.take_pending("a1", t0_plus(20s));
    f.ingest("a1", {sample("m1", t0_plus(22s), MinerState::sleeping, 25)});
    const std::vector<std::string> only_m1{"m1"};
    REQUIRE(f.store.verify_commands(t0_plus(22s), &only_m1).succeeded == 1);
    const auto verified = *f.store.command(c.command.id);

    // The agent saw it too, a moment later; even a dissenting word leaves the verdict alone.
    const CommandResult r{c.command.id, "m1", CommandStatus::timed_out, "not seen", t0_plus(23s)};
    const auto rec = f.store.record_result(r, t0_plus(24s));
    CHECK(rec.status == CommandStatus::succeeded);
    CHECK(rec.finished_at == verified.finished_at);
    CHECK(rec.message == verified.message);
    CHECK(rec.verified_at == verified.verified_at);
    CHECK(rec.agent_status == CommandStatus::timed_out);
    CHECK(rec.agent_message == "not seen");
    CHECK(rec.agent_finished_at == t0_plus(23s));
    CHECK(f.store.command(c.command.id) == rec);
    CHECK(rejection([&] { f.store.record_result(r, t0_plus(25s)); }) ==
          CommandRejected::Reason::already_final);
    CHECK(f.store.command(c.command.id) == rec);
}

TEST_CASE("verify_commands: a later sample in effect succeeds; deadlines fail or time out") {
    Fixture f;
    // Sleep m1 (sent at +20 s), with a sample from before it was sent showing it asleep: that
    // one does not count.
    const auto sleep = f.one("m1", CommandType::sleep, 120s);
    const auto stuck = f.one("m2", CommandType::sleep, 120s);
    const auto silent = f.one("m3", CommandType::wake, 120s);
    f.ingest("a1", {sample("m1", t0_plus(15s), MinerState::sleeping, 25)});
    f.store.take_pending("a1", t0_plus(20s));
    f.store.take_pending("a2", t0_plus(20s));
    const auto unfetched = f.one("m3", CommandType::reboot, 100s, t0_plus(21s));
    f.store.record_result({sleep.command.id, "m1", CommandStatus::succeeded, "ok", t0_plus(22s)},
                          t0_plus(22s));
    f.store.record_result(
        {stuck.command.id, "m2", CommandStatus::timed_out, "not seen", t0_plus(22s)}, t0_plus(22s));

    auto v = f.store.verify_commands(t0_plus(30s));
    CHECK(v.succeeded == 0);
    CHECK(f.store.command(sleep.command.id)->status == CommandStatus::sent);

    f.ingest("a1", {sample("m1", t0_plus(40s), MinerState::sleeping, 25),
                    sample("m2", t0_plus(40s), MinerState::mining, 3250)});
    // Only the miners named are looked at.
    const std::vector<std::string> only_m2{"m2"};
    CHECK(f.store.verify_commands(t0_plus(41s), &only_m2).succeeded == 0);
    const std::vector<std::string> only_m1{"m1"};
    v = f.store.verify_commands(t0_plus(41s), &only_m1);
    CHECK(v.succeeded == 1);
    const auto ok = f.store.command(sleep.command.id);
    CHECK(ok->status == CommandStatus::succeeded);
    CHECK(ok->verified_at == t0_plus(41s));
    CHECK(ok->finished_at == t0_plus(41s));
    CHECK(ok->message->find("sleeping") != std::string::npos);

    // Before the deadlines nothing else is settled.
    v = f.store.verify_commands(t0_plus(100s));
    CHECK(v.succeeded + v.failed + v.timed_out == 0);

    v = f.store.verify_commands(t0_plus(130s));
    CHECK(v.failed == 1);
    CHECK(v.timed_out == 2);
    const auto failed = f.store.command(stuck.command.id);
    CHECK(failed->status == CommandStatus::failed);
    CHECK_FALSE(failed->verified_at);
    INFO(*failed->message);
    CHECK(failed->message->find("deadline passed") != std::string::npos);
    CHECK(failed->message->find("state mining") != std::string::npos);
    CHECK(failed->message->find("3250 W") != std::string::npos);
    const auto no_result = f.store.command(silent.command.id);
    CHECK(no_result->status == CommandStatus::timed_out);
    CHECK(no_result->message->find("no result from agent \"a2\"") != std::string::npos);
    CHECK(no_result->message->find("no sample") != std::string::npos);
    const auto never_fetched = f.store.command(unfetched.command.id);
    CHECK(never_fetched->status == CommandStatus::timed_out);
    CHECK(never_fetched->message->find("fetched") != std::string::npos);
    CHECK(f.store.command(sleep.command.id) == ok);  // final: left alone
}

TEST_CASE("verify_commands: a reboot needs the miner gone or restarted, then mining again") {
    Fixture f;
    auto m = sample("m1", t0_plus(5s), MinerState::mining, 3250);
    m.uptime_s = 5000;
    f.ingest("a1", {m});
    const auto c = f.one("m1", CommandType::reboot, 300s);
    f.store.take_pending("a1", t0_plus(20s));
    m.observed_at = t0_plus(30s);
    m.uptime_s = 5025;
    f.ingest("a1", {m});
    CHECK(f.store.verify_commands(t0_plus(31s)).succeeded == 0);
    m.observed_at = t0_plus(60s);
    m.uptime_s = 12;
    f.ingest("a1", {m});
    CHECK(f.store.verify_commands(t0_plus(61s)).succeeded == 1);
    CHECK(f.store.command(c.command.id)->status == CommandStatus::succeeded);
}

TEST_CASE("StoreWriter: write jobs run in order, and a batch verifies its miners' commands") {
    test::TempDir dir;
    Store store(dir.path() + "/w.db");
    StoreWriterOptions o;
    o.maintenance_interval = std::nullopt;
    o.verify_interval = std::nullopt;
    StoreWriter writer(store, o);
    const auto now = time_point_cast<milliseconds>(Clock::now());
    auto s = sample("m1", now - 5s, MinerState::mining, 3250);
    writer.submit(IngestBatch{"a1", std::nullopt, 1, {s}, {}}).get();

    std::promise<std::vector<CommandRecord>> created;
    REQUIRE(writer.try_submit_write(
        [&](Store& st) {
            CommandRequest r;
            r.selector.miners = {"m1"};
            auto out = st.create_commands(r, now);
            st.take_pending("a1", now);
            created.set_value(out);
        },
        [](std::exception_ptr e) { CHECK_FALSE(e); }));
    const auto c = created.get_future().get();
    REQUIRE(c.size() == 1);

    std::promise<std::exception_ptr> refused;
    REQUIRE(writer.try_submit_write(
        [](Store& st) {
            st.take_pending("", TimePoint{});
            throw std::runtime_error("boom");
        },
        [&](std::exception_ptr e) { refused.set_value(e); }));
    CHECK(refused.get_future().get() != nullptr);

    s.observed_at = now + 1s;
    s.state = MinerState::sleeping;
    writer.submit(IngestBatch{"a1", std::nullopt, 2, {s}, {}}).get();
    // The verdict is written right after the batch, on the writer thread: drain the queue.
    std::promise<void> drained;
    REQUIRE(
        writer.try_submit_write([](Store&) {}, [&](std::exception_ptr) { drained.set_value(); }));
    drained.get_future().get();
    CHECK(store.command(c[0].command.id)->status == CommandStatus::succeeded);
}

TEST_CASE(
    "retention deletes final commands past the raw horizon, keeps open ones and each miner's "
    "newest sleep or wake") {
    Fixture f;
    const auto done = f.one("m1", CommandType::reboot);
    const auto old_sleep = f.one("m1", CommandType::sleep, 600s, t0_plus(11s));
    const auto last_wake = f.one("m1", CommandType::wake, 600s, t0_plus(12s));
    const auto open = f.one("m2");
    f.store.take_pending("a1", t0_plus(13s));
    for (const auto* c : {&done, &old_sleep, &last_wake}) {
        f.store.record_result({c->command.id, "m1", CommandStatus::failed, "refused", t0_plus(20s)},
                              t0_plus(20s));
    }
    RetentionHorizons h;
    h.raw = std::chrono::days{1};
    auto r = f.store.apply_retention(t0_plus(std::chrono::hours{23}), h);
    CHECK(r.commands_deleted == 0);
    r = f.store.apply_retention(t0_plus(std::chrono::hours{25}), h);
    CHECK(r.commands_deleted == 2);
    CHECK_FALSE(f.store.command(done.command.id));
    CHECK_FALSE(f.store.command(old_sleep.command.id));
    // What hashwatt last wanted of m1 outlives the horizon (MinerStateUnexpected reads it).
    CHECK(f.store.command(last_wake.command.id));
    CHECK(f.store.command(open.command.id));
}
