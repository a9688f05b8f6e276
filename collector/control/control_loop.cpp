#include "collector/control/control_loop.hpp"

#include "collector/control/price_feed.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/models.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <utility>

namespace hashwatt::collector::control {

namespace pol = hashwatt::policies;
namespace prices = hashwatt::policies::prices;

namespace {

std::string fixed2(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

std::string file_name(const std::string& path) {
    return std::filesystem::path(path).filename().string();
}

// fixed and tou: priced from the schedule at each round's time.
class SchedulePriceProvider : public PriceProvider {
  public:
    explicit SchedulePriceProvider(prices::PriceSourceConfig cfg) : cfg_(std::move(cfg)) {}
    pol::PriceInput current(TimePoint now) override {
        pol::PriceInput p;
        p.price_per_mwh = prices::price_at(cfg_, now);
        return p;
    }
    std::string describe() const override {
        if (cfg_.kind == prices::SourceKind::fixed) {
            return "fixed " + fixed2(prices::price_at(cfg_, TimePoint{})) + " " + cfg_.currency +
                   "/MWh";
        }
        const auto& tou = std::get<prices::TouSource>(cfg_.source);
        return "tou (" + std::to_string(tou.windows.size()) + " windows)";
    }

  private:
    prices::PriceSourceConfig cfg_;
};

// csv and ercot: the file's series, read once; a time outside it has no price.
class SeriesPriceProvider : public PriceProvider {
  public:
    explicit SeriesPriceProvider(const prices::PriceSourceConfig& cfg)
        : series_(prices::load_prices(cfg)) {
        if (cfg.kind == prices::SourceKind::ercot) {
            const auto& e = std::get<prices::ErcotSource>(cfg.source);
            describe_ = "ercot " + (e.settlement_point.empty() ? "" : e.settlement_point + " ") +
                        "from " + file_name(e.path);
        } else {
            describe_ = "csv " + file_name(std::get<prices::CsvSource>(cfg.source).path);
        }
    }
    pol::PriceInput current(TimePoint now) override {
        pol::PriceInput p;
        if (const auto* iv = series_.at(now)) {
            p.price_per_mwh = iv->price_per_mwh;
        } else {
            p.why = "no interval at " + format_time(now) + " in " + describe_;
        }
        return p;
    }
    std::string describe() const override { return describe_; }

  private:
    pol::PriceSeries series_;
    std::string describe_;
};

// Which command makes a miner at `from` run at `to`. Going from sleep to a reduced point takes
// two: wake, then set_power_target (queued in that order; the agent carries out a miner's
// commands one at a time, oldest first).
std::vector<CommandRequest> commands_for(const pol::OperatingPoint& from,
                                         const pol::OperatingPoint& to) {
    std::vector<CommandRequest> out;
    const auto set_target = [&] {
        CommandRequest r;
        r.type = CommandType::set_power_target;
        r.power_target_w = to.power_w;
        out.push_back(r);
    };
    if (to.kind == pol::PointKind::sleep) {
        out.push_back({CommandType::sleep, std::nullopt, {}, {}});
    } else if (from.kind == pol::PointKind::sleep) {
        out.push_back({CommandType::wake, std::nullopt, {}, {}});
        if (to.kind == pol::PointKind::reduced) set_target();
    } else {
        // full <-> reduced, or reduced -> another reduced: full is the model's nominal power.
        set_target();
    }
    return out;
}

// "sleeping", "waking", "reducing": for the log line.
std::string verb(pol::PointKind from, pol::PointKind to) {
    if (to == pol::PointKind::sleep) return "sleeping";
    if (from == pol::PointKind::sleep)
        return to == pol::PointKind::full ? "waking" : "waking to reduced";
    return to == pol::PointKind::full ? "restoring full power on" : "reducing power on";
}

}  // namespace

std::unique_ptr<PriceProvider> make_price_provider(const prices::PriceSourceConfig& cfg) {
    switch (cfg.kind) {
        case prices::SourceKind::fixed:
        case prices::SourceKind::tou:
            return std::make_unique<SchedulePriceProvider>(cfg);
        case prices::SourceKind::csv:
        case prices::SourceKind::ercot:
            return std::make_unique<SeriesPriceProvider>(cfg);
        case prices::SourceKind::http:
            return make_http_price_feed(cfg);
    }
    throw std::invalid_argument("[prices]: unknown kind");
}

ControlLoop::ControlLoop(Store& store, ControlConfig config, ControlOptions options)
    : store_(store)
    , config_(std::move(config))
    , options_(std::move(options))
    , engine_(pol::load_policy_file(config_.policy_file)) {
    loaded_mtime_ = policy_mtime();
    if (config_.price_provider) {
        provider_ = config_.price_provider;
    } else {
        if (!config_.prices) {
            throw std::invalid_argument(
                "[policy] needs a [prices] table: the policy has no price to decide on");
        }
        std::unique_ptr<PriceProvider> p;
        if (options_.make_provider) p = options_.make_provider(*config_.prices);
        if (!p) p = make_price_provider(*config_.prices);
        provider_ = std::move(p);
    }
    status_.policy_file = config_.policy_file;
    status_.price_source = provider_->describe();
    status_.dry_run = engine_.rules().dry_run;
    status_.kill_switch = engine_.rules().kill_switch;
}

ControlLoop::~ControlLoop() { stop(); }

TimePoint ControlLoop::now() const { return options_.clock ? options_.clock() : now_ms(); }

std::optional<std::filesystem::file_time_type> ControlLoop::policy_mtime() const {
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(config_.policy_file, ec);
    if (ec) return std::nullopt;
    return t;
}

void ControlLoop::start() {
    std::lock_guard lock(run_mu_);
    if (thread_.joinable() || stopping_) return;
    provider_->start();
    {
        std::lock_guard l(mu_);
        status_.running = true;
    }
    log::info("policy loop started",
              {{"policy", config_.policy_file}, {"prices", provider_->describe()}});
    thread_ = std::thread([this] {
        std::unique_lock run_lock(run_mu_);
        while (!stopping_) {
            run_lock.unlock();
            try {
                run_once();
            } catch (const std::exception& e) {
                log::error("policy round failed", {{"error", e.what()}});
                std::lock_guard l(mu_);
                status_.last_error = std::string("round: ") + e.what();
            }
            Duration interval;
            {
                std::lock_guard l(round_mu_);
                interval = engine_.rules().interval;
            }
            run_lock.lock();
            wake_.wait_for(run_lock, interval, [this] { return stopping_; });
        }
    });
}

void ControlLoop::stop() {
    {
        std::lock_guard lock(run_mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
        provider_->stop();
        log::info("policy loop stopped", {{"policy", config_.policy_file}});
    }
    std::lock_guard l(mu_);
    status_.running = false;
}

bool ControlLoop::reload() {
    std::lock_guard lock(round_mu_);
    return reload_locked();
}

bool ControlLoop::reload_locked() {
    const auto mtime = policy_mtime();
    try {
        auto rules = pol::load_policy_file(config_.policy_file);
        const std::string summary = pol::summarize(rules);
        engine_.set_rules(std::move(rules));
        loaded_mtime_ = mtime;
        {
            std::lock_guard l(mu_);
            status_.dry_run = engine_.rules().dry_run;
            status_.kill_switch = engine_.rules().kill_switch;
            status_.last_error.reset();
        }
        log::info("policy reloaded", {{"file", config_.policy_file}, {"rules", summary}});
        return true;
    } catch (const pol::PolicyFileChanging& e) {
        // Being rewritten: not remembered, so the next round's mtime check tries again.
        log::warn("policy reload deferred, the previous rules stay",
                  {{"file", config_.policy_file}, {"error", e.what()}});
        std::lock_guard l(mu_);
        status_.last_error = std::string("reload: ") + e.what();
        return false;
    } catch (const std::exception& e) {
        // Remembered so that an unchanged bad file is not reported again every round.
        loaded_mtime_ = mtime;
        log::error("policy reload refused, the previous rules stay",
                   {{"file", config_.policy_file}, {"error", e.what()}});
        std::lock_guard l(mu_);
        status_.last_error = std::string("reload: ") + e.what();
        return false;
    }
}

RoundResult ControlLoop::run_once() {
    std::lock_guard lock(round_mu_);
    if (const auto mtime = policy_mtime(); mtime != loaded_mtime_) {
        // Written moments ago: perhaps still being written in place. A later round takes it.
        // (A future mtime, a clock step, cannot be waited out and is read at once.)
        const auto age = std::filesystem::file_time_type::clock::now() -
                         mtime.value_or(std::filesystem::file_time_type{});
        if (!mtime || age >= options_.policy_quiet || age < decltype(age)::zero()) {
            reload_locked();
        } else {
            log::debug("policy file changed moments ago, reload at a later round",
                       {{"file", config_.policy_file}});
        }
    }
    const TimePoint at = now();
    if (!options_.clock || options_.steady_clock) {
        const auto steady =
            options_.steady_clock ? options_.steady_clock() : std::chrono::steady_clock::now();
        if (const auto step = clock_steps_.observe(at, steady); step != Duration::zero()) {
            // The safety durations (for, min_on, min_off) run on: a clock set forward must not
            // let a miner switch early, nor one set back hold it for longer.
            log::warn("wall clock stepped; policy safety timers keep their real length",
                      {{"step_ms", std::to_string(step.count())}});
            engine_.shift_clock(step);
        }
    }
    return round(at);
}

RoundResult ControlLoop::round(TimePoint at) {
    RoundResult result;
    result.at = at;
    const pol::RuleSet& rules = engine_.rules();

    // The fleet as stored: each miner with a newest sample.
    const auto miners = store_.miners();
    std::map<std::string, MinerSample> latest;
    for (auto& s : store_.latest_samples()) latest.emplace(s.miner_id, std::move(s));

    std::vector<pol::MinerInput> inputs;
    std::map<std::string, double> site_power_w;
    inputs.reserve(miners.size());
    for (const auto& m : miners) {
        const auto it = latest.find(m.miner_id);
        if (it == latest.end()) continue;
        const MinerSample& s = it->second;
        const auto site = s.site ? s.site : m.site;
        if (s.up && s.power_w) site_power_w[site.value_or("")] += *s.power_w;

        const ModelSpec* model = s.model ? find_reported_model(*s.model) : nullptr;
        const bool mining = s.up && s.state == MinerState::mining;
        if (s.power_limit_w) targetable_.insert(m.miner_id);
        pol::PointOptions po = options_.points;
        po.power_targets = po.power_targets && targetable_.count(m.miner_id) > 0;
        // Measured efficiency only at full power (no power target below the model's nominal):
        // a reduced miner's numbers would make its reduced point look like its full one.
        const bool at_full = !s.power_limit_w || !model ||
                             *s.power_limit_w >= model->nominal_w * (1 - options_.reduced_match);
        if (mining && at_full && s.hashrate_ths && *s.hashrate_ths > 0 && s.power_w &&
            *s.power_w > 0) {
            // A waking miner's hash rate is still climbing: such a sample is not its efficiency.
            const bool settled = !model || *s.hashrate_ths >= 0.8 * model->nominal_ths;
            if (settled) {
                measured_[m.miner_id] =
                    pol::measured_operating_points(*s.hashrate_ths, *s.power_w, model, po);
            }
        }
        pol::MinerInput in;
        in.miner_id = m.miner_id;
        in.site = site;
        if (const auto mp = measured_.find(m.miner_id); mp != measured_.end()) {
            in.points = mp->second;
        } else if (model) {
            in.points = pol::operating_points(*model, po);
        } else {
            log::debug("policy: miner skipped, no model nor measured efficiency",
                       {{"miner", m.miner_id}, {"model", s.model.value_or("")}});
            continue;
        }
        // A failed poll or an old sample: the engine holds it (safety:stale_data), since what
        // it runs at now is not known.
        in.sampled_at = s.observed_at;
        in.sample_failed = !s.up || s.error.has_value();
        if (in.sample_failed) {
            in.sample_why = s.error ? std::string(to_string(*s.error)) : std::string("miner down");
        }
        const bool asleep = s.state == MinerState::sleeping || s.state == MinerState::idle;
        if (asleep) {
            in.actual_index = in.points.size() - 1;
        } else {
            in.actual_index = 0;
            const auto at_w = s.power_limit_w ? s.power_limit_w : s.power_w;
            if (mining && at_w) {
                for (std::size_t i = 1; i + 1 < in.points.size(); ++i) {
                    const double w = in.points[i].power_w;
                    if (std::fabs(*at_w - w) <= options_.reduced_match * w) {
                        in.actual_index = i;
                        break;
                    }
                }
            }
        }
        in.actual = in.points[in.actual_index].kind;
        inputs.push_back(std::move(in));
    }

    pol::PriceInput price = provider_->current(at);
    // Loud once when the price goes bad, and once when it is back, not every round; the first
    // round's "no price" is a feed that has not answered its first poll yet (info).
    const bool bad = price.stale || !price.price_per_mwh;
    if (bad && !price_bad_) {
        log::write(rounds_ == 0 && !price.price_per_mwh ? log::Level::info : log::Level::warn,
                   price.stale ? "policy: PRICE STALE, applying on_stale"
                               : "policy: NO PRICE, applying on_stale",
                   {{"on_stale", std::string(pol::to_string(rules.on_stale))},
                    {"price", price.price_per_mwh ? fixed2(*price.price_per_mwh) : ""},
                    {"why", price.why},
                    {"source", provider_->describe()}});
    } else if (!bad && price_bad_ && rounds_ > 0) {
        log::info("policy: price back",
                  {{"price", fixed2(*price.price_per_mwh)}, {"source", provider_->describe()}});
    }
    price_bad_ = bad;
    ++rounds_;

    auto decisions = engine_.decide(at, price, inputs);
    result.miners = decisions.size();

    // The rows and commands of the changes.
    struct Change {
        std::size_t index;
        std::vector<CommandRequest> commands;
    };
    std::vector<Change> changes;
    std::vector<DecisionRecord> rows;
    std::vector<std::size_t> row_of;  // decision index per row
    std::map<std::string, std::string> noted = last_noted_;
    for (std::size_t i = 0; i < decisions.size(); ++i) {
        const auto& d = decisions[i];
        const auto& in = inputs[i];
        std::optional<DecisionOutcome> outcome;
        if (d.change) {
            outcome = DecisionOutcome::commanded;
        } else if (d.held || d.rule == "kill_switch") {
            // The engine names the kill switch only for a change it kept from being sent; the
            // row's target is where the miner stays, its reason says what it would have done.
            outcome = DecisionOutcome::held;
        } else if (rules.dry_run && d.target_index != in.actual_index && in.reachable) {
            outcome = DecisionOutcome::dry_run;
        }
        if (!outcome) {
            noted.erase(d.miner_id);
            continue;
        }
        if (*outcome != DecisionOutcome::commanded) {
            // A hold or dry-run change that stays the same over rounds is written once.
            const std::string key = std::string(to_string(*outcome)) + "|" + d.rule + "|" +
                                    std::string(pol::to_string(d.target));
            auto& last = noted[d.miner_id];
            if (last == key) {
                if (*outcome == DecisionOutcome::held) ++result.held;
                if (*outcome == DecisionOutcome::dry_run) ++result.dry_run;
                continue;
            }
            last = key;
        } else {
            noted.erase(d.miner_id);
        }
        DecisionRecord r;
        r.at = at;
        r.miner_id = d.miner_id;
        r.site = in.site;
        r.target = std::string(pol::to_string(d.target));
        if (d.target == pol::PointKind::reduced)
            r.power_target_w = in.points[d.target_index].power_w;
        r.outcome = *outcome;
        r.rule = d.rule.empty() ? "default" : d.rule;
        r.reason = d.reason.empty() ? r.rule : d.reason;
        if (std::isfinite(d.price_per_mwh)) r.price_per_mwh = d.price_per_mwh;
        if (std::isfinite(d.break_even_per_mwh)) r.break_even_per_mwh = d.break_even_per_mwh;
        if (*outcome == DecisionOutcome::commanded) {
            changes.push_back(
                {i, commands_for(in.points[in.actual_index], in.points[d.target_index])});
            ++result.commanded;
        } else if (*outcome == DecisionOutcome::held) {
            ++result.held;
        } else {
            ++result.dry_run;
        }
        rows.push_back(std::move(r));
        row_of.push_back(i);
    }

    // Commands first, so that each commanded row carries its command's id. A miner the store
    // refuses (no agent yet, removed meanwhile) is logged and its row says so.
    std::set<std::string> agents;
    std::map<std::size_t, std::string> command_of;  // decision index -> command id
    for (const auto& c : changes) {
        const auto& d = decisions[c.index];
        std::string ids;
        for (std::size_t k = 0; k < c.commands.size(); ++k) {
            CommandRequest req = c.commands[k];
            req.selector.miners = {d.miner_id};
            req.deadline = options_.command_deadline;
            try {
                // The second of a pair 1 ms later: the agent takes them oldest first.
                const auto made = store_.create_commands(req, at + std::chrono::milliseconds(k));
                for (const auto& rec : made) {
                    agents.insert(rec.agent_id);
                    if (!ids.empty()) ids += ",";
                    ids += rec.command.id;
                    command_of[c.index] = rec.command.id;
                }
            } catch (const CommandRejected& e) {
                log::warn("policy: command refused", {{"miner", d.miner_id},
                                                      {"type", std::string(to_string(req.type))},
                                                      {"error", e.what()}});
            }
        }
        if (c.commands.size() > 1 && !ids.empty()) {
            for (std::size_t r = 0; r < rows.size(); ++r) {
                if (row_of[r] == c.index) rows[r].reason += " (commands " + ids + ")";
            }
        }
    }
    for (std::size_t r = 0; r < rows.size(); ++r) {
        if (rows[r].outcome != DecisionOutcome::commanded) continue;
        const auto it = command_of.find(row_of[r]);
        if (it != command_of.end()) {
            rows[r].command_id = it->second;
        } else {
            rows[r].reason += " (command refused: see the log)";
        }
    }
    if (!rows.empty()) record_decisions(store_, rows);
    result.recorded = rows.size();
    last_noted_ = std::move(noted);
    if (!agents.empty() && options_.on_commands) {
        options_.on_commands(std::vector<std::string>(agents.begin(), agents.end()));
    }

    // One line per kind of change: "policy: sleeping 12 miners: price 212.00 > ...".
    std::map<std::tuple<std::string, std::string>, std::vector<std::size_t>> groups;
    for (const auto& c : changes) {
        const auto& d = decisions[c.index];
        const auto& in = inputs[c.index];
        groups[{verb(in.actual, d.target), d.rule}].push_back(c.index);
    }
    for (const auto& [key, idx] : groups) {
        const auto& first = decisions[idx.front()];
        std::string miners_text;
        for (std::size_t k = 0; k < idx.size() && k < 10; ++k) {
            if (k) miners_text += ",";
            miners_text += decisions[idx[k]].miner_id;
        }
        if (idx.size() > 10) miners_text += ",...";
        log::info("policy: " + std::get<0>(key) + " " + std::to_string(idx.size()) +
                      (idx.size() == 1 ? " miner: " : " miners: ") + first.reason,
                  {{"rule", std::get<1>(key)}, {"miners", miners_text}});
    }

    PolicySnapshot snap;
    snap.have_round = true;
    snap.price = price;
    snap.hashprice_per_th_day = rules.economics.hashprice_per_th_day;
    snap.site_power_w = std::move(site_power_w);
    for (const auto& r : rules.rules) {
        if (r.kind != pol::RuleKind::site_cap || !r.site) continue;
        const double w = r.cap_kw * 1000 / rules.economics.pue;
        auto [it, added] = snap.site_power_cap_w.try_emplace(*r.site, w);
        if (!added) it->second = std::min(it->second, w);
    }
    for (std::size_t i = 0; i < decisions.size(); ++i) {
        PolicySnapshot::Miner m;
        m.miner_id = decisions[i].miner_id;
        m.site = inputs[i].site;
        m.target = decisions[i].target;
        m.break_even_per_mwh = pol::break_even_per_mwh(rules.economics, inputs[i].points[0]);
        snap.miners.push_back(std::move(m));
    }
    std::sort(snap.miners.begin(), snap.miners.end(),
              [](const auto& a, const auto& b) { return a.miner_id < b.miner_id; });
    {
        std::lock_guard l(mu_);
        status_.last_round = at;
        status_.last_price = price;
        status_.miners = result.miners;
        status_.changes_last_round = result.commanded + result.dry_run;
        status_.held_last_round = result.held;
        if (status_.last_error && status_.last_error->starts_with("round: ")) {
            status_.last_error.reset();
        }
        last_decisions_ = std::move(decisions);
        snapshot_ = std::move(snap);
    }
    return result;
}

pol::RuleSet ControlLoop::rules() const {
    std::lock_guard lock(round_mu_);
    return engine_.rules();
}

PolicySnapshot ControlLoop::snapshot() const {
    std::lock_guard l(mu_);
    return snapshot_;
}

ControlStatus ControlLoop::status() const {
    std::lock_guard l(mu_);
    return status_;
}

std::vector<pol::Decision> ControlLoop::last_decisions() const {
    std::lock_guard l(mu_);
    return last_decisions_;
}

void ControlLoop::add_override(const pol::Override& o) {
    std::lock_guard lock(round_mu_);
    engine_.add_override(o);
    log::info("policy: override added", {{"id", o.id},
                                         {"target", std::string(pol::to_string(o.target))},
                                         {"until", format_time(o.end)}});
}

bool ControlLoop::remove_override(const std::string& id) {
    std::lock_guard lock(round_mu_);
    const bool removed = engine_.remove_override(id);
    if (removed) log::info("policy: override removed", {{"id", id}});
    return removed;
}

std::vector<pol::Override> ControlLoop::overrides(TimePoint now) const {
    std::lock_guard lock(round_mu_);
    return engine_.active_overrides(now);
}

}  // namespace hashwatt::collector::control
