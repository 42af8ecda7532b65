#include "grpc/grpc_service.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <thread>

#include "apmcov/base/log.h"
#include "apmcov/base/status.h"
#include "apmcov/tracing/propagation.h"
#include "rest/client_input.h"

namespace apmcov::gateway {
namespace {

constexpr char kGrpcServiceName[] = "apmcov.v1.CoverageService";

using google::protobuf::util::TimeUtil;

void ToProto(const CoverageBucket& b, v1::CoverageBucket* out) {
  out->set_key(b.key);
  out->set_total(static_cast<uint64_t>(b.total));
  out->set_instrumented(static_cast<uint64_t>(b.instrumented));
  out->set_coverage_pct(b.coverage_pct);
}

void ToProto(const SyncJobRecord& j, v1::SyncJobView* out) {
  out->set_id(j.id);
  out->set_trigger(j.trigger);
  out->set_state(j.state);
  if (j.started_at_ns)
    *out->mutable_started_at() = TimeUtil::NanosecondsToTimestamp(*j.started_at_ns);
  if (j.finished_at_ns)
    *out->mutable_finished_at() = TimeUtil::NanosecondsToTimestamp(*j.finished_at_ns);
  out->set_api_calls(static_cast<uint64_t>(j.api_calls));
  out->set_pages(static_cast<uint64_t>(j.pages));
  out->set_spans(static_cast<uint64_t>(j.spans));
  out->set_error(j.error);
  out->set_sampled_seconds(static_cast<uint64_t>(j.sampled_seconds));
  out->set_skipped_seconds(static_cast<uint64_t>(j.skipped_seconds));
  out->set_edge_cut_traces(static_cast<uint64_t>(j.edge_cut_traces));
}

void ToProto(const SampleBucket& b, v1::SampleBucket* out) {
  out->set_key(b.key);
  out->set_judged(static_cast<uint64_t>(b.judged));
  out->set_broken(static_cast<uint64_t>(b.broken));
  out->set_broken_rate(b.broken_rate);
  out->set_broken_rate_low(b.broken_rate_low);
  out->set_broken_rate_high(b.broken_rate_high);
}

void ToProto(const SampleEstimate& e, v1::SampleEstimate* out) {
  if (e.sampled_share) out->set_sampled_share(*e.sampled_share);
  out->set_judged_traces(static_cast<uint64_t>(e.judged_traces));
  out->set_broken_traces(static_cast<uint64_t>(e.broken_traces));
  out->set_broken_rate(e.broken_rate);
  out->set_broken_rate_low(e.broken_rate_low);
  out->set_broken_rate_high(e.broken_rate_high);
  if (e.broken_traces_per_hour) out->set_broken_traces_per_hour(*e.broken_traces_per_hour);
  for (const auto& b : e.by_root_service) ToProto(b, out->add_by_root_service());
  for (const auto& b : e.by_missing_service) ToProto(b, out->add_by_missing_service());
  for (const auto& b : e.by_gap_kind) ToProto(b, out->add_by_gap_kind());
}

void ToProto(const ServiceView& s, v1::ServiceSummary* out) {
  out->set_name(s.name);
  out->set_team(s.team);
  for (const auto& e : s.envs) out->add_envs(e);
  out->set_infra(s.infra);
  for (const auto& l : s.languages) out->add_languages(l);
  out->set_tier(s.tier);
  out->set_lifecycle(s.lifecycle);
  out->set_customer_facing(s.customer_facing);
  out->set_instrumented(s.instrumented);
  out->set_usm_only(s.usm_only);
  out->set_span_count(static_cast<uint64_t>(s.span_count));
  if (s.last_seen) *out->mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(*s.last_seen);
}

void ToProto(const BrokenTraceRecord& t, v1::TraceSummary* out) {
  out->set_trace_id(std::to_string(t.trace_id));
  out->set_env(t.env);
  out->set_root_service(t.root_service.value_or(""));
  *out->mutable_started_at() = TimeUtil::NanosecondsToTimestamp(t.started_at_ns);
  out->set_span_count(static_cast<uint64_t>(t.span_count));
  for (const auto& s : t.services) out->add_services(s);
  for (const auto& s : t.missing_services) out->add_missing_services(s);
  for (const auto& s : t.gap_kinds) out->add_gap_kinds(s);
}

void ToProto(const DependencyRow& d, v1::Dependency* out) {
  out->set_from_service(d.from_service);
  out->set_to_name(d.to_name);
  out->set_kind(d.kind);
  out->set_to_kind(d.to_kind);
  out->set_count(static_cast<uint64_t>(d.count));
  *out->mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(d.last_seen_ns);
}

const Logger& Log() {
  static const Logger log("gateway.grpc");
  return log;
}

// Every string field of a request, checked like a REST parameter (rest/client_input.h).
absl::Status CheckRequestStrings(const google::protobuf::Message& request) {
  const google::protobuf::Descriptor* d = request.GetDescriptor();
  const google::protobuf::Reflection* r = request.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) continue;
    const size_t max = f->name() == "page_token" ? kMaxPageTokenBytes : kMaxParamBytes;
    if (f->is_repeated()) {
      for (int k = 0; k < r->FieldSize(request, f); ++k) {
        APMCOV_RETURN_IF_ERROR(
            CheckClientText(f->name(), r->GetRepeatedString(request, f, k), max));
      }
    } else {
      APMCOV_RETURN_IF_ERROR(CheckClientText(f->name(), r->GetString(request, f), max));
    }
  }
  return absl::OkStatus();
}

