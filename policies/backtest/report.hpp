// A backtest's outputs: the `--json` object of DESIGN.md ("CLI"), a CSV of every interval, and
// a self-contained HTML report with inline SVG charts (no scripts, nothing fetched).
#pragma once

#include "policies/backtest/backtest.hpp"

#include <ostream>
#include <string>

#include <boost/json/object.hpp>

namespace hashwatt::policies::backtest {

// {"intervals": N, "hours": H, "miners": M, "interval_s": L,
//  "always_on" | "policy" | "optimum": {"energy_mwh", "revenue", "cost", "profit",
//      "curtailed_miner_hours", "switches", "switches_per_miner", "max_switches_per_miner_day"},
//  "optimum" also: "exact", "cap_credit"; "policy" also: "held_by_dwell",
//  "cap_exceeded_intervals"; "capture_ratio": number, or null when the optimum gains nothing}
boost::json::object to_json(const Result& r);
std::string to_json_text(const Result& r);  // one line

// Header then one row per interval:
// time,price_per_mwh,always_on_kw,policy_kw,optimum_kw,policy_curtailed_share,
// always_on_cumulative_profit,policy_cumulative_profit,optimum_cumulative_profit
void write_csv(const Result& r, std::ostream& out);

// Summary table and three charts: price with the policy's curtailed periods shaded, fleet power
// of the three schedules, cumulative profit of the three. Long series are drawn per bucket
// (at most ~1500 points per line) so the file stays small.
void write_html(const Result& r, std::ostream& out, const std::string& title = "hashwatt backtest");

}  // namespace hashwatt::policies::backtest
