// Structural comparison of JSON documents, for the simulator's shape tests: "the simulator's reply
// has the same keys, types and nesting as the real capture", whatever the values.
#pragma once

#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

namespace hashwatt::test {

struct ShapeOptions {
    // false: integers (int64, uint64) and doubles are all "number" (firmware writes 0 and 0.00
    // for the same field). true: an integer where the reference has a double is a difference.
    bool number_kinds_strict = false;
};

// Every way `candidate` differs in shape from `reference`, one human-readable line each, led by
// the JSON path ("STATS[1].chain_rate1", keys that are not identifiers in brackets:
// `SUMMARY[0]["MHS av"]`, "(root)" for the document itself):
//   "<path>: type string in reference, number in candidate"
//   "<path>: missing in candidate"
//   "<path>: not in reference"
// Rules: a `null` in the reference matches anything; objects must have the same keys; in arrays,
// candidate element i is compared with reference element i, or with the reference's last element
// when the candidate is longer (arrays of records vary in length), and an empty array on either
// side matches any array. Empty result: same shape.
std::vector<std::string> shape_differences(const boost::json::value& reference,
                                           const boost::json::value& candidate,
                                           const ShapeOptions& options = {});

// A compact picture of a document's shape for failure messages, values replaced by their types:
// {"STATUS":[{"STATUS":string,"Code":integer}],"id":integer}; runs of array elements with the
// same shape are shown once with a count: [{"a":double} x3].
std::string shape_of(const boost::json::value& v);

}  // namespace hashwatt::test
