// gRPC requests into the gateway: the first byte picks a CoverageService method and the faults
// around it, the rest is decoded as that method's request message (ParseFromArray, as the gRPC
// server does before any handler runs) and handed to CoverageGrpcService over QueryService and
// the in-memory read model seeded with a few rows.
//
// First byte: bits 0-3 the method (mod 14; 11 is WatchSyncJobs, whose streaming handler needs a
// live call, so its job_id goes to QueryService::GetSyncJob, the read it polls; 12
// ListRecommendations, 13 GetServiceMap); bit 4 the store
// is unavailable; bit 5 the broker fails the next delivery; bit 6 an API token is configured;
// bit 7 the request carries the right bearer token.
//
// Asserts that every answer is a gRPC status a client can act on: only the codes the method
// documents for the faults in play (never UNKNOWN or INTERNAL); INVALID_ARGUMENT names a field
// of the request; every message is UTF-8 without NUL; a server fault shows only a request id,
// the same as the x-request-id trailer; an OK response survives the wire (serialize, parse,
// equal); a read over a store that is down never answers OK; next_page_token replayed gives
// the next page, with no row of the one before; TriggerSync publishes exactly when it answers
// OK, and its job is then visible as queued.
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/test/server_context_test_spouse.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "apmcov/base/clock.h"
#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/bus/memory_bus.h"
#include "apmcov/store/memory_read_model.h"
#include "apmcov/store/memory_store.h"
#include "grpc/grpc_service.h"
#include "metrics.h"
#include "query/query_service.h"
#include "rest/client_input.h"
#include "sync_trigger.h"

namespace {

using apmcov::gateway::CoverageGrpcService;
namespace v1 = apmcov::v1;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kNow = 1'795'300'000 * kSec;
constexpr char kToken[] = "fuzz-token";
constexpr char kTopicPrefix[] = "fuzz.";

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Faults {
  bool store_down = false;
  bool broker_fails = false;
  bool token_required = false;
  bool token_presented = false;
};

// What every input shares: the seeded store (written once, through Apply, as the analyzer
// writes it; SetUnavailable is reset after each input), the clock and the metrics registry.
struct World {
  World() : clock(std::chrono::system_clock::time_point(std::chrono::nanoseconds(kNow))) {
    apmcov::store::WriteBatch b;
    for (const char* name : {"api", "billing", "cart", "ledger", "legacy"}) {
      apmcov::store::CatalogServiceRecord r;
      r.snapshot_id = "s1";
      r.synced_at_ns = kNow - 120 * kSec;
      r.name = name;
      r.team = name[0] == 'b' || name[0] == 'l' ? "payments" : "web";
      r.envs = {"prod"};
      r.languages = {"go"};
      r.tier = name[0] == 'a' ? "1" : "2";
      r.lifecycle = std::string_view(name) == "legacy" ? "deprecated" : "production";
      r.customer_facing = name[0] != 'l';
      b.catalog_services.push_back(r);
    }
    for (const char* name : {"api", "cart", "ghost"}) {
      b.apm_observations.push_back({name, "prod", true, false, 10, {}, {}, kNow - 60 * kSec});
    }
    for (int i = 0; i < 4; ++i) {
      apmcov::store::BrokenTraceRecord t;
      t.trace_id = static_cast<uint64_t>(101 + i);
      t.env = i % 2 ? "prod" : "staging";
      t.root_service = "api";
      t.started_at_ns = kNow - (i / 2 + 1) * 600 * kSec;  // two pairs with equal start times
      t.detected_at_ns = t.started_at_ns;
      t.span_count = 2;
      t.services = {"api", "billing"};
      t.missing_services = {"billing"};
      t.gap_kinds = {"uninstrumented_callee"};
      t.spans.push_back({1, 0, "api", "GET /", "client", "http", t.started_at_ns, 5, ""});
      t.gaps.push_back({1, "uninstrumented_callee", "api", "billing", "billing:443", ""});
      b.broken_traces.push_back(t);
    }
    for (uint64_t trace = 1; trace <= 3; ++trace) {
      b.dependencies.push_back({"api", "billing", "call", "service", trace, kNow - 60 * kSec});
    }
    b.dependencies.push_back({"api", "postgres", "db", "datastore", 4, kNow - 60 * kSec});
    for (int i = 0; i < 2; ++i) {
      b.coverage_rows.push_back({kNow - (i + 1) * 3600 * kSec, "overall", "all", 4, 2});
      b.coverage_rows.push_back({kNow - (i + 1) * 3600 * kSec, "team", "web", 2, 2});
    }
    apmcov::store::SyncJobRecord done;
    done.id = "job-1";
    done.trigger = "schedule";
    done.state = "succeeded";
    done.started_at_ns = kNow - 120 * kSec;
    done.finished_at_ns = kNow - 100 * kSec;
    done.sampled_seconds = 20;
    done.updated_at_ns = *done.finished_at_ns;
    b.sync_jobs.push_back(done);
    b.judgements.push_back(
        {apmcov::gateway::QueryService::FloorHour(kNow - 600 * kSec), "api", 10, 4});
    Check(store.Apply(b).ok());
  }

