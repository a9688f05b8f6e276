// The decode step of POST /api/v1/ingest (collector/api/ingest.cpp decode_ingest): an agent's
// batch body, parsed and checked strictly before anything reaches the store. Bad bodies must
// end in a 400 answer naming the field, never in a crash or an exception; a decoded batch's
// raw sample texts must be views into the body, one per sample.
#include "collector/api/routes.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

using namespace hashwatt::collector;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    const auto decoded = decode_ingest(body);
    if (const auto* refusal = std::get_if<Reply>(&decoded)) {
        if (refusal->status != 400 || refusal->body.empty()) {
            std::fprintf(stderr, "refusal is not a 400 with a body: %u\n", refusal->status);
            std::abort();
        }
        return 0;
    }
    const auto& batch = std::get<IngestBatch>(decoded);
    if (!batch.sample_texts.empty() && batch.sample_texts.size() != batch.samples.size()) {
        std::fprintf(stderr, "%zu sample texts for %zu samples\n", batch.sample_texts.size(),
                     batch.samples.size());
        std::abort();
    }
    for (const auto t : batch.sample_texts) {
        if (t.data() < body.data() || t.data() + t.size() > body.data() + body.size()) {
            std::fprintf(stderr, "a sample text outside the body\n");
            std::abort();
        }
    }
    return 0;
}
