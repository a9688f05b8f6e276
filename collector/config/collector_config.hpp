// The collector's configuration file (collector.toml): where the database lives, how long
// history is kept, where the API listens and who may use it. Loaded through the strict TOML
// helpers, so a misspelt key or a bad value is an error that names file:line:column.
// deploy/config/collector.toml is the annotated example.
#pragma once

#include "collector/alerts/notifier_config.hpp"
#include "collector/alerts/rules.hpp"
#include "collector/api/server.hpp"
#include "collector/control/policy_control.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::config {
class Document;
}

namespace hashwatt::collector {

// The API's port when the config names none.
inline constexpr std::uint16_t kDefaultApiPort = 8480;

struct CollectorConfig {
    std::string database_path = "/var/lib/hashwatt/collector.db";
    StoreWriterOptions writer;               // queue size, maintenance interval, retention horizons
    CollectorMetricsOptions metrics;         // when a silent miner stops being exported
    ApiOptions api = default_api_options();  // listen address, limits, tokens
    alerts::AlertsConfig alerts;             // [alerts]: on by default, with default_rules()
    alerts::NotifierConfig notifiers;        // [[alerts.alertmanager]], [[alerts.webhook]]
    // [alerts] file: the alerts TOML read with it (resolved), or empty. That file holds what
    // [alerts] would, at its top level; a key set in both places is an error.
    std::string alerts_file;
    control::ControlConfig control;  // [policy] file and [prices]: the power policy

    static ApiOptions default_api_options() {
        ApiOptions o;
        o.port = kDefaultApiPort;
        return o;
    }
};

// Bearer secrets shorter than this are refused: a token is the only thing between the network
// and the power switch of a farm.
inline constexpr std::size_t kMinTokenLength = 16;

// Reads the collector's keys from `doc` without rejecting the others, for a caller that reads
// more tables of the same file (the embedded [[agent]] sections) and then calls doc.finish().
CollectorConfig read_collector_config(const config::Document& doc);

// Loads and validates `path`. Throws config::ConfigError (file:line:column: key: message).
CollectorConfig load_collector_config(const std::string& path);
// The same from text, for tests; `source_name` stands for the file in messages and relative
// paths resolve against the current directory.
CollectorConfig parse_collector_config(std::string_view text, const std::string& source_name);

}  // namespace hashwatt::collector