  apmcov::store::MemoryCoverageStore store;
  apmcov::store::MemoryReadModel model{store};
  apmcov::ManualClock clock;
  prometheus::Registry registry;
  apmcov::gateway::GatewayMetrics metrics{registry};
};

World& TheWorld() {
  static World* world = new World();  // never destroyed: no teardown order at exit
  return *world;
}

// What one input gets fresh, so an input's answer depends on its bytes only.
struct Call {
  explicit Call(const Faults& f)
      : faults(f),
        queries(TheWorld().model, TheWorld().clock, {}),
        publisher(broker.NewPublisher()),
        sync(*publisher, TheWorld().clock, kTopicPrefix, std::chrono::milliseconds(100)),
        service(queries, sync, TheWorld().metrics, Options(f)) {
    if (f.broker_fails) broker.FailNextDeliveries(1);
    TheWorld().store.SetUnavailable(f.store_down);
  }
  ~Call() { TheWorld().store.SetUnavailable(false); }

  static apmcov::gateway::GrpcServiceOptions Options(const Faults& f) {
    apmcov::gateway::GrpcServiceOptions o;
    if (f.token_required) o.api_token = kToken;
    return o;
  }

  int64_t Published() const {
    auto marks = broker.Watermarks(sync.topic(), 0);
    int64_t n = 0;
    for (int32_t p = 0; marks.ok(); marks = broker.Watermarks(sync.topic(), ++p)) {
      n += marks->second;
    }
    return n;
  }

  Faults faults;
  apmcov::gateway::QueryService queries;
  apmcov::bus::MemoryBroker broker;
  std::unique_ptr<apmcov::bus::Publisher> publisher;
  apmcov::gateway::SyncTrigger sync;
  CoverageGrpcService service;
};

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The checks every answer passes; `allowed` are the codes the method may answer with the
// faults in play.
void CheckStatus(const grpc::Status& st, const google::protobuf::Message& request,
                 const std::set<grpc::StatusCode>& allowed,
                 const std::multimap<std::string, std::string>& trailers) {
  Check(allowed.count(st.error_code()) == 1);
  const std::string& message = st.error_message();
  Check(apmcov::gateway::IsValidUtf8(message) && message.find('\0') == std::string::npos);
  if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    const size_t colon = message.find(':');
    Check(colon != std::string::npos);
    Check(request.GetDescriptor()->FindFieldByName(message.substr(0, colon)) != nullptr);
  }
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
    static constexpr std::string_view kPrefix = "internal error; request id ";
    Check(message.size() == kPrefix.size() + 16 && message.rfind(kPrefix, 0) == 0);
    const std::string id = message.substr(kPrefix.size());
    Check(IsHex(id));
    const auto it = trailers.find("x-request-id");
    Check(it != trailers.end() && it->second == id);
  }
}

void CheckWire(const google::protobuf::Message& response) {
  std::string bytes;
  Check(response.SerializeToString(&bytes));
  std::unique_ptr<google::protobuf::Message> again(response.New());
  Check(again->ParseFromString(bytes));
  Check(google::protobuf::util::MessageDifferencer::Equals(response, *again));
}

template <class Req, class Resp>
using Method = grpc::Status (CoverageGrpcService::*)(grpc::ServerContext*, const Req*, Resp*);

// Calls `method` as the gRPC server would, checks the answer, and returns its status.
template <class Req, class Resp>
grpc::Status Invoke(Call& call, Method<Req, Resp> method, const Req& request, Resp* response,
                    std::set<grpc::StatusCode> allowed) {
  allowed.insert(grpc::StatusCode::OK);
  allowed.insert(grpc::StatusCode::INVALID_ARGUMENT);
  if (call.faults.store_down) allowed.insert(grpc::StatusCode::UNAVAILABLE);
  grpc::ServerContext ctx;
  grpc::testing::ServerContextTestSpouse spouse(&ctx);
  if (call.faults.token_presented) {
    spouse.AddClientMetadata("authorization", std::string("Bearer ") + kToken);
  }
  const grpc::Status st = (call.service.*method)(&ctx, &request, response);
  CheckStatus(st, request, allowed, spouse.GetTrailingMetadata());
  if (st.ok()) CheckWire(*response);
  return st;
}

// A read of the store: with the store down, never OK.
template <class Req, class Resp>
void Read(Call& call, Method<Req, Resp> method, const uint8_t* data, size_t size,
          std::set<grpc::StatusCode> allowed = {}) {
  Req request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  Resp response;
  const grpc::Status st = Invoke(call, method, request, &response, std::move(allowed));
  if (call.faults.store_down) Check(!st.ok());
}

