// An HTTP/1.1 server for client tests, on libmicrohttpd: binds 127.0.0.1 on a free port,
// serves each connection on its own thread with keep-alive, and answers every request with a
// handler's response (optionally gzip-compressed, optionally after a delay). Records requests
// and counts connections so tests can assert what the client sent. Not for production use.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

struct MHD_Daemon;
struct MHD_Connection;

namespace apmcov::datadog::testing {

struct TestRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  bool HasHeader(const std::string& lower) const { return headers.count(lower) > 0; }
};

struct TestResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int delay_ms = 0;   // sleep before answering (to provoke client timeouts)
  bool gzip = false;  // compress when the request accepts gzip
};

class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::vector<TestRequest> requests() const;

 private:
  struct Exchange;   // one request in progress
  struct Callbacks;  // libmicrohttpd's callbacks (test_http_server.cc)

  Handler handler_;
  struct MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;  // wakes delayed answers when the server stops
  bool stopping_ = false;
  std::vector<TestRequest> requests_;
};

}  // namespace apmcov::datadog::testing
