#include "ddsim/http/server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <thread>

#include "apmcov/base/log.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {
namespace {

const Logger& Log() {
  static const Logger log("ddsim.http");
  return log;
}

// One request's state across libmicrohttpd's calls of the access handler: the body arrives
// in pieces before the final call.
struct RequestState {
  std::string body;
  size_t max_body = 0;  // DdsimApi::MaxBodyBytes() of the path
  bool too_large = false;
};

MHD_Result CollectPair(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* out = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
  out->emplace_back(key ? key : "", value ? value : "");
  return MHD_YES;
}

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* out = static_cast<std::map<std::string, std::string>*>(cls);
  std::string lower = key ? key : "";
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  (*out)[lower] = value ? value : "";
  return MHD_YES;
}

void FreeBody(void* body) { delete static_cast<std::string*>(body); }

MHD_Result Queue(MHD_Connection* connection, HttpResponse&& resp) {
  // The body is handed over, not copied: libmicrohttpd sends from it and frees it when done.
  auto* body = new std::string(std::move(resp.body));
  MHD_Response* r = MHD_create_response_from_buffer_with_free_callback_cls(
      body->size(), body->data(), &FreeBody, body);
  if (r == nullptr) {
    delete body;
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type.c_str());
  for (const auto& [k, v] : resp.headers) MHD_add_response_header(r, k.c_str(), v.c_str());
  const MHD_Result ok = MHD_queue_response(connection, static_cast<unsigned>(resp.status), r);
  MHD_destroy_response(r);
  return ok;
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                     void** con_cls) {
  auto* state = static_cast<RequestState*>(*con_cls);
  if (state == nullptr) {  // headers are in; the body (if any) follows in later calls
    state = new RequestState;
    state->max_body = static_cast<DdsimApi*>(cls)->MaxBodyBytes(url);
    *con_cls = state;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (state->body.size() + *upload_data_size > state->max_body)
      state->too_large = true;
    else
      state->body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (state->too_large) {
    HttpResponse resp;
    resp.status = 413;
    resp.body = Cat(R"({"errors":["request body larger than )", state->max_body, R"( bytes"]})");
    return Queue(connection, std::move(resp));
  }

  HttpRequest r;
  r.method = method;
  r.path = url;  // libmicrohttpd has percent-decoded the path and the arguments
  MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &CollectPair, &r.query);
  MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &r.headers);
  r.body = std::move(state->body);
  HttpResponse resp = static_cast<DdsimApi*>(cls)->Handle(r);
  // Each connection has its own thread, so a slow answer holds up only its own client.
  if (resp.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(resp.delay_ms));
  if (resp.drop_connection) return MHD_NO;  // closes the connection without an answer
  return Queue(connection, std::move(resp));
}

void OnCompleted(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<RequestState*>(*con_cls);
  *con_cls = nullptr;
}

void OnLibraryMessage(void*, const char* fmt, va_list ap) {
  char line[512];
  std::vsnprintf(line, sizeof line, fmt, ap);
  std::string msg = line;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  Log().Warn("libmicrohttpd", {{"detail", msg}});
}

}  // namespace

struct DdsimServer::Impl {
  MHD_Daemon* daemon = nullptr;
};

DdsimServer::DdsimServer(DdsimApi& api, std::string address, uint16_t port,
                         unsigned max_connections)
    : api_(api), address_(std::move(address)), port_(port), max_connections_(max_connections) {}

DdsimServer::~DdsimServer() { Stop(); }

absl::Status DdsimServer::Start() {
  // Span pages are ~1 MB: keep such buffers in the heap instead of a fresh mmap (and its page
  // faults) per response, which otherwise costs more than building the page.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  const std::string host = address_ == "localhost" ? "127.0.0.1" : address_;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(Cat("ddsim cannot listen on ", address_,
                                          ": not an IPv4 address (use 0.0.0.0 or 127.0.0.1)"));
  }
  impl_ = std::make_unique<Impl>();
  // One thread per connection: a slow or dropped answer (injected faults) never delays other
  // clients, and a response body is sent straight from the string DdsimApi built.
  const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_POLL | MHD_USE_ERROR_LOG;
  impl_->daemon = MHD_start_daemon(
      flags, port_, nullptr, nullptr, &OnRequest, &api_,       //
      MHD_OPTION_EXTERNAL_LOGGER, &OnLibraryMessage, nullptr,  // first, to catch every message
      MHD_OPTION_SOCK_ADDR, &addr,                             //
      MHD_OPTION_NOTIFY_COMPLETED, &OnCompleted, nullptr,      //
      MHD_OPTION_CONNECTION_LIMIT, max_connections_,           //
      MHD_OPTION_CONNECTION_TIMEOUT, 300u,                     // idle keep-alive, seconds
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(256 << 10),  // request head
      MHD_OPTION_END);
  if (impl_->daemon == nullptr) {
    impl_.reset();
    return absl::UnavailableError(
        Cat("ddsim cannot listen on ", address_, ":", port_, " (port in use?)"));
  }
  if (const MHD_DaemonInfo* info = MHD_get_daemon_info(impl_->daemon, MHD_DAEMON_INFO_BIND_PORT)) {
    port_ = info->port;
  }
  return absl::OkStatus();
}

void DdsimServer::Stop() {
  if (impl_ && impl_->daemon) {
    MHD_stop_daemon(impl_->daemon);
    impl_.reset();
  }
}

}  // namespace apmcov::ddsim
