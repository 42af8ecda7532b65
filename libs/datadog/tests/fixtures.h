// Loads the recorded Datadog responses under $APMCOV_FIXTURES_DIR (set by ctest).
#pragma once

#include <simdjson.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace apmcov::datadog::testing {

struct Fixture {
  int status = 0;
  std::string body;  // response.body re-serialised as JSON
};

inline Fixture LoadFixture(const std::string& name) {
  const char* dir = std::getenv("APMCOV_FIXTURES_DIR");
  if (dir == nullptr) throw std::runtime_error("APMCOV_FIXTURES_DIR is not set (run under ctest)");
  std::ifstream in(std::string(dir) + "/" + name);
  if (!in) throw std::runtime_error("cannot open fixture " + name);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(text);
  Fixture f;
  f.status = static_cast<int>(int64_t(root["response"]["status"]));
  f.body = simdjson::minify(root["response"]["body"]);
  return f;
}

}  // namespace apmcov::datadog::testing
