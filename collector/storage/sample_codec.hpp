// Raw samples are stored compressed with zstd. Each row's JSON is small (about 1.8 KB for a
// four-board rig) and on its own compresses only about 2x, but the rows of one fleet repeat the
// same keys, models, firmware strings and pool URLs: a dictionary trained on the collector's own
// first samples takes a row to about 15 % of its text (docs/storage.md). The dictionaries live
// in the sample_dicts table and are never deleted, so every row stays readable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct ZSTD_CCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DCtx_s;
struct ZSTD_DDict_s;

namespace hashwatt::collector {

// A sample_zstd value that does not decompress (a damaged file, a dictionary that is missing).
class CorruptSample : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// With a dictionary, level 1 is both the fastest of the usual levels on rows this small and the
// smallest (measured on the benchmark fleet's rows: 6.9x at 390 MB/s, level 3 6.9x at 255 MB/s;
// the --fast levels 3.8 to 4.3x).
inline constexpr int kSampleZstdLevel = 1;
// The dictionary's size: past 16 KiB the rows hardly shrink, and every dictionary is loaded in
// full by the writer and by each reader.
inline constexpr std::size_t kSampleDictBytes = 16 * 1024;
// Samples the dictionary is trained on: about 1.8 MB of text, a fraction of a second to train.
inline constexpr std::size_t kSampleDictTrainingSamples = 1000;

// The write side: one per connection that inserts samples, not thread-safe.
class SampleCompressor {
  public:
    explicit SampleCompressor(int level = kSampleZstdLevel);
    ~SampleCompressor();
    SampleCompressor(const SampleCompressor&) = delete;
    SampleCompressor& operator=(const SampleCompressor&) = delete;

    // New samples are compressed with this dictionary (sample_dicts row `id`).
    void use_dictionary(std::int64_t id, std::string_view dictionary);
    // The sample_dicts id samples are compressed with now; nullopt: no dictionary yet.
    std::optional<std::int64_t> dictionary_id() const noexcept { return dict_id_; }

    // `json` compressed; the view stays valid until the next call.
    std::string_view compress(std::string_view json);

  private:
    ZSTD_CCtx_s* cctx_ = nullptr;
    ZSTD_CDict_s* cdict_ = nullptr;
    std::optional<std::int64_t> dict_id_;
    int level_;
    std::string out_;
};

// The read side: one per connection that reads samples, not thread-safe. Dictionaries are
// loaded the first time a row names them.
class SampleDecompressor {
  public:
    // The bytes of sample_dicts row `id`; throws (CorruptSample) when there is none.
    using DictionaryLoader = std::function<std::string(std::int64_t id)>;

    explicit SampleDecompressor(DictionaryLoader loader);
    ~SampleDecompressor();
    SampleDecompressor(const SampleDecompressor&) = delete;
    SampleDecompressor& operator=(const SampleDecompressor&) = delete;

    // The JSON text of a row: `frame` (sample_zstd) compressed with dictionary `dict_id`
    // (sample_dict; nullopt: none). Throws CorruptSample when the frame does not decompress.
    std::string decompress(std::string_view frame, std::optional<std::int64_t> dict_id);

  private:
    ZSTD_DCtx_s* dctx_ = nullptr;
    std::map<std::int64_t, ZSTD_DDict_s*> ddicts_;
    DictionaryLoader loader_;
};

// A dictionary for `samples` of at most `bytes`; empty when zstd finds too little in them to
// learn from (too few or too alike), in which case rows are compressed without one.
std::string train_sample_dictionary(const std::vector<std::string>& samples,
                                    std::size_t bytes = kSampleDictBytes);

}  // namespace hashwatt::collector
