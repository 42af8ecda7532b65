#include "record_mapping.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace apmcov::analyzer {
namespace {

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::TimestampToNanoseconds(t);
}

}  // namespace

absl::StatusOr<store::CatalogServiceRecord> CatalogServiceRecordFrom(const v1::CatalogService& s,
                                                                     int64_t message_time_ns) {
  if (s.name().empty() || s.snapshot_id().empty()) {
    return absl::InvalidArgumentError("CatalogService needs a name and a snapshot_id");
  }
  if (!s.links_json().empty() && !nlohmann::json::accept(s.links_json())) {
    return absl::InvalidArgumentError(
        absl::StrCat("CatalogService ", s.name(), ": links_json is not valid JSON"));
  }
  store::CatalogServiceRecord r;
  r.snapshot_id = s.snapshot_id();
  r.name = s.name();
  r.team = s.team();
  r.application = s.application();
  r.tier = s.tier();
  r.lifecycle = s.lifecycle();
  r.type = s.type();
  r.languages.assign(s.languages().begin(), s.languages().end());
  r.tags.assign(s.tags().begin(), s.tags().end());
  r.envs.assign(s.envs().begin(), s.envs().end());
  r.infra = s.infra();
  r.customer_facing = s.customer_facing();
  r.schema_version = s.schema_version();
  r.links_json = s.links_json().empty() ? "[]" : s.links_json();
  r.description = s.description();
  r.synced_at_ns = s.has_synced_at() ? Nanos(s.synced_at()) : message_time_ns;
  return r;
}

absl::StatusOr<store::CatalogSnapshotEndRecord> SnapshotEndRecordFrom(
    const v1::CatalogSnapshotEnd& e, int64_t message_time_ns) {
  if (e.snapshot_id().empty()) {
    return absl::InvalidArgumentError("CatalogSnapshotEnd needs a snapshot_id");
  }
  return store::CatalogSnapshotEndRecord{
      e.snapshot_id(), e.count(), e.has_synced_at() ? Nanos(e.synced_at()) : message_time_ns};
}

absl::StatusOr<store::ApmObservationRecord> ApmObservationRecordFrom(const v1::ApmObservation& o,
                                                                     int64_t message_time_ns) {
  if (o.service().empty()) return absl::InvalidArgumentError("ApmObservation needs a service");
  store::ApmObservationRecord r;
  r.service = o.service();
  r.env = o.env().empty() ? "*" : o.env();
  r.traced = o.traced();
  r.usm = o.usm();
  r.span_count = o.span_count();
  r.languages.assign(o.languages().begin(), o.languages().end());
  r.infra_hints.assign(o.infra_hints().begin(), o.infra_hints().end());
  r.last_seen_ns = o.has_last_seen()     ? Nanos(o.last_seen())
                   : o.has_observed_at() ? Nanos(o.observed_at())
                                         : message_time_ns;
  return r;
}

absl::StatusOr<store::SyncJobRecord> SyncJobRecordFrom(const v1::SyncJob& j,
                                                       int64_t message_time_ns) {
  static const std::map<v1::SyncState, std::string> kStates = {
      {v1::SYNC_STATE_QUEUED, "queued"},
      {v1::SYNC_STATE_RUNNING, "running"},
      {v1::SYNC_STATE_SUCCEEDED, "succeeded"},
      {v1::SYNC_STATE_PARTIAL, "partial"},
      {v1::SYNC_STATE_FAILED, "failed"}};
  auto state = kStates.find(j.state());
  if (j.id().empty() || state == kStates.end()) {
    return absl::InvalidArgumentError("SyncJob needs an id and a known state");
  }
  store::SyncJobRecord r;
  r.id = j.id();
  r.trigger = j.trigger() == v1::SYNC_TRIGGER_MANUAL ? "manual" : "schedule";
  r.state = state->second;
  if (j.has_started_at()) r.started_at_ns = Nanos(j.started_at());
  if (j.has_finished_at()) r.finished_at_ns = Nanos(j.finished_at());
  r.api_calls = static_cast<int64_t>(j.api_calls());
  r.pages = static_cast<int64_t>(j.pages());
  r.spans = static_cast<int64_t>(j.spans());
  r.rate_limited_ms = static_cast<int64_t>(j.rate_limited_ms());
  r.sampled_seconds = static_cast<int64_t>(j.sampled_seconds());
  r.skipped_seconds = static_cast<int64_t>(j.skipped_seconds());
  r.error = j.error();
  r.updated_at_ns = j.has_updated_at() ? Nanos(j.updated_at())
                    : r.finished_at_ns ? *r.finished_at_ns
                    : r.started_at_ns  ? *r.started_at_ns
                                       : message_time_ns;
  if (SnapshotWorthy(r) && !r.finished_at_ns) r.finished_at_ns = r.updated_at_ns;
  return r;
}

bool SnapshotWorthy(const store::SyncJobRecord& job) {
  return job.state == "succeeded" || job.state == "partial";
}

void AppendDependencyRecords(const coverage::TraceVerdict& verdict, uint64_t trace_id,
                             store::DependencyObservations& out) {
  for (const auto& d : verdict.dependencies) {
    out.Add(d.from_service, d.to_name, coverage::DependencyKindName(d.kind),
            coverage::PeerKindName(d.to_kind), trace_id, d.last_seen_ns);
  }
}

