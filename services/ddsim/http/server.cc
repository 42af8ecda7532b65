#include "ddsim/http/server.h"

#include <malloc.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "ddsim/world/cat.h"
#include "pistache/endpoint.h"
#include "pistache/http.h"
#include "pistache/peer.h"

namespace apmcov::ddsim {
namespace {

using namespace Pistache;

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexVal(s[i + 1]) >= 0 && HexVal(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A response header with a runtime name (Pistache writes only typed headers).
class NamedHeader : public Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override { return std::hash<std::string>{}(name_); }
#endif

 private:
  std::string name_, value_;
};

class Handler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)
  explicit Handler(DdsimApi* api) : api_(api) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter writer) override {
    HttpRequest r;
    r.method = Http::methodString(req.method());
    r.path = PercentDecode(req.resource());
    for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it) {
      r.query.emplace_back(PercentDecode(it->first), PercentDecode(it->second));
    }
    for (const auto& [name, raw] : req.headers().rawList()) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[lower] = raw.value();
    }
    if (auto host = req.headers().tryGet<Http::Header::Host>()) {
      r.headers["host"] = host->port() == 0 || host->port() == 80
                              ? host->host()
                              : Cat(host->host(), ":", static_cast<uint16_t>(host->port()));
    }
    r.body = req.body();
    HttpResponse resp = api_->Handle(r);
    if (resp.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(resp.delay_ms));
    if (resp.drop_connection) {
      if (auto peer = writer.peer()) ::shutdown(peer->fd(), SHUT_RDWR);
      return;
    }
    for (const auto& [k, v] : resp.headers)
      writer.headers().add(std::make_shared<NamedHeader>(k, v));
    writer.send(static_cast<Http::Code>(resp.status), resp.body,
                Http::Mime::MediaType::fromString(resp.content_type));
  }

 private:
  DdsimApi* api_;
};

}  // namespace

struct DdsimServer::Impl {
  std::unique_ptr<Http::Endpoint> endpoint;
};

DdsimServer::DdsimServer(DdsimApi& api, std::string address, uint16_t port, int threads)
    : api_(api), address_(std::move(address)), port_(port), threads_(threads) {}

DdsimServer::~DdsimServer() { Stop(); }

absl::Status DdsimServer::Start() {
  // Span pages are ~1 MB: keep such buffers in the heap instead of a fresh mmap (and its page
  // faults) per response, which otherwise costs more than building the page.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  try {
    impl_ = std::make_unique<Impl>();
    Address addr(address_, Port(port_));
    impl_->endpoint = std::make_unique<Http::Endpoint>(addr);
    auto opts = Http::Endpoint::options()
                    .threads(threads_)
                    .flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay)
                    .maxRequestSize(1 << 20)
                    .maxResponseSize(256u << 20);
    impl_->endpoint->init(opts);
    impl_->endpoint->setHandler(Http::make_handler<Handler>(&api_));
    impl_->endpoint->serveThreaded();
    port_ = static_cast<uint16_t>(impl_->endpoint->getPort());
  } catch (const std::exception& e) {
    impl_.reset();
    return absl::UnavailableError(
        Cat("ddsim cannot listen on ", address_, ":", port_, ": ", e.what()));
  }
  return absl::OkStatus();
}

void DdsimServer::Stop() {
  if (impl_ && impl_->endpoint) {
    impl_->endpoint->shutdown();
    impl_.reset();
  }
}

}  // namespace apmcov::ddsim
