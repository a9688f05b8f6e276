#include "agent/metrics/self_metrics.hpp"

#include <sstream>

#include <prometheus/text_serializer.h>

namespace hashwatt::agent {

namespace pm = prometheus;

RoundTracker::RoundTracker(std::chrono::steady_clock::time_point start) : start_(start) {}

std::optional<PollRound> RoundTracker::record(std::string_view key, bool up, std::size_t targets,
                                              std::chrono::steady_clock::time_point now) {
    auto [it, added] = miners_.try_emplace(std::string(key));
    Miner& m = it->second;
    if (!added && m.up) --up_;
    if (up) ++up_;
    m.up = up;
    if (!m.polled && !m.exempt) ++settled_;
    m.polled = true;
    // Every miner known has been heard from (or is backed off), and none is still unpolled:
    // miners added by a rescan count once their first poll is in.
    if (settled_ < targets || miners_.size() < targets) return std::nullopt;

    PollRound r;
    r.duration_s = std::chrono::duration<double>(now - start_).count();
    r.up = up_;
    r.down = miners_.size() - up_;
    last_ = r;
    ++rounds_;
    start_ = now;
    settled_ = 0;
    // With every miner down there is no one to wait for but them: none is exempt then.
    const bool any_up = up_ > 0;
    for (auto& [k, e] : miners_) {
        e.polled = false;
        e.exempt = any_up && !e.up;
        if (e.exempt) ++settled_;
    }
    return r;
}

namespace {

pm::MetricFamily family(std::string name, std::string help, pm::MetricType type) {
    pm::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

void add_gauge(pm::MetricFamily& f, double v, std::vector<pm::ClientMetric::Label> labels = {}) {
    pm::ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    f.metric.push_back(std::move(m));
}

void add_counter(pm::MetricFamily& f, std::uint64_t v,
                 std::vector<pm::ClientMetric::Label> labels = {}) {
    pm::ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = static_cast<double>(v);
    f.metric.push_back(std::move(m));
}

}  // namespace

std::vector<pm::MetricFamily> build_agent_families(const AgentSelfSnapshot& s) {
    using T = pm::MetricType;
    std::vector<pm::MetricFamily> out;
    auto info = family("hashwatt_agent_build_info", "The agent's version (always 1)", T::Gauge);
    add_gauge(info, 1, {{"version", s.version}});
    out.push_back(std::move(info));

    auto rounds = family("hashwatt_agent_poll_rounds_total",
                         "Poll rounds completed: every miner polled once more", T::Counter);
    add_counter(rounds, s.rounds);
    out.push_back(std::move(rounds));
    if (s.last_round) {
        auto d = family("hashwatt_agent_poll_round_duration_seconds",
                        "Time the last poll round took (about the interval while polls keep up)",
                        T::Gauge);
        add_gauge(d, s.last_round->duration_s);
        out.push_back(std::move(d));
        auto m =
            family("hashwatt_agent_miners", "Miners by the result of their last poll", T::Gauge);
        add_gauge(m, static_cast<double>(s.last_round->up), {{"result", "up"}});
        add_gauge(m, static_cast<double>(s.last_round->down), {{"result", "down"}});
        out.push_back(std::move(m));
    }
    // Both operations from the start at 0, so that an alert on a rate has a series to read.
    auto auth =
        family("hashwatt_agent_auth_failures_total",
               "Polls and commands whose miner refused the configured credentials", T::Counter);
    add_counter(auth, s.auth_refused_polls, {{"operation", "poll"}});
    add_counter(auth, s.commands ? s.commands->auth_refused : 0, {{"operation", "command"}});
    out.push_back(std::move(auth));

    if (s.uplink) {
        const UplinkStats& u = *s.uplink;
        auto b = family("hashwatt_agent_spool_batches",
                        "Batches in the spool waiting for the collector", T::Gauge);
        add_gauge(b, static_cast<double>(u.spool.batches));
        out.push_back(std::move(b));
        auto by = family("hashwatt_agent_spool_bytes", "Bytes of the spooled batches", T::Gauge);
        add_gauge(by, static_cast<double>(u.spool.bytes));
        out.push_back(std::move(by));
        auto up = family("hashwatt_agent_uplink_batches_total",
                         "Ingest batches by outcome (failed counts POSTs, retried)", T::Counter);
        // batches_sent includes the duplicates; the results are kept apart here.
        add_counter(up, u.batches_sent - u.batches_duplicate, {{"result", "sent"}});
        add_counter(up, u.batches_duplicate, {{"result", "duplicate"}});
        add_counter(up, u.send_failures, {{"result", "failed"}});
        add_counter(up, u.batches_rejected, {{"result", "rejected"}});
        add_counter(up, u.batches_dropped, {{"result", "dropped"}});
        out.push_back(std::move(up));
    }
    if (s.commands) {
        const CommandLoopStats& c = *s.commands;
        auto f = family("hashwatt_agent_commands_total", "Collector commands run, by result",
                        T::Counter);
        add_counter(f, c.succeeded, {{"result", "succeeded"}});
        add_counter(f, c.failed, {{"result", "failed"}});
        add_counter(f, c.unsupported, {{"result", "unsupported"}});
        add_counter(f, c.timed_out, {{"result", "timed_out"}});
        out.push_back(std::move(f));
    }
    return out;
}

std::string render_agent_metrics(const AgentSelfSnapshot& s) {
    std::ostringstream out;
    pm::TextSerializer().Serialize(out, build_agent_families(s));
    return std::move(out).str();
}

}  // namespace hashwatt::agent