// A paged list: replaying next_page_token gives the next page, which shares no row with the
// one before (keyset paging never repeats a row).
template <class Req, class Resp, class Keys>
void Paged(Call& call, Method<Req, Resp> method, const uint8_t* data, size_t size, Keys keys) {
  Req request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  Resp first;
  const grpc::Status st = Invoke(call, method, request, &first, {});
  if (call.faults.store_down) Check(!st.ok());
  if (!st.ok() || first.next_page_token().empty()) return;
  const std::set<std::string> seen = keys(first);
  request.set_page_token(first.next_page_token());
  Resp next;
  Check(Invoke(call, method, request, &next, {}).ok());
  Check(next.total() == first.total());
  for (const std::string& k : keys(next)) Check(seen.count(k) == 0);
}

void TriggerSync(Call& call, const uint8_t* data, size_t size) {
  v1::TriggerSyncRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  std::set<grpc::StatusCode> allowed;
  const bool refused = call.faults.token_required && !call.faults.token_presented;
  if (refused) allowed.insert(grpc::StatusCode::UNAUTHENTICATED);
  if (call.faults.broker_fails) allowed.insert(grpc::StatusCode::UNAVAILABLE);
  v1::TriggerSyncResponse response;
  const grpc::Status st =
      Invoke(call, &CoverageGrpcService::TriggerSync, request, &response, allowed);
  if (refused) Check(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  const int64_t published = call.Published();
  if (!st.ok()) {
    Check(published == 0);
    return;
  }
  Check(published == 1 && !response.job_id().empty());
  TheWorld().store.SetUnavailable(false);  // the job's read, not the sync, needs the store
  auto job = call.queries.GetSyncJob(response.job_id());
  Check(job.ok() && job->state == "queued");
}

void WatchSyncJob(Call& call, const uint8_t* data, size_t size) {
  v1::WatchSyncJobsRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  if (request.job_id().empty()) return;  // every job: the ListSyncJobs read
  auto job = call.queries.GetSyncJob(request.job_id());
  const absl::StatusCode code = job.status().code();
  Check(code == absl::StatusCode::kOk || code == absl::StatusCode::kNotFound ||
        code == absl::StatusCode::kInvalidArgument ||
        (call.faults.store_down && code == absl::StatusCode::kUnavailable));
  Check(apmcov::gateway::IsValidUtf8(apmcov::StdView(job.status().message())));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  apmcov::LogOptions quiet;
  quiet.level = apmcov::LogLevel::kOff;  // server faults are logged: expected here, and slow
  apmcov::ConfigureLogging(quiet);
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in a parsed string is logged
  TheWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t head = data[0];
  ++data;
  --size;
  Faults faults;
  faults.store_down = head & 0x10;
  faults.broker_fails = head & 0x20;
  faults.token_required = head & 0x40;
  faults.token_presented = head & 0x80;
  Call call(faults);
  const std::set<grpc::StatusCode> not_found{grpc::StatusCode::NOT_FOUND};
  switch ((head & 0x0F) % 14) {
    case 0:
      Read(call, &CoverageGrpcService::GetStats, data, size);
      break;
    case 1:
      Paged(call, &CoverageGrpcService::ListServices, data, size,
            [](const v1::ListServicesResponse& r) {
              std::set<std::string> names;
              for (const auto& s : r.services()) names.insert(s.name());
              Check(names.size() == static_cast<size_t>(r.services_size()));
              return names;
            });
      break;
    case 2:
      Read(call, &CoverageGrpcService::GetService, data, size, not_found);
      break;
    case 3:
      Read(call, &CoverageGrpcService::GetCoverage, data, size);
      break;
    case 4:
      Read(call, &CoverageGrpcService::GetCoverageHistory, data, size);
      break;
    case 5:
      Paged(call, &CoverageGrpcService::ListTraces, data, size,
            [](const v1::ListTracesResponse& r) {
              std::set<std::string> ids;
              for (const auto& t : r.traces()) ids.insert(t.trace_id());
              Check(ids.size() == static_cast<size_t>(r.traces_size()));
              return ids;
            });
      break;
    case 6:
      Read(call, &CoverageGrpcService::GetTrace, data, size, not_found);
      break;
    case 7:
      Read(call, &CoverageGrpcService::ListDependencies, data, size);
      break;
    case 8:
      Read(call, &CoverageGrpcService::ListShadowServices, data, size);
      break;
    case 9:
      Read(call, &CoverageGrpcService::ListSyncJobs, data, size);
      break;
    case 10:
      TriggerSync(call, data, size);
      break;
    case 12:
      Read(call, &CoverageGrpcService::ListRecommendations, data, size);
      break;
    case 13:
      Read(call, &CoverageGrpcService::GetServiceMap, data, size);
      break;
    default:
      WatchSyncJob(call, data, size);
      break;
  }
  return 0;
}