store::BrokenTraceRecord BrokenTraceRecordFrom(const coverage::TraceVerdict& verdict,
                                               const coverage::StringPool& pool,
                                               int64_t detected_at_ns) {
  store::BrokenTraceRecord r;
  r.trace_id = verdict.trace_id_lo;
  r.trace_id_high = verdict.trace_id_hi;
  r.env = std::string(verdict.env);
  if (verdict.has_root) r.root_service = std::string(verdict.root_service);
  r.started_at_ns = verdict.started_ns;
  r.duration_ns = verdict.duration_ns;
  r.span_count = static_cast<int32_t>(verdict.span_count);
  for (auto s : verdict.services) r.services.emplace_back(s);
  for (auto s : verdict.missing_services) r.missing_services.emplace_back(s);
  for (auto k : verdict.gap_kinds) r.gap_kinds.emplace_back(coverage::GapKindName(k));
  r.detected_at_ns = detected_at_ns;
  for (const auto& g : verdict.gaps) {
    store::TraceGapRecord gap;
    gap.span_id = g.span_id;
    gap.kind = std::string(coverage::GapKindName(g.kind));
    gap.from_service = std::string(g.from_service);
    if (g.has_to_service) gap.to_service = std::string(g.to_service);
    gap.peer = std::string(g.peer);
    gap.detail = coverage::FormatGapDetail(g);
    r.gaps.push_back(std::move(gap));
  }
  for (const auto& s : verdict.spans) {
    r.spans.push_back({s.span_id, s.parent_id, std::string(pool.View(s.service)),
                       std::string(pool.View(s.resource)), std::string(pool.View(s.kind)),
                       std::string(pool.View(s.type)), s.start_ns, s.duration_ns,
                       std::string(pool.View(s.target))});
  }
  return r;
}

void JudgementCounts::Add(const coverage::TraceVerdict& verdict) {
  constexpr int64_t kHour = int64_t{3600} * 1'000'000'000;
  const int64_t hour = verdict.started_ns - ((verdict.started_ns % kHour) + kHour) % kHour;
  std::string root = verdict.has_root ? std::string(verdict.root_service) : std::string();
  store::TraceJudgementCount& c = counts_[{hour, root}];
  c.hour_ns = hour;
  c.root_service = std::move(root);
  ++c.judged;
  if (verdict.broken()) ++c.broken;
}

void JudgementCounts::MoveTo(std::vector<store::TraceJudgementCount>& out) {
  for (auto& [key, c] : counts_) out.push_back(std::move(c));
  counts_.clear();
}

bool SpanSightings::Add(const coverage::SpanRecord& span) {
  if (span.service == coverage::kEmptyStr) return false;
  // No env is "*", as in the stored rows: one sighting with a span that says "*" itself.
  const coverage::StrId env = span.env == coverage::kEmptyStr ? pool_.Find("*") : span.env;
  auto [it, inserted] = seen_.try_emplace({span.service, env});
  Seen& r = it->second;
  r.last_seen_ns = inserted ? span.start_ns : std::max(r.last_seen_ns, span.start_ns);
  if (span.language != coverage::kEmptyStr &&
      std::find(r.languages.begin(), r.languages.end(), span.language) == r.languages.end()) {
    r.languages.push_back(span.language);
  }
  if (std::find(r.infra_hints.begin(), r.infra_hints.end(), span.infra_hint) ==
      r.infra_hints.end()) {
    r.infra_hints.push_back(span.infra_hint);
  }
  return inserted;
}

std::vector<std::string> SpanSightings::services() const {
  std::vector<std::string> out;
  for (const auto& [key, r] : seen_) out.emplace_back(pool_.View(key.first));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void SpanSightings::MoveTo(std::vector<store::ApmObservationRecord>& out) {
  // In (service, env) order, as the records were when this was an ordered map.
  std::vector<store::ApmObservationRecord> records;
  records.reserve(seen_.size());
  for (const auto& [key, r] : seen_) {
    store::ApmObservationRecord o;
    o.service = std::string(pool_.View(key.first));
    o.env = key.second == coverage::kEmptyStr ? "*" : std::string(pool_.View(key.second));
    o.traced = true;
    o.last_seen_ns = r.last_seen_ns;
    for (coverage::StrId l : r.languages) o.languages.emplace_back(pool_.View(l));
    for (coverage::StrId h : r.infra_hints) {
      o.infra_hints.emplace_back(h == coverage::kEmptyStr ? "host" : pool_.View(h));
    }
    std::sort(o.languages.begin(), o.languages.end());
    std::sort(o.infra_hints.begin(), o.infra_hints.end());
    // "" and a literal "host" are one hint.
    o.infra_hints.erase(std::unique(o.infra_hints.begin(), o.infra_hints.end()),
                        o.infra_hints.end());
    records.push_back(std::move(o));
  }
  seen_.clear();
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::tie(a.service, a.env) < std::tie(b.service, b.env);
  });
  for (auto& r : records) out.push_back(std::move(r));
}

}  // namespace apmcov::analyzer
