// POST /api/v1/ingest: decode the whole batch strictly before anything reaches the writer, so a
// rejected request stores nothing, then answer only once the writer has committed it.
#include "collector/api/routes.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <array>
#include <cstring>
#include <exception>
#include <memory>
#include <tuple>
#include <variant>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::collector {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// SQLite's result code for a full disk (sqlite3.h stays in storage/sqlite.cpp); extended codes
// keep it in their low byte.
constexpr int kSqliteFull = 13;

struct BadRequest {
    std::string message;
    std::string path;
};

// Throws BadRequest naming the field; DecodeError from sample_from_json passes through.
IngestBatch decode_batch(const json::value& doc) {
    if (!doc.is_object()) {
        throw BadRequest{"expected a JSON object, got " + std::string(json_kind_name(doc)), ""};
    }
    const auto& obj = doc.get_object();
    IngestBatch batch;

    const auto* agent = obj.if_contains("agent_id");
    if (agent == nullptr || agent->is_null())
        throw BadRequest{"required field missing", "agent_id"};
    if (!agent->is_string()) {
        throw BadRequest{"expected a string, got " + std::string(json_kind_name(*agent)),
                         "agent_id"};
    }
    batch.agent_id = std::string(agent->get_string());

    if (const auto* site = obj.if_contains("site"); site != nullptr && !site->is_null()) {
        if (!site->is_string()) {
            throw BadRequest{"expected a string, got " + std::string(json_kind_name(*site)),
                             "site"};
        }
        batch.site = std::string(site->get_string());
    }

    const auto* seq = obj.if_contains("batch_seq");
    if (seq == nullptr || seq->is_null()) throw BadRequest{"required field missing", "batch_seq"};
    if (seq->is_int64()) {
        batch.batch_seq = seq->get_int64();
    } else if (seq->is_uint64()) {
        throw BadRequest{"integer out of range", "batch_seq"};
    } else {
        throw BadRequest{"expected an integer, got " + std::string(json_kind_name(*seq)),
                         "batch_seq"};
    }

    const auto* samples = obj.if_contains("samples");
    if (samples == nullptr || samples->is_null()) {
        throw BadRequest{"required field missing", "samples"};
    }
    if (!samples->is_array()) {
        throw BadRequest{"expected an array, got " + std::string(json_kind_name(*samples)),
                         "samples"};
    }
    const auto& arr = samples->get_array();
    batch.samples.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
        batch.samples.push_back(sample_from_json(arr[i], "samples[" + std::to_string(i) + "]"));
    }
    return batch;
}

// The raw text of each element of the top-level "samples" array of `text`, which has already
// parsed as JSON (so only strings and nesting need care here). Empty when the key is written
// with escapes or not found; the samples are then encoded anew, as for any other caller.
std::vector<std::string_view> raw_sample_texts(std::string_view text) {
    std::size_t i = 0;
    const std::size_t n = text.size();
    const auto ws = [&] {
        while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
            ++i;
        }
    };
    // Past a string starting at text[i] == '"'. memchr finds the candidate quotes: a sample is
    // mostly keys and strings, and this scan ran byte by byte at 5 % of ingest's CPU.
    const auto skip_string = [&] {
        ++i;
        while (i < n) {
            const void* q = std::memchr(text.data() + i, '"', n - i);
            if (q == nullptr) break;
            const auto at = static_cast<std::size_t>(static_cast<const char*>(q) - text.data());
            std::size_t backslashes = 0;  // an odd run before the quote escapes it
            while (at - backslashes > i && text[at - backslashes - 1] == '\\') ++backslashes;
            i = at + 1;
            if (backslashes % 2 == 0) return;
        }
        i = n;
    };
    static constexpr auto kStructural = [] {
        std::array<bool, 256> t{};
        for (const char c : {'"', '{', '}', '[', ']'}) t[static_cast<unsigned char>(c)] = true;
        return t;
    }();
    const auto skip_value = [&] {
        if (i < n && text[i] == '"') return skip_string();
        if (i < n && (text[i] == '{' || text[i] == '[')) {
            int depth = 0;
            while (i < n) {
                const auto c = static_cast<unsigned char>(text[i]);
                if (!kStructural[c]) {
                    ++i;
                    continue;
                }
                if (c == '"') {
                    skip_string();
                    continue;
                }
                if (c == '{' || c == '[') ++depth;
                if (c == '}' || c == ']') --depth;
                ++i;
                if (depth == 0) return;
            }
            return;
        }
        while (i < n && text[i] != ',' && text[i] != '}' && text[i] != ']' && text[i] != ' ' &&
               text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            ++i;
        }
    };
    std::vector<std::string_view> out;
    bool found = false;
    ws();
    if (i >= n || text[i] != '{') return {};
    ++i;
    while (true) {
        ws();
        if (i < n && text[i] == '}') return out;  // also the empty object
        if (i >= n || text[i] != '"') return {};
        const std::size_t key_start = i + 1;
        skip_string();
        const std::string_view key = text.substr(key_start, i - 1 - key_start);
        ws();
        if (i >= n || text[i] != ':') return {};
        ++i;
        ws();
        if (key == "samples") {
            // Twice: the decoder kept one of them, and the texts might be the other's.
            if (found || i >= n || text[i] != '[') return {};
            found = true;
            ++i;
            while (true) {
                ws();
                if (i >= n) return {};
                if (text[i] == ']') {
                    ++i;
                    break;
                }
                const std::size_t start = i;
                skip_value();
                out.emplace_back(text.substr(start, i - start));
                ws();
                if (i < n && text[i] == ',') ++i;
            }
        } else {
            skip_value();
        }
        ws();
        if (i < n && text[i] == ',') {
            ++i;
            continue;
        }
        if (i < n && text[i] == '}') return out;
        return {};
    }
}

