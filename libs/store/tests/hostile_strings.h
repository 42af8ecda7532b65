// Strings that break SQL text, array literals or JSON when a value is spliced instead of
// bound: quotes, backslashes, braces, commas, whitespace, the word NULL, empty strings,
// SQL fragments and non-ASCII (shared by the store's tests).
#pragma once

#include <string>
#include <vector>

namespace apmcov::store::testing {

inline const std::vector<std::string>& HostileStrings() {
  static const std::vector<std::string> strings = {
      "",
      "\"",
      "\\",
      "\\\\\"",
      "{",
      "}",
      "{}",
      "{a,b}",
      "{\"x\",NULL}",
      ",",
      " ",
      "  padded  ",
      "\ttab\nnewline\r",
      "NULL",
      "null",
      "'",
      "''; DROP TABLE services; --",
      "$1",
      "E'\\x00'",
      "ARRAY['x']::text[]",
      "(1,2)",
      "\\N",
      "{\"json\": [1, \"two\"]}",
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82",
  };
  return strings;
}

}  // namespace apmcov::store::testing
