// The collector's HTTP request handling (collector/api/server.cpp): raw bytes through Beast's
// request parser with the collector's body and header limits, then the routes (auth, ingest
// through the real writer, queries, commands, alerts, policy) on a real Store on a temporary
// SQLite file, through ApiServer::answer_raw (no socket). Every input must get an answer (or
// none, for an incomplete request) without a crash or an exception escaping the server.
//
// Tokens known to the seeds and the dictionary (fuzz/dict/collector_http.dict):
//   Bearer fuzz-admin-token-0123, fuzz-read-token-01234 and fuzz-agent-token-0123 (agent rig-a).
// Limits are lowered (64 KiB body, 8 KiB headers) so the fuzzer reaches them.
#include "collector/api/server.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/log.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

using namespace hashwatt;
using namespace hashwatt::collector;

namespace {

// One store and server for the whole run (as one collector serves many requests); the
// database lives in a fresh temporary directory removed at exit.
struct Collector {
    std::filesystem::path dir;
    boost::asio::io_context io;
    std::unique_ptr<Store> store;
    std::unique_ptr<StoreWriter> writer;
    std::unique_ptr<ApiServer> server;

    Collector() {
        log::set_level(log::Level::error);
        std::string templ =
            (std::filesystem::temp_directory_path() / "hashwatt-fuzz-XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr) {
            std::perror("mkdtemp");
            std::abort();
        }
        dir = templ;
        store = std::make_unique<Store>((dir / "collector.db").string());
        StoreWriterOptions wo;
        wo.maintenance_interval = std::nullopt;  // no rollups or retention behind the inputs
        wo.verify_interval = std::nullopt;
        writer = std::make_unique<StoreWriter>(*store, wo);
        ApiOptions api;
        api.body_limit_bytes = 64 * 1024;
        api.header_limit_bytes = 8 * 1024;
        // Every input comes from the one raw client: a lockout carried from earlier inputs would
        // make an input's answer depend on the ones before it (and hide the routes behind 429).
        api.auth_limit.max_failures = 0;
        api.tokens = {{"fuzz-admin-token-0123", Role::admin, ""},
                      {"fuzz-read-token-01234", Role::read, ""},
                      {"fuzz-agent-token-0123", Role::agent, "rig-a"}};
        server = std::make_unique<ApiServer>(io, *store, *writer, api);
    }
    ~Collector() {
        server->stop();
        writer->shutdown();
        io.restart();
        io.run_for(std::chrono::milliseconds(200));  // the completions stop() and shutdown() left
        server.reset();
        writer.reset();
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Collector c;
    const std::string_view request(reinterpret_cast<const char*>(data), size);
    // A long poll may wait (up to 60 s by design); it is left behind and completes later.
    const auto answer = c.server->answer_raw(request, std::chrono::milliseconds(500));
    static const bool trace = std::getenv("HASHWATT_FUZZ_TRACE") != nullptr;
    if (trace) {  // for reading what a finding or a seed was answered
        std::fprintf(stderr, "answer: %s\n",
                     answer ? (std::to_string(answer->status) + " " + answer->body).c_str()
                            : "(none within the budget)");
    }
    if (answer && answer->status != 0 && (answer->status < 200 || answer->status > 599)) {
        std::fprintf(stderr, "answered with status %u\n", answer->status);
        std::abort();
    }
    return 0;
}