// What the writer reports back: queued == false when the queue was full.
struct Outcome {
    bool queued = false;
    IngestResult result;
    std::exception_ptr error;
};

// Submits to the writer and resumes the coroutine on its own executor once the batch is
// committed or refused; the writer thread never touches the connection.
template <typename CompletionToken>
auto async_submit(StoreWriter& writer, IngestBatch batch, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(Outcome)>(
        [&writer](auto handler, IngestBatch b) {
            using Handler = decltype(handler);
            auto ex = asio::get_associated_executor(handler);
            // std::function needs a copyable callback; the handler is move-only.
            auto shared = std::make_shared<Handler>(std::move(handler));
            bool accepted = false;
            try {
                accepted = writer.try_submit(
                    std::move(b), [shared, ex](const IngestResult& r, std::exception_ptr e) {
                        asio::post(ex, [shared, r, e]() mutable {
                            std::move (*shared)(Outcome{true, r, e});
                        });
                    });
            } catch (...) {
                // try_submit throws after shutdown: report it as an error outcome.
                auto e = std::current_exception();
                asio::post(ex, [shared, e]() mutable {
                    std::move (*shared)(Outcome{true, IngestResult{}, e});
                });
                return;
            }
            if (!accepted) {
                asio::post(ex, [shared]() mutable { std::move (*shared)(Outcome{}); });
            }
        },
        token, std::move(batch));
}

