#include "collector/storage/sample_codec.hpp"

#include <new>
#include <zdict.h>
#include <zstd.h>

namespace hashwatt::collector {

namespace {

// A decompressed row larger than this is not a sample (the ingest body limit bounds what a
// sample can be); refusing it keeps a damaged frame from asking for gigabytes.
constexpr unsigned long long kMaxSampleBytes = 16ull << 20;

void check(std::size_t rc, const char* what) {
    if (ZSTD_isError(rc)) {
        throw std::runtime_error(std::string("zstd: ") + what + ": " + ZSTD_getErrorName(rc));
    }
}

}  // namespace

SampleCompressor::SampleCompressor(int level) : cctx_(ZSTD_createCCtx()), level_(level) {
    if (!cctx_) throw std::bad_alloc();
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level_), "set level");
    // The row says which dictionary it used (sample_dict): the 4 bytes of dictionary id in
    // each frame would repeat it.
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_dictIDFlag, 0), "set dictIDFlag");
}

SampleCompressor::~SampleCompressor() {
    ZSTD_freeCDict(cdict_);
    ZSTD_freeCCtx(cctx_);
}

void SampleCompressor::use_dictionary(std::int64_t id, std::string_view dictionary) {
    ZSTD_CDict* cdict = ZSTD_createCDict(dictionary.data(), dictionary.size(), level_);
    if (!cdict)
        throw std::runtime_error("zstd: cannot load sample dictionary " + std::to_string(id));
    check(ZSTD_CCtx_refCDict(cctx_, cdict), "reference dictionary");
    ZSTD_freeCDict(cdict_);
    cdict_ = cdict;
    dict_id_ = id;
}

std::string_view SampleCompressor::compress(std::string_view json) {
    out_.resize(ZSTD_compressBound(json.size()));
    const std::size_t n = ZSTD_compress2(cctx_, out_.data(), out_.size(), json.data(), json.size());
    check(n, "compress sample");
    return {out_.data(), n};
}

SampleDecompressor::SampleDecompressor(DictionaryLoader loader)
    : dctx_(ZSTD_createDCtx()), loader_(std::move(loader)) {
    if (!dctx_) throw std::bad_alloc();
}

SampleDecompressor::~SampleDecompressor() {
    for (auto& [id, d] : ddicts_) ZSTD_freeDDict(d);
    ZSTD_freeDCtx(dctx_);
}

std::string SampleDecompressor::decompress(std::string_view frame,
                                           std::optional<std::int64_t> dict_id) {
    const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > kMaxSampleBytes) {
        throw CorruptSample("stored sample is not a zstd frame of a known size");
    }
    const ZSTD_DDict* ddict = nullptr;
    if (dict_id) {
        auto it = ddicts_.find(*dict_id);
        if (it == ddicts_.end()) {
            const std::string bytes = loader_(*dict_id);
            ZSTD_DDict* d = ZSTD_createDDict(bytes.data(), bytes.size());
            if (!d)
                throw CorruptSample("sample dictionary " + std::to_string(*dict_id) +
                                    " does not load");
            it = ddicts_.emplace(*dict_id, d).first;
        }
        ddict = it->second;
    }
    std::string out(static_cast<std::size_t>(size), '\0');
    const std::size_t n = ZSTD_decompress_usingDDict(dctx_, out.data(), out.size(), frame.data(),
                                                     frame.size(), ddict);
    if (ZSTD_isError(n) || n != out.size()) {
        throw CorruptSample(std::string("stored sample does not decompress: ") +
                            (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
    }
    return out;
}

std::string train_sample_dictionary(const std::vector<std::string>& samples, std::size_t bytes) {
    std::string joined;
    std::vector<std::size_t> sizes;
    sizes.reserve(samples.size());
    for (const auto& s : samples) {
        joined += s;
        sizes.push_back(s.size());
    }
    std::string dict(bytes, '\0');
    const std::size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(),
                                                sizes.data(), static_cast<unsigned>(sizes.size()));
    if (ZDICT_isError(n)) return {};
    dict.resize(n);
    return dict;
}

}  // namespace hashwatt::collector
