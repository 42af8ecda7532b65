#include "test_http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

namespace apmcov::datadog::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

MHD_Result CollectQuery(void* cls, MHD_ValueKind, const char* key, const char* value) {
  static_cast<TestRequest*>(cls)->query[key] = value != nullptr ? value : "";
  return MHD_YES;
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  static_cast<TestRequest*>(cls)->headers[Lower(key)] = value != nullptr ? value : "";
  return MHD_YES;
}

}  // namespace

// One request in progress: its body arrives over several calls.
struct TestHttpServer::Exchange {
  TestRequest request;
};

struct TestHttpServer::Callbacks {
  static void OnConnection(void* cls, MHD_Connection*, void**, MHD_ConnectionNotificationCode toe) {
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) ++static_cast<TestHttpServer*>(cls)->connections_;
  }

  static void OnCompleted(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    delete static_cast<Exchange*>(*con_cls);
    *con_cls = nullptr;
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url,
                              const char* method, const char*, const char* upload_data,
                              size_t* upload_data_size, void** con_cls) {
    auto* self = static_cast<TestHttpServer*>(cls);
    auto* exchange = static_cast<Exchange*>(*con_cls);
    if (exchange == nullptr) {  // the headers arrived
      exchange = new Exchange;
      exchange->request.method = method;
      exchange->request.path = url;
      MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &CollectQuery,
                                &exchange->request);
      MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &exchange->request);
      *con_cls = exchange;
      return MHD_YES;
    }
    if (*upload_data_size > 0) {  // a part of the body
      exchange->request.body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    return Answer(*self, connection, exchange->request);
  }

  static MHD_Result Answer(TestHttpServer& self, MHD_Connection* connection,
                           const TestRequest& req) {
    {
      std::lock_guard lock(self.mu_);
      self.requests_.push_back(req);
    }
    TestResponse resp = self.handler_(req);
    if (resp.delay_ms > 0) {
      std::unique_lock lock(self.mu_);
      self.stop_cv_.wait_for(lock, std::chrono::milliseconds(resp.delay_ms),
                             [&self] { return self.stopping_; });
    }
    std::string body = std::move(resp.body);
    auto accept = req.headers.find("accept-encoding");
    const bool gzip = resp.gzip && accept != req.headers.end() &&
                      accept->second.find("gzip") != std::string::npos;
    if (gzip) body = Gzip(body);
    MHD_Response* response =
        MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
    if (gzip) MHD_add_response_header(response, "Content-Encoding", "gzip");
    for (const auto& [k, v] : resp.headers) {
      MHD_add_response_header(response, k.c_str(), v.c_str());
    }
    const MHD_Result r =
        MHD_queue_response(connection, static_cast<unsigned>(resp.status), response);
    MHD_destroy_response(response);
    return r;
  }
};

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_POLL | MHD_USE_ERROR_LOG;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Callbacks::OnRequest, this, MHD_OPTION_SOCK_ADDR, &addr,
      MHD_OPTION_NOTIFY_COMPLETED, &Callbacks::OnCompleted, this, MHD_OPTION_NOTIFY_CONNECTION,
      &Callbacks::OnConnection, this, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (daemon_ == nullptr) throw std::runtime_error("test server cannot bind 127.0.0.1:0");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  if (info == nullptr) throw std::runtime_error("test server cannot tell its port");
  port_ = info->port;
}

TestHttpServer::~TestHttpServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  MHD_stop_daemon(daemon_);
}

std::vector<TestRequest> TestHttpServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

}  // namespace apmcov::datadog::testing
