// The JSON form of the shared vocabulary: what the agent sends the collector, what
// `hashwatt poll --json` prints, what the API serves. docs/api.md describes the schema.
//
// Encoding omits absent optionals. Decoding checks every known field's type, requires the
// fields marked required in docs/api.md, treats null as absent, and ignores unknown fields so
// that a newer agent can talk to an older collector.
#pragma once

#include "common/command.hpp"
#include "common/miner_sample.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace hashwatt {

// A document that does not match the schema. `path()` names the field ("boards[1].chips").
class DecodeError : public std::runtime_error {
  public:
    DecodeError(std::string path, const std::string& what);
    const std::string& path() const noexcept { return path_; }

  private:
    std::string path_;
};

class JsonWriter;

// Encoding writes through a JsonWriter (common/json_writer.hpp) so that batches and API
// replies are built in one buffer.
void write_json(JsonWriter& w, const MinerSample& s);
// One board as it stands inside a sample's "boards" (also stored on its own by the collector).
void write_json(JsonWriter& w, const BoardSample& b);
void write_json(JsonWriter& w, const Command& c);
void write_json(JsonWriter& w, const CommandResult& r);

// `path` prefixes error paths, e.g. "samples[3]" when decoding inside an ingest batch.
// How a JSON value's kind reads in an error message: "a string", "a number", "an array"...
std::string_view json_kind_name(const boost::json::value& v);

MinerSample sample_from_json(const boost::json::value& v, std::string_view path = {});
Command command_from_json(const boost::json::value& v, std::string_view path = {});
CommandResult command_result_from_json(const boost::json::value& v, std::string_view path = {});

// Text helpers. The decoders throw DecodeError, also for text that is not JSON at all.
std::string encode_sample(const MinerSample& s);
std::string encode_command(const Command& c);
std::string encode_command_result(const CommandResult& r);
MinerSample decode_sample(std::string_view json);

}  // namespace hashwatt
