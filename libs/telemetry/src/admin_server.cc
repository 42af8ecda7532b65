#include "apmcov/telemetry/admin_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/telemetry/process_metrics.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace apmcov::telemetry {
namespace {

namespace Http = Pistache::Http;

const Logger& Log() {
  static const Logger log("telemetry.admin");
  return log;
}

// What the request thread reads; shared by every clone of the handler.
struct SharedState {
  std::shared_ptr<prometheus::Registry> registry;
  std::mutex mu;
  std::vector<ReadinessCheck> checks;
  std::vector<std::function<void()>> scrape_hooks;
  std::unique_ptr<ProcessMetrics> process_metrics;
};

std::string RunReadinessChecks(SharedState& state) {
  std::vector<ReadinessCheck> checks;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    checks = state.checks;
  }
  std::string failures;
  for (const ReadinessCheck& c : checks) {
    std::string message;
    try {
      absl::Status s = c.check ? c.check() : absl::InternalError("no check function");
      if (s.ok()) continue;
      message = std::string(s.message());
      if (message.empty()) message = std::string(StatusCodeName(s.code()));
    } catch (const std::exception& e) {
      message = absl::StrCat("check threw: ", e.what());
    } catch (...) {
      message = "check threw an unknown exception";
    }
    if (!failures.empty()) failures += "; ";
    absl::StrAppend(&failures, c.name, ": ", message);
  }
  return failures;
}

void RunHooks(SharedState& state) {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    hooks = state.scrape_hooks;
  }
  for (const auto& hook : hooks) hook();
}

std::string SerializeMetrics(SharedState& state) {
  RunHooks(state);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, state.registry->Collect());
  return std::move(out).str();
}

class AdminHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(AdminHandler)

  explicit AdminHandler(std::shared_ptr<SharedState> state) : state_(std::move(state)) {}

  void onRequest(const Http::Request& request, Http::ResponseWriter response) override {
    const std::string& path = request.resource();
    const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
    if (!known) {
      Reply(response, Http::Code::Not_Found, "not found\n");
      return;
    }
    if (request.method() != Http::Method::Get) {
      response.headers().add<Http::Header::Allow>(Http::Method::Get);
      Reply(response, Http::Code::Method_Not_Allowed, "method not allowed\n");
      return;
    }
    try {
      if (path == "/healthz") {
        Reply(response, Http::Code::Ok, "ok\n");
      } else if (path == "/readyz") {
        std::string failures = RunReadinessChecks(*state_);
        if (failures.empty()) {
          Reply(response, Http::Code::Ok, "ready\n");
        } else {
          Reply(response, Http::Code::Service_Unavailable,
                absl::StrCat("not ready: ", failures, "\n"));
        }
      } else {
        std::string body = SerializeMetrics(*state_);
        response.send(Http::Code::Ok, body,
                      Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
      }
    } catch (const std::exception& e) {
      Log().Error("admin request failed", {{"path", path}, {"error", e.what()}});
      Reply(response, Http::Code::Internal_Server_Error, "internal error\n");
    }
  }

 private:
  static void Reply(Http::ResponseWriter& response, Http::Code code, std::string body) {
    response.send(code, body, MIME(Text, Plain));
  }

  std::shared_ptr<SharedState> state_;
};

}  // namespace

struct AdminServer::Impl {
  std::shared_ptr<SharedState> state = std::make_shared<SharedState>();
  std::string bind_address;
  uint16_t requested_port = 0;
  std::atomic<uint16_t> bound_port{0};
  std::atomic<bool> started{false};
  std::mutex lifecycle_mu;  // Start/Stop
  std::unique_ptr<Http::Endpoint> endpoint;
};

AdminServer::AdminServer(std::shared_ptr<prometheus::Registry> registry, std::string bind_address,
                         uint16_t port)
    : impl_(std::make_unique<Impl>()) {
  impl_->state->registry = std::move(registry);
  impl_->bind_address = std::move(bind_address);
  impl_->requested_port = port;
}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::AddReadinessCheck(ReadinessCheck check) {
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  impl_->state->checks.push_back(std::move(check));
}

void AdminServer::AddScrapeHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(impl_->state->mu);
  impl_->state->scrape_hooks.push_back(std::move(hook));
}

void AdminServer::RunScrapeHooks() { RunHooks(*impl_->state); }

void AdminServer::EnableProcessMetrics(std::string_view service, std::string_view version) {
  SharedState& state = *impl_->state;
  std::lock_guard<std::mutex> lock(state.mu);
  if (state.process_metrics != nullptr) return;
  state.process_metrics = std::make_unique<ProcessMetrics>(*state.registry, service, version);
  ProcessMetrics* metrics = state.process_metrics.get();
  state.scrape_hooks.push_back([metrics] { metrics->Refresh(); });
}

absl::Status AdminServer::Start() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->started) return absl::FailedPreconditionError("admin server already started");
  if (impl_->state->registry == nullptr) {
    return absl::InvalidArgumentError("admin server needs a metrics registry");
  }
  const std::string where = absl::StrCat(impl_->bind_address, ":", impl_->requested_port);
  std::unique_ptr<Pistache::Address> address;
  try {
    address = std::make_unique<Pistache::Address>(impl_->bind_address,
                                                  Pistache::Port(impl_->requested_port));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("ADMIN_PORT: bad admin bind address ", where, ": ", e.what()));
  }
  try {
    auto endpoint = std::make_unique<Http::Endpoint>(*address);
    endpoint->init(Http::Endpoint::options()
                       .threads(1)
                       .threadsName("admin-http")
                       .flags(Pistache::Tcp::Options::ReuseAddr)
                       .maxRequestSize(16 * 1024)
                       .maxResponseSize(64 * 1024 * 1024));
    endpoint->setHandler(std::make_shared<AdminHandler>(impl_->state));
    endpoint->serveThreaded();
    impl_->bound_port = static_cast<uint16_t>(endpoint->getPort());
    impl_->endpoint = std::move(endpoint);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("ADMIN_PORT: cannot serve the admin server on ", where, ": ", e.what()));
  }
  impl_->started = true;
  Log().Info("admin server listening", {{"address", impl_->bind_address},
                                        {"port", static_cast<int>(impl_->bound_port.load())}});
  return absl::OkStatus();
}

void AdminServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->endpoint == nullptr) return;
  try {
    impl_->endpoint->shutdown();
  } catch (const std::exception& e) {
    Log().Warn("admin server shutdown failed", {{"error", e.what()}});
  }
  impl_->endpoint.reset();
}

uint16_t AdminServer::port() const {
  return impl_->started ? impl_->bound_port.load() : impl_->requested_port;
}

}  // namespace apmcov::telemetry