// A message may repeat what a client sent (a page token's decoded bytes, say): grpc-message is
// UTF-8 by the gRPC protocol, so whatever is not becomes U+FFFD rather than reach a client
// that cannot decode it.
grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      ClientSafeText(StdView(s.message())));
}

const char* CodeName(grpc::StatusCode code) {
  static const char* const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? names[i] : "UNKNOWN";
}

}  // namespace

CoverageGrpcService::CoverageGrpcService(QueryService& queries, SyncTrigger& sync,
                                         GatewayMetrics& metrics, GrpcServiceOptions options)
    : queries_(queries), sync_(sync), metrics_(metrics), options_(std::move(options)) {}

template <class F>
grpc::Status CoverageGrpcService::Run(const char* method, grpc::ServerContext* ctx,
                                      const google::protobuf::Message& request, F&& body) {
  auto start = std::chrono::steady_clock::now();
  tracing::Span span;
  if (options_.tracer != nullptr && options_.tracer->enabled()) {
    const auto& md = ctx->client_metadata();  // keys are lowercase in gRPC
    const std::optional<tracing::SpanContext> parent =
        tracing::Extract([&md](std::string_view name) -> std::optional<std::string_view> {
          auto it = md.find(grpc::string_ref(name.data(), name.size()));
          if (it == md.end()) return std::nullopt;
          return std::string_view(it->second.data(), it->second.size());
        });
    span = options_.tracer->StartSpan("grpc.server",
                                      {.resource = absl::StrCat(kGrpcServiceName, "/", method),
                                       .type = "rpc",
                                       .kind = tracing::kinds::kServer,
                                       .parent = parent ? &*parent : nullptr,
                                       .root = !parent.has_value()});
    span.SetTag(tracing::tags::kRpcService, kGrpcServiceName);
    span.SetTag("rpc.method", method);
    span.SetTag("rpc.system", "grpc");
  }
  tracing::ActiveSpanScope active(span);
  grpc::Status st;
  if (ctx->deadline() <= std::chrono::system_clock::now()) {
    st = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before the call ran");
  } else {
    absl::Status result = CheckRequestStrings(request);
    if (result.ok()) result = body();
    if (IsServerFault(result.code())) {
      const std::string id = NewRequestId();
      Log().Error("request failed", {{"request_id", id},
                                     {"method", method},
                                     {"code", std::string(StatusCodeName(result.code()))},
                                     {"error", std::string(result.message())}});
      ctx->AddTrailingMetadata("x-request-id", id);
      st = grpc::Status(static_cast<grpc::StatusCode>(result.code()),
                        "internal error; request id " + id);
    } else {
      st = ToGrpc(result);
    }
    if (st.ok() && ctx->deadline() <= std::chrono::system_clock::now()) {
      st = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed during the call");
    }
  }
  metrics_.ObserveGrpc(
      method, CodeName(st.error_code()),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (span.recording()) {
    span.SetTag("grpc.status.code", CodeName(st.error_code()));
    if (IsServerFault(static_cast<absl::StatusCode>(st.error_code()))) {
      span.SetError(st.error_message(), CodeName(st.error_code()));
    }
  }
  return st;
}

grpc::Status CoverageGrpcService::GetStats(grpc::ServerContext* ctx, const v1::GetStatsRequest* in,
                                           v1::Stats* out) {
  return Run("GetStats", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(Stats s, queries_.GetStats());
    out->set_total_services(static_cast<uint64_t>(s.total_services));
    out->set_instrumented_services(static_cast<uint64_t>(s.instrumented_services));
    out->set_coverage_pct(s.coverage_pct);
    for (const auto& b : s.by_team) ToProto(b, out->add_by_team());
    for (const auto& b : s.by_env) ToProto(b, out->add_by_env());
    for (const auto& b : s.by_infra) ToProto(b, out->add_by_infra());
    for (const auto& b : s.by_language) ToProto(b, out->add_by_language());
    for (const auto& n : s.customer_facing_without_apm) out->add_customer_facing_without_apm(n);
    for (const auto& n : s.usm_only) out->add_usm_only(n);
    out->set_shadow_services(static_cast<uint64_t>(s.shadow_services));
    out->set_broken_traces(static_cast<uint64_t>(s.broken_traces));
    if (s.last_sync) ToProto(*s.last_sync, out->mutable_last_sync());
    ToProto(s.sample, out->mutable_sample());
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::ListServices(grpc::ServerContext* ctx,
                                               const v1::ListServicesRequest* in,
                                               v1::ListServicesResponse* out) {
  return Run("ListServices", ctx, *in, [&]() -> absl::Status {
    ServicesQuery q;
    q.team = in->team();
    q.env = in->env();
    q.infra = in->infra();
    q.language = in->language();
    q.tier = in->tier();
    q.apm = in->apm();
    q.customer_facing = in->customer_facing();
    q.include_deprecated = in->include_deprecated() ? "true" : "";
    q.q = in->q();
    q.sort = in->sort();
    q.page_size = in->page_size() ? std::to_string(in->page_size()) : "";
    q.page_token = in->page_token();
    APMCOV_ASSIGN_OR_RETURN(ServicesPage page, queries_.ListServices(q));
    for (const auto& s : page.services) ToProto(s, out->add_services());
    out->set_total(static_cast<uint64_t>(page.total));
    out->set_next_page_token(page.next_page_token);
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::GetService(grpc::ServerContext* ctx,
                                             const v1::GetServiceRequest* in,
                                             v1::ServiceDetail* out) {
  return Run("GetService", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(ServiceDetailView d, queries_.GetService(in->name()));
    ToProto(d.service, out->mutable_service());
    const store::CatalogServiceRecord& c = d.row.catalog;
    out->set_application(c.application);
    out->set_type(c.type);
    for (const auto& t : c.tags) out->add_tags(t);
    out->set_links_json(c.links_json);
    out->set_schema_version(c.schema_version);
    if (d.row.removed_at_ns)
      *out->mutable_removed_at() = TimeUtil::NanosecondsToTimestamp(*d.row.removed_at_ns);
    for (const ApmServiceRow& a : d.apm) {
      auto* e = out->add_apm();
      e->set_env(a.env);
      e->set_traced(a.traced);
      e->set_usm_only(a.usm_only);
      e->set_span_count(a.span_count);
      *e->mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(a.last_seen_ns);
    }
    for (const auto& dep : d.dependencies) ToProto(dep, out->add_dependencies());
    for (const auto& t : d.broken_traces) ToProto(t, out->add_broken_traces());
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::GetCoverage(grpc::ServerContext* ctx,
                                              const v1::GetCoverageRequest* in,
                                              v1::CoverageResponse* out) {
  return Run("GetCoverage", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(auto buckets, queries_.GetCoverage(in->by()));
    out->set_by(in->by());
    for (const auto& b : buckets) ToProto(b, out->add_buckets());
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::GetCoverageHistory(grpc::ServerContext* ctx,
                                                     const v1::GetCoverageHistoryRequest* in,
                                                     v1::CoverageHistoryResponse* out) {
  return Run("GetCoverageHistory", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(auto points, queries_.GetCoverageHistory(in->by(), in->since()));
    out->set_by(in->by().empty() ? "overall" : in->by());
    for (const auto& p : points) {
      auto* pt = out->add_points();
      *pt->mutable_taken_at() = TimeUtil::NanosecondsToTimestamp(p.taken_at);
      for (const auto& b : p.buckets) ToProto(b, pt->add_buckets());
    }
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::ListTraces(grpc::ServerContext* ctx,
                                             const v1::ListTracesRequest* in,
                                             v1::ListTracesResponse* out) {
  return Run("ListTraces", ctx, *in, [&]() -> absl::Status {
    TracesQuery q{in->service(),   in->missing(),
                  in->kind(),      in->env(),
                  in->since(),     in->page_size() ? std::to_string(in->page_size()) : "",
                  in->page_token()};
    APMCOV_ASSIGN_OR_RETURN(auto page, queries_.ListTraces(q));
    for (const auto& t : page.traces) ToProto(t, out->add_traces());
    out->set_total(static_cast<uint64_t>(page.total));
    out->set_next_page_token(page.next_page_token);
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::GetTrace(grpc::ServerContext* ctx, const v1::GetTraceRequest* in,
                                           v1::TraceDetail* out) {
  return Run("GetTrace", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(BrokenTraceRecord d, queries_.GetTrace(in->trace_id()));
    ToProto(d, out->mutable_trace());
    for (const store::TraceSpanRecord& s : d.spans) {
      auto* v = out->add_spans();
      v->set_span_id(std::to_string(s.span_id));
      v->set_parent_id(std::to_string(s.parent_id));
      v->set_service(s.service);
      v->set_resource(s.resource);
      v->set_kind(s.kind);
      *v->mutable_start() = TimeUtil::NanosecondsToTimestamp(s.start_ns);
      v->set_duration_ns(s.duration_ns);
      v->set_target(s.target);
    }
    for (const store::TraceGapRecord& g : d.gaps) {
      auto* v = out->add_gaps();
      v->set_kind(g.kind);
      v->set_span_id(std::to_string(g.span_id));
      v->set_from_service(g.from_service);
      v->set_to_service(g.to_service.value_or(""));
      v->set_peer(g.peer);
    }
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::ListDependencies(grpc::ServerContext* ctx,
                                                   const v1::ListDependenciesRequest* in,
                                                   v1::ListDependenciesResponse* out) {
  return Run("ListDependencies", ctx, *in, [&]() -> absl::Status {
    DependenciesQuery q{in->service(), in->page_size() ? std::to_string(in->page_size()) : "",
                        in->page_token()};
    APMCOV_ASSIGN_OR_RETURN(DependenciesPageView page, queries_.ListDependencies(q));
    for (const auto& d : page.dependencies) ToProto(d, out->add_dependencies());
    out->set_next_page_token(page.next_page_token);
    out->set_total(static_cast<uint64_t>(page.total));
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::ListShadowServices(grpc::ServerContext* ctx,
                                                     const v1::ListShadowServicesRequest* in,
                                                     v1::ListShadowServicesResponse* out) {
  return Run("ListShadowServices", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(auto shadows, queries_.ListShadowServices());
    for (const auto& s : shadows) {
      auto* v = out->add_services();
      v->set_name(s.name);
      for (const auto& e : s.envs) v->add_envs(e);
      v->set_span_count(static_cast<uint64_t>(s.span_count));
      if (s.last_seen) *v->mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(*s.last_seen);
    }
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::ListRecommendations(grpc::ServerContext* ctx,
                                                      const v1::ListRecommendationsRequest* in,
                                                      v1::ListRecommendationsResponse* out) {
  return Run("ListRecommendations", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(
        RecommendationsView v,
        queries_.ListRecommendations(
            {in->team(), in->env(), in->limit() ? std::to_string(in->limit()) : ""}));
    for (const RecommendationView& r : v.recommendations) {
      auto* p = out->add_recommendations();
      p->set_name(r.name);
      p->set_team(r.team);
      p->set_customer_facing(r.customer_facing);
      p->set_usm_only(r.usm_only);
      p->set_broken_traces(static_cast<uint64_t>(r.broken_traces));
      if (r.broken_traces_per_hour) p->set_broken_traces_per_hour(*r.broken_traces_per_hour);
      for (const auto& c : r.callers) p->add_callers(c);
      for (const auto& t : r.teams_affected) p->add_teams_affected(t);
      for (uint64_t id : r.example_trace_ids) p->add_example_trace_ids(std::to_string(id));
    }
    out->set_total(static_cast<uint64_t>(v.total));
    if (v.sampled_share) out->set_sampled_share(*v.sampled_share);
    out->set_lookback_hours(static_cast<uint64_t>(v.lookback_hours));
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::GetServiceMap(grpc::ServerContext* ctx,
                                                const v1::GetServiceMapRequest* in,
                                                v1::ServiceMap* out) {
  return Run("GetServiceMap", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(ServiceMapView m,
                            queries_.GetServiceMap({in->env(), in->team(), in->externals()}));
    for (const ServiceMapNode& n : m.nodes) {
      auto* p = out->add_nodes();
      p->set_id(n.id);
      p->set_label(n.label);
      p->set_kind(n.kind);
      p->set_team(n.team);
      p->set_customer_facing(n.customer_facing);
      for (const auto& name : n.names) p->add_names(name);
    }
    for (const ServiceMapEdge& e : m.edges) {
      auto* p = out->add_edges();
      p->set_from(e.from);
      p->set_to(e.to);
      p->set_kind(e.kind);
      p->set_traces(static_cast<uint64_t>(e.traces));
      p->set_broken_traces(static_cast<uint64_t>(e.broken_traces));
      for (const auto& k : e.gap_kinds) p->add_gap_kinds(k);
    }
    out->set_truncated(m.truncated);
    out->set_lookback_hours(static_cast<uint64_t>(m.lookback_hours));
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::ListSyncJobs(grpc::ServerContext* ctx,
                                               const v1::ListSyncJobsRequest* in,
                                               v1::ListSyncJobsResponse* out) {
  return Run("ListSyncJobs", ctx, *in, [&]() -> absl::Status {
    APMCOV_ASSIGN_OR_RETURN(auto jobs,
                            queries_.ListSyncJobs(in->limit() ? std::to_string(in->limit()) : ""));
    for (const auto& j : jobs) ToProto(j, out->add_jobs());
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::TriggerSync(grpc::ServerContext* ctx,
                                              const v1::TriggerSyncRequest* in,
                                              v1::TriggerSyncResponse* out) {
  if (!options_.api_token.empty()) {
    const auto& md = ctx->client_metadata();
    const auto it = md.find("authorization");
    const std::string_view presented = it == md.end()
                                           ? std::string_view()
                                           : std::string_view(it->second.data(), it->second.size());
    if (!BearerTokenMatches(presented, options_.api_token)) {
      // Authentication comes first, as in REST: the request is not looked at, so a caller
      // without the token learns nothing from it (not even which field would be refused).
      return Run("TriggerSync", ctx, v1::TriggerSyncRequest::default_instance(), [] {
        return absl::UnauthenticatedError(
            "TriggerSync requires `authorization: Bearer <GATEWAY_API_TOKEN>` metadata");
      });
    }
  }
  return Run("TriggerSync", ctx, *in, [&]() -> absl::Status {
    if (in->requested_by().size() > 200) {
      return absl::InvalidArgumentError("requested_by: at most 200 characters");
    }
    if (options_.sync_limit != nullptr) {
      const std::chrono::milliseconds wait = options_.sync_limit->TryTake();
      if (wait.count() > 0) {
        return absl::ResourceExhaustedError(absl::StrCat("too many sync requests; retry after ",
                                                         (wait.count() + 999) / 1000, " s"));
      }
    }
    APMCOV_ASSIGN_OR_RETURN(
        std::string id, sync_.Trigger(in->requested_by().empty() ? "grpc" : in->requested_by()));
    queries_.NoteAcceptedSyncJob(id);
    out->set_job_id(id);
    return absl::OkStatus();
  });
}

grpc::Status CoverageGrpcService::WatchSyncJobs(grpc::ServerContext* ctx,
                                                const v1::WatchSyncJobsRequest* in,
                                                grpc::ServerWriter<v1::SyncJobView>* writer) {
  return Run("WatchSyncJobs", ctx, *in, [&]() -> absl::Status {
    // Each watch holds a server thread and polls the store: bounded in number and in time.
    struct Slot {
      std::atomic<int>& open;
      ~Slot() { open.fetch_sub(1); }
    } slot{open_watches_};
    if (open_watches_.fetch_add(1) + 1 > options_.max_watch_streams) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many WatchSyncJobs streams open (at most ", options_.max_watch_streams,
                       "); retry later"));
    }
    const auto started = std::chrono::steady_clock::now();
    auto last_change = started;
    auto expired = [&] {
      const auto now = std::chrono::steady_clock::now();
      return now - started >= options_.watch_max_duration ||
             now - last_change >= options_.watch_idle;
    };
    std::map<std::string, SyncJobRecord> sent;
    while (!ctx->IsCancelled() && !stopping_ && !expired()) {
      std::vector<SyncJobRecord> jobs;
      if (in->job_id().empty()) {
        APMCOV_ASSIGN_OR_RETURN(jobs, queries_.ListSyncJobs("50"));
        std::reverse(jobs.begin(), jobs.end());  // oldest first, so changes arrive in order
      } else {
        auto job = queries_.GetSyncJob(in->job_id());
        if (job.ok()) {
          jobs.push_back(*job);
        } else if (job.status().code() != absl::StatusCode::kNotFound) {
          return job.status();  // not yet known: the collector may not have picked it up
        }
      }
      for (const SyncJobRecord& j : jobs) {
        auto it = sent.find(j.id);
        if (it != sent.end() && it->second == j) continue;
        v1::SyncJobView view;
        ToProto(j, &view);
        if (!writer->Write(view)) return absl::OkStatus();  // client went away
        sent[j.id] = j;
        last_change = std::chrono::steady_clock::now();
      }
      auto until = std::chrono::steady_clock::now() + options_.watch_interval;
      while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled() && !stopping_ &&
             !expired()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (ctx->IsCancelled()) return absl::CancelledError("client cancelled the watch");
    return absl::OkStatus();
  });
}

GrpcServer::GrpcServer(CoverageGrpcService& service, GrpcServerOptions options)
    : service_(service), options_(options) {}
GrpcServer::~GrpcServer() { Stop(); }

absl::Status GrpcServer::Start(const std::string& address, uint16_t port) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int selected = 0;
  std::string target = address.find(':') != std::string::npos && address.front() != '['
                           ? "[" + address + "]"
                           : address;
  builder.AddListeningPort(absl::StrCat(target, ":", port), grpc::InsecureServerCredentials(),
                           &selected);
  builder.RegisterService(&service_);
  auto ms = [](std::chrono::milliseconds d) {
    return static_cast<int>(std::min<int64_t>(d.count(), INT32_MAX));
  };
  builder.SetMaxReceiveMessageSize(options_.max_receive_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ms(options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms(options_.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ms(options_.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms(options_.max_connection_idle));
  server_ = builder.BuildAndStart();
  if (!server_ || selected == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("gRPC: cannot listen on ", target, ":", port));
  }
  port_ = static_cast<uint16_t>(selected);
  return absl::OkStatus();
}

void GrpcServer::Stop() {
  if (!server_) return;
  service_.Stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace apmcov::gateway
