// One HTTP request and one response as DdsimApi sees them, independent of any HTTP library
// (the server fills the request from libmicrohttpd and sends the response back).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace apmcov::ddsim {

struct HttpRequest {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // without the query string
  std::vector<std::pair<std::string, std::string>> query;  // percent-decoded
  std::map<std::string, std::string> headers;              // lowercase names
  std::string body;

  const std::string* Query(const std::string& name) const;
  const std::string* Header(const std::string& lowercase_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t delay_ms = 0;          // the server waits this long before answering
  bool drop_connection = false;  // the server closes the connection without answering
};

}  // namespace apmcov::ddsim