asio::awaitable<Reply> ingest(const Token& caller, const std::string& body, StoreWriter& writer,
                              CollectorMetrics* metrics) {
    auto decoded = decode_ingest(body);
    if (auto* refusal = std::get_if<Reply>(&decoded)) co_return std::move(*refusal);
    IngestBatch batch = std::move(std::get<IngestBatch>(decoded));
    if (caller.role == Role::agent && caller.agent_id != batch.agent_id) {
        co_return json_error(403,
                             "this token belongs to agent \"" + caller.agent_id +
                                 "\" and may not post for agent \"" + batch.agent_id + "\"",
                             "agent_id");
    }
    // A site-scoped agent token: whatever site the batch or a sample names must be its own;
    // samples that name none inherit the batch's, which becomes the token's when absent.
    if (caller.role == Role::agent && !caller.site.empty()) {
        const auto refuse = [&](const std::string& named, const std::string& path) {
            return json_error(403,
                              "this token is scoped to site \"" + caller.site +
                                  "\" and may not post for site \"" + named + "\"",
                              path);
        };
        if (batch.site && *batch.site != caller.site) co_return refuse(*batch.site, "site");
        for (std::size_t i = 0; i < batch.samples.size(); ++i) {
            const auto& s = batch.samples[i].site;
            if (s && *s != caller.site) {
                co_return refuse(*s, "samples[" + std::to_string(i) + "].site");
            }
        }
        if (!batch.site) batch.site = caller.site;
    }

    const std::size_t count = batch.samples.size();
    const std::string agent_id = batch.agent_id;
    // Compacted before the commit, applied only after it: /metrics never shows a sample the
    // store does not hold.
    std::vector<LatestMinerPtr> pending;
    if (metrics != nullptr) pending = metrics->latest().prepare(batch.samples, batch.site);
    Outcome outcome = co_await async_submit(writer, std::move(batch), asio::use_awaitable);
    if (!outcome.queued) {
        Reply r = json_error(503, "ingest queue is full; retry later");
        r.headers.emplace_back("Retry-After", "1");
        co_return r;
    }
    if (outcome.error) {
        try {
            std::rethrow_exception(outcome.error);
        } catch (const InvalidBatch& e) {
            std::string path;
            if (e.sample_index()) path = "samples[" + std::to_string(*e.sample_index()) + "].";
            path += e.field();
            co_return json_error(400, e.what(), path);
        } catch (const sqlite::Error& e) {
            if (metrics != nullptr) metrics->record_store_error(StoreOperation::ingest);
            log::error("ingest failed", {{"agent_id", caller.agent_id}, {"error", e.what()}});
            // A full disk is the operator's to fix, and the agent's spool holds the batch
            // meanwhile: say so, rather than leave both guessing. Nothing of it was written.
            Reply r = json_error(503, (e.code() & 0xff) == kSqliteFull
                                          ? "batch could not be stored: the collector's disk is "
                                            "full (SQLITE_FULL); retry later"
                                          : "batch could not be stored; retry later");
            r.headers.emplace_back("Retry-After", "5");
            co_return r;
        } catch (const std::exception& e) {
            log::error("ingest failed", {{"agent_id", caller.agent_id}, {"error", e.what()}});
            Reply r = json_error(503, "batch could not be stored; retry later");
            r.headers.emplace_back("Retry-After", "5");
            co_return r;
        }
    }
    if (metrics != nullptr) {
        const bool duplicate = outcome.result.duplicate;
        metrics->record_ingest(duplicate ? IngestOutcome::duplicate : IngestOutcome::stored,
                               outcome.result.stored);
        if (!duplicate) {
            metrics->latest().apply(pending);
            metrics->record_agent_ingest(agent_id, now_ms());
        }
    }
    log::debug("ingest", {{"samples", count},
                          {"stored", outcome.result.stored},
                          {"duplicate", outcome.result.duplicate}});
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("stored", static_cast<std::uint64_t>(outcome.result.stored));
    w.field("duplicate", outcome.result.duplicate);
    w.end_object();
    co_return json_reply(200, std::move(out));
}

}  // namespace

std::variant<IngestBatch, Reply> decode_ingest(std::string_view body) {
    IngestBatch batch;
    try {
        json::error_code ec;
        // The document lives in one arena released at once; with the default storage a
        // 500-sample batch cost a malloc/free pair per object, array and string in it.
        json::monotonic_resource arena(body.size() * 2 + 4096);
        json::value doc = json::parse(body, ec, &arena);
        if (ec) return json_error(400, "malformed JSON: " + ec.message());
        batch = decode_batch(doc);
        batch.sample_texts = raw_sample_texts(body);
        // A key repeated in the body would make the text disagree with what was decoded.
        if (batch.sample_texts.size() != batch.samples.size()) batch.sample_texts.clear();
    } catch (const BadRequest& e) {
        return json_error(400, e.path.empty() ? e.message : e.path + ": " + e.message, e.path);
    } catch (const DecodeError& e) {
        return json_error(400, e.what(), e.path());
    }
    return batch;
}

asio::awaitable<Reply> handle_ingest(const Token& caller, const std::string& body,
                                     StoreWriter& writer, CollectorMetrics* metrics) {
    Reply r = co_await ingest(caller, body, writer, metrics);
    if (metrics != nullptr && r.status != 200) metrics->record_ingest(IngestOutcome::rejected, 0);
    co_return r;
}

}  // namespace hashwatt::collector
