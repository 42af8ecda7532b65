// A blocking HTTP request over a real socket with libcurl, for the admin server tests.
#pragma once

#include <cstdint>
#include <string>

namespace apmcov::telemetry::testing {

struct HttpReply {
  long status = 0;  // 0 when the request failed (see error)
  std::string body;
  std::string content_type;
  std::string error;
};

HttpReply HttpRequest(const std::string& method, uint16_t port, const std::string& path);
inline HttpReply HttpGet(uint16_t port, const std::string& path) {
  return HttpRequest("GET", port, path);
}

}  // namespace apmcov::telemetry::testing
