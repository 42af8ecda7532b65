#include "query/query_service.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <span>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "apmcov/base/status.h"
#include "apmcov/base/time.h"
#include "apmcov/coverage/coverage_report.h"
#include "apmcov/coverage/sampling.h"
#include "apmcov/coverage/store_rows.h"

namespace apmcov::gateway {
namespace {

constexpr char kSep = '\x1f';
const char* const kUnknown = "unknown";

std::string KeyOr(const std::string& v) { return v.empty() ? kUnknown : v; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

absl::Status BadParam(std::string_view param, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(param), ": ", AbslView(message)));
}

absl::StatusOr<std::optional<bool>> ParseBoolParam(std::string_view name, const std::string& v) {
  if (v.empty()) return std::optional<bool>();
  if (v == "true") return std::optional<bool>(true);
  if (v == "false") return std::optional<bool>(false);
  return BadParam(name, absl::StrCat("must be true or false, got '", AbslView(v), "'"));
}

absl::StatusOr<size_t> ParseSize(std::string_view name, const std::string& v, size_t def,
                                 size_t max) {
  if (v.empty()) return def;
  uint64_t n = 0;
  if (!absl::SimpleAtoi(AbslView(v), &n) || n < 1 || n > max) {
    return BadParam(
        name, absl::StrCat("must be an integer from 1 to ", max, ", got '", AbslView(v), "'"));
  }
  return static_cast<size_t>(n);
}

std::string EncodeToken(const std::vector<std::string>& parts) {
  std::string raw;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) raw += kSep;
    raw += parts[i];
  }
  return absl::WebSafeBase64Escape(AbslView(raw));
}

absl::StatusOr<std::vector<std::string>> DecodeToken(const std::string& token, size_t parts) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(AbslView(token), &raw)) {
    return BadParam("page_token", "not a token issued by this API");
  }
  std::vector<std::string> out = absl::StrSplit(raw, kSep);
  if (out.size() != parts) return BadParam("page_token", "not a token issued by this API");
  return out;
}

// PostgreSQL text cannot hold NUL and libpq would cut the value at it: reject, never truncate.
absl::Status NoNul(std::string_view param, const std::string& value) {
  if (value.find('\0') != std::string::npos) return BadParam(param, "must not contain NUL");
  return absl::OkStatus();
}

bool ValidDecimalId(const std::string& id) {
  if (id.empty() || id.size() > 20) return false;
  for (char c : id) {
    if (c < '0' || c > '9') return false;
  }
  if (id.size() > 1 && id[0] == '0') return false;
  return id.size() < 20 || id <= "18446744073709551615";
}

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const std::set<std::string>& CoverageDimensions() {
  static const std::set<std::string> dims{"team", "env", "infra", "language", "tier", "lifecycle"};
  return dims;
}

// The keyset sort of /api/services: a string key per row (numbers zero-padded so string order
// is numeric order), ties broken by name.
struct SortSpec {
  std::string field;
  bool desc = false;
  std::string Key(const ServiceView& s) const {
    if (field == "team") return s.team;
    if (field == "tier") return s.tier;
    if (field == "lifecycle") return s.lifecycle;
    if (field == "infra") return s.infra;
    if (field == "instrumented") return s.instrumented ? "1" : "0";
    if (field == "span_count") {
      std::string n = std::to_string(std::max<int64_t>(0, s.span_count));
      return std::string(20 - n.size(), '0') + n;
    }
    if (field == "last_seen") {
      std::string n = std::to_string(std::max<int64_t>(0, s.last_seen.value_or(0)));
      return std::string(20 - n.size(), '0') + n;
    }
    return "";  // name: the tie-breaker alone
  }
};

absl::StatusOr<SortSpec> ParseSort(const std::string& v) {
  static const std::set<std::string> fields{"name",  "team",       "tier",      "lifecycle",
                                            "infra", "span_count", "last_seen", "instrumented"};
  SortSpec spec{"name", false};
  if (v.empty()) return spec;
  std::string f = v;
  if (f[0] == '-') {
    spec.desc = true;
    f = f.substr(1);
  }
  if (!fields.count(f)) {
    return BadParam("sort", absl::StrCat("unknown sort '", AbslView(v),
                                         "'; one of name, team, tier, lifecycle, infra, "
                                         "span_count, last_seen, instrumented, optionally "
                                         "prefixed by - for descending"));
  }
  spec.field = f;
  return spec;
}

std::string CanonicalSort(const SortSpec& s) { return (s.desc ? "-" : "") + s.field; }

}  // namespace

double CoveragePct(int64_t instrumented, int64_t total) {
  if (total <= 0) return 0;
  return std::round(1000.0 * static_cast<double>(instrumented) / static_cast<double>(total)) / 10.0;
}

bool IsGapKind(const std::string& kind) {
  return kind == "uninstrumented_hop" || kind == "uninstrumented_callee" ||
         kind == "propagation_break" || kind == "missing_root" || kind == "orphan_span";
}

QueryService::QueryService(store::ReadModel& store, const Clock& clock, QueryOptions options)
    : store_(store), clock_(clock), options_(options) {}

namespace {

// Coverage itself is libs/coverage's (ComputeCoverageFromRows: the analyzer's snapshots read the
// same rows the same way); here only the conversion to the gateway's views.
ServiceView ToView(const coverage::ServiceCoverage& c) {
  ServiceView v;
  v.name = c.name;
  v.team = c.team;
  v.envs = c.envs;
  v.infra = c.infra.empty() ? kUnknown : c.infra;
  v.languages = c.languages;
  v.tier = c.tier;
  v.lifecycle = c.lifecycle;
  v.customer_facing = c.customer_facing;
  v.instrumented = c.instrumented;
  v.usm_only = c.usm_only;
  v.span_count = static_cast<int64_t>(c.span_count);
  if (c.last_seen_ns > 0) v.last_seen = c.last_seen_ns;
  v.deprecated = c.deprecated;
  v.instrumented_envs = c.instrumented_envs;
  return v;
}

absl::StatusOr<coverage::CoverageReport> Compute(std::span<const ServiceRow> services,
                                                 std::span<const ApmServiceRow> apm, int64_t now_ns,
                                                 int64_t lookback_ns,
                                                 const coverage::InfraAliases& infra_aliases) {
  coverage::CoverageOptions options;
  options.now_ns = now_ns;
  options.lookback_ns = lookback_ns;
  options.infra_aliases = infra_aliases;
  auto report = coverage::ComputeCoverageFromRows(services, apm, options);
  if (!report.ok()) {
    return absl::InternalError(
        absl::StrCat("coverage of the stored catalog: ", report.status().message()));
  }
  return report;
}

}  // namespace

absl::StatusOr<CatalogView> QueryService::BuildView(const store::CatalogState& data, int64_t now_ns,
                                                    int64_t lookback_ns,
                                                    const coverage::InfraAliases& infra_aliases) {
  APMCOV_ASSIGN_OR_RETURN(coverage::CoverageReport report,
                          Compute(data.services, data.apm, now_ns, lookback_ns, infra_aliases));
  CatalogView view;
  view.services.reserve(report.services.size());
  for (const auto& c : report.services) view.services.push_back(ToView(c));
  std::sort(view.services.begin(), view.services.end(),
            [](const ServiceView& a, const ServiceView& b) { return a.name < b.name; });
  for (const auto& s : report.shadow_services) {
    ShadowServiceView v;
    v.name = s.name;
    v.envs = s.envs;
    v.span_count = static_cast<int64_t>(s.span_count);
    if (s.last_seen_ns > 0) v.last_seen = s.last_seen_ns;
    view.shadows.push_back(std::move(v));
  }
  std::sort(view.shadows.begin(), view.shadows.end(),
            [](const ShadowServiceView& a, const ShadowServiceView& b) { return a.name < b.name; });
  for (const std::string& dim : CoverageDimensions()) {
    std::vector<CoverageBucket> buckets;
    for (const coverage::CoverageRow& r : report.Dimension(dim)) {
      buckets.push_back({r.key, r.total, r.instrumented, CoveragePct(r.instrumented, r.total)});
    }
    std::stable_sort(
        buckets.begin(), buckets.end(),
        [](const CoverageBucket& a, const CoverageBucket& b) { return a.total > b.total; });
    view.buckets[dim] = std::move(buckets);
  }
  return view;
}

absl::StatusOr<std::vector<CoverageBucket>> QueryService::Buckets(const CatalogView& view,
                                                                  const std::string& by) {
  if (auto it = view.buckets.find(by); it != view.buckets.end()) return it->second;
  return BadParam("by", absl::StrCat("must be one of team, env, infra, language, tier, "
                                     "lifecycle, got '",
                                     AbslView(by), "'"));
}

int64_t QueryService::FloorHour(int64_t ns) {
  constexpr int64_t kHour = int64_t{3600} * 1'000'000'000;
  return ns >= 0 ? ns / kHour * kHour : -((-ns + kHour - 1) / kHour * kHour);
}

SampleEstimate QueryService::EstimateSample(const store::SampleRows& rows, int64_t lookback_ns) {
  auto bucket = [](std::string key, int64_t broken, int64_t judged) {
    // A broken trace stored before judgements were counted cannot raise a rate above 1.
    coverage::Proportion p =
        coverage::WilsonInterval(static_cast<uint64_t>(std::max<int64_t>(0, broken)),
                                 static_cast<uint64_t>(std::max<int64_t>(0, judged)));
    return SampleBucket{std::move(key), judged, broken, p.rate, p.low, p.high};
  };
  SampleEstimate e;
  if (rows.jobs > 0) {
    const int64_t covered = rows.sampled_seconds + rows.skipped_seconds;
    e.sampled_share =
        rows.skipped_seconds <= 0 || covered <= 0
            ? 1.0
            : static_cast<double>(rows.sampled_seconds) / static_cast<double>(covered);
  }
  for (const auto& j : rows.judgements) {
    e.judged_traces += j.judged;
    e.broken_traces += j.broken;
    e.by_root_service.push_back(bucket(j.root_service, j.broken, j.judged));
  }
  SampleBucket all = bucket("", e.broken_traces, e.judged_traces);
  e.broken_rate = all.broken_rate;
  e.broken_rate_low = all.broken_rate_low;
  e.broken_rate_high = all.broken_rate_high;
  for (const auto& [key, n] : rows.broken_by_missing_service) {
    e.by_missing_service.push_back(bucket(key, n, e.judged_traces));
  }
  for (const auto& [key, n] : rows.broken_by_gap_kind) {
    e.by_gap_kind.push_back(bucket(key, n, e.judged_traces));
  }
  const double hours = static_cast<double>(lookback_ns) / 3600e9;
  if (e.sampled_share && *e.sampled_share > 0 && hours > 0) {
    e.broken_traces_per_hour = static_cast<double>(e.broken_traces) / *e.sampled_share / hours;
  }
  std::sort(e.by_root_service.begin(), e.by_root_service.end(),
            [](const SampleBucket& a, const SampleBucket& b) {
              return a.judged != b.judged ? a.judged > b.judged : a.key < b.key;
            });
  for (auto* v : {&e.by_missing_service, &e.by_gap_kind}) {
    std::sort(v->begin(), v->end(), [](const SampleBucket& a, const SampleBucket& b) {
      return a.broken != b.broken ? a.broken > b.broken : a.key < b.key;
    });
  }
  return e;
}

namespace {
// One consistent snapshot of everything /api/stats shows.
absl::StatusOr<std::shared_ptr<const CatalogView>> LoadView(
    store::ReadModel& store, int64_t now, int64_t lookback,
    const coverage::InfraAliases& infra_aliases) {
  APMCOV_ASSIGN_OR_RETURN(store::CatalogState data, store.LoadCatalog());
  APMCOV_ASSIGN_OR_RETURN(CatalogView built,
                          QueryService::BuildView(data, now, lookback, infra_aliases));
  auto view = std::make_shared<CatalogView>(std::move(built));
  APMCOV_ASSIGN_OR_RETURN(view->broken_traces, store.CountTracesSince(now - lookback));
  APMCOV_ASSIGN_OR_RETURN(view->last_sync, store.LastFinishedSyncJob());
  // Judgements are counted per hour of trace start: the range starts at a whole hour.
  const int64_t traces_since = QueryService::FloorHour(now - lookback);
  APMCOV_ASSIGN_OR_RETURN(store::SampleRows rows, store.LoadSample(now - lookback, traces_since));
  view->sample = QueryService::EstimateSample(rows, lookback);
  return std::shared_ptr<const CatalogView>(std::move(view));
}
}  // namespace

QueryService::~QueryService() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    t = std::move(refresher_);
  }
  if (t.joinable()) t.join();
}

absl::StatusOr<std::shared_ptr<const CatalogView>> QueryService::Catalog() {
  std::unique_lock lock(mu_);
  int64_t now = clock_.NowUnixNanos();
  int64_t ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.catalog_ttl).count();
  int64_t lookback =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.apm_lookback).count();
  if (cached_ && ttl > 0 && now - cached_at_ns_ < ttl) return cached_;
  if (cached_ && ttl > 0 && options_.background_refresh) {
    if (!refreshing_) {
      refreshing_ = true;
      if (refresher_.joinable()) refresher_.join();  // the previous refresh has finished
      refresher_ = std::thread([this, lookback] {
        int64_t at = clock_.NowUnixNanos();
        auto view = LoadView(store_, at, lookback, options_.infra_aliases);
        std::lock_guard guard(mu_);
        if (view.ok()) {
          cached_ = *std::move(view);
          ++generation_;
        }
        cached_at_ns_ = at;  // on failure, keep serving the old copy and retry after the TTL
        refreshing_ = false;
      });
    }
    return cached_;
  }
  APMCOV_ASSIGN_OR_RETURN(cached_, LoadView(store_, now, lookback, options_.infra_aliases));
  ++generation_;
  cached_at_ns_ = now;
  return cached_;
}

absl::StatusOr<uint64_t> QueryService::CatalogGeneration() {
  APMCOV_RETURN_IF_ERROR(Catalog().status());
  std::lock_guard lock(mu_);
  return generation_;
}

absl::StatusOr<Stats> QueryService::GetStats() {
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  Stats st;
  for (const ServiceView& s : view->services) {
    if (s.deprecated) continue;
    st.total_services++;
    if (s.instrumented) st.instrumented_services++;
    if (s.customer_facing && !s.instrumented) st.customer_facing_without_apm.push_back(s.name);
    if (s.usm_only) st.usm_only.push_back(s.name);
  }
  st.coverage_pct = CoveragePct(st.instrumented_services, st.total_services);
  APMCOV_ASSIGN_OR_RETURN(st.by_team, Buckets(*view, "team"));
  APMCOV_ASSIGN_OR_RETURN(st.by_env, Buckets(*view, "env"));
  APMCOV_ASSIGN_OR_RETURN(st.by_infra, Buckets(*view, "infra"));
  APMCOV_ASSIGN_OR_RETURN(st.by_language, Buckets(*view, "language"));
  st.shadow_services = static_cast<int64_t>(view->shadows.size());
  st.broken_traces = view->broken_traces;
  st.last_sync = view->last_sync;
  st.sample = view->sample;
  return st;
}

absl::StatusOr<std::vector<const ServiceView*>> QueryService::Select(const CatalogView& view,
                                                                     const ServicesQuery& q) {
  APMCOV_ASSIGN_OR_RETURN(auto apm, ParseBoolParam("apm", q.apm));
  APMCOV_ASSIGN_OR_RETURN(auto cf, ParseBoolParam("customer_facing", q.customer_facing));
  APMCOV_ASSIGN_OR_RETURN(auto incl, ParseBoolParam("include_deprecated", q.include_deprecated));
  APMCOV_ASSIGN_OR_RETURN(SortSpec sort, ParseSort(q.sort));
  if (q.q.size() > 200) return BadParam("q", "longer than 200 characters");
  const std::string needle = Lower(q.q);
  // ?infra=k8s finds the services the infra dimension counts under kubernetes (INFRA_ALIASES).
  const std::string infra = q.infra.empty() || q.infra == kUnknown
                                ? q.infra
                                : coverage::CanonicalInfra(options_.infra_aliases, q.infra);
  auto matches_many = [](const std::vector<std::string>& values, const std::string& want) {
    return values.empty() ? want == kUnknown : Has(values, want);
  };
  std::vector<const ServiceView*> out;
  for (const ServiceView& s : view.services) {
    if (s.deprecated && !incl.value_or(false)) continue;
    if (!q.team.empty() && KeyOr(s.team) != q.team) continue;
    if (!q.env.empty() && !matches_many(s.envs, q.env)) continue;
    if (!infra.empty() && KeyOr(s.infra) != infra) continue;
    if (!q.language.empty() && !matches_many(s.languages, q.language)) continue;
    if (!q.tier.empty() && KeyOr(s.tier) != q.tier) continue;
    if (apm && s.instrumented != *apm) continue;
    if (cf && s.customer_facing != *cf) continue;
    if (!needle.empty() && Lower(s.name).find(needle) == std::string::npos &&
        Lower(s.team).find(needle) == std::string::npos) {
      continue;
    }
    out.push_back(&s);
  }
  if (sort.field == "name") {
    // The view is already by name.
    if (sort.desc) std::reverse(out.begin(), out.end());
    return out;
  }
  // Keys computed once per row, not per comparison.
  std::vector<std::pair<std::string, const ServiceView*>> keyed;
  keyed.reserve(out.size());
  for (const ServiceView* s : out) keyed.emplace_back(sort.Key(*s), s);
  std::sort(keyed.begin(), keyed.end(), [&sort](const auto& a, const auto& b) {
    if (a.first != b.first) return sort.desc ? a.first > b.first : a.first < b.first;
    return sort.desc ? a.second->name > b.second->name : a.second->name < b.second->name;
  });
  for (size_t i = 0; i < keyed.size(); ++i) out[i] = keyed[i].second;
  return out;
}

absl::StatusOr<ServicesPage> QueryService::ListServices(const ServicesQuery& q) {
  APMCOV_ASSIGN_OR_RETURN(
      size_t size,
      ParseSize("page_size", q.page_size, options_.default_page_size, options_.max_page_size));
  APMCOV_ASSIGN_OR_RETURN(SortSpec sort, ParseSort(q.sort));
  std::optional<std::pair<std::string, std::string>> after;
  if (!q.page_token.empty()) {
    APMCOV_ASSIGN_OR_RETURN(auto parts, DecodeToken(q.page_token, 4));
    if (parts[0] != "s1") return BadParam("page_token", "not a services page token");
    if (parts[1] != CanonicalSort(sort)) {
      return BadParam("page_token", absl::StrCat("was issued for sort=", parts[1],
                                                 ", not sort=", CanonicalSort(sort)));
    }
    after = std::make_pair(parts[2], parts[3]);
  }
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  APMCOV_ASSIGN_OR_RETURN(auto rows, Select(*view, q));
  ServicesPage page;
  page.total = static_cast<int64_t>(rows.size());
  size_t start = 0;
  if (after) {
    // First row strictly after the cursor in sort order (rows are sorted; binary search).
    auto is_after = [&](const ServiceView* s) {
      std::string k = sort.Key(*s);
      if (k != after->first) return sort.desc ? k < after->first : k > after->first;
      return sort.desc ? s->name < after->second : s->name > after->second;
    };
    start = static_cast<size_t>(
        std::partition_point(rows.begin(), rows.end(), [&](auto* s) { return !is_after(s); }) -
        rows.begin());
  }
  size_t end = std::min(rows.size(), start + size);
  for (size_t i = start; i < end; ++i) page.services.push_back(*rows[i]);
  if (end < rows.size() && end > start) {
    const ServiceView& last = *rows[end - 1];
    page.next_page_token = EncodeToken({"s1", CanonicalSort(sort), sort.Key(last), last.name});
  }
  return page;
}

absl::StatusOr<std::vector<ServiceView>> QueryService::ExportServices(const ServicesQuery& q) {
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  APMCOV_ASSIGN_OR_RETURN(auto rows, Select(*view, q));
  std::vector<ServiceView> out;
  out.reserve(rows.size());
  for (const ServiceView* s : rows) out.push_back(*s);
  return out;
}

absl::StatusOr<ServiceDetailView> QueryService::GetService(const std::string& name) {
  if (name.empty() || name.size() > 512) return BadParam("name", "must be 1 to 512 characters");
  APMCOV_RETURN_IF_ERROR(NoNul("name", name));
  APMCOV_ASSIGN_OR_RETURN(auto row, store_.GetService(name));
  if (!row) {
    return absl::NotFoundError(absl::StrCat("service '", AbslView(name), "' not found"));
  }
  ServiceDetailView d;
  d.row = *row;
  APMCOV_ASSIGN_OR_RETURN(d.apm, store_.ApmRowsFor(name));
  int64_t lookback =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.apm_lookback).count();
  APMCOV_ASSIGN_OR_RETURN(coverage::CoverageReport one,
                          Compute(std::span(&d.row, 1), d.apm, clock_.NowUnixNanos(), lookback,
                                  options_.infra_aliases));
  if (one.services.size() != 1) return absl::InternalError("coverage of one service: no row");
  d.service = ToView(one.services[0]);
  APMCOV_ASSIGN_OR_RETURN(d.dependencies, AllDependencies(name));
  store::TraceFilter f;
  f.service = name;
  APMCOV_ASSIGN_OR_RETURN(store::TracePage traces, store_.ListTraces(f, std::nullopt, 20));
  d.broken_traces = std::move(traces.traces);
  return d;
}

absl::StatusOr<std::vector<CoverageBucket>> QueryService::GetCoverage(const std::string& by) {
  if (by.empty()) return BadParam("by", "required: team, env, infra, language, tier or lifecycle");
  if (!CoverageDimensions().count(by)) return Buckets(CatalogView{}, by);  // the error
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  return Buckets(*view, by);
}

absl::StatusOr<std::vector<CoverageHistoryPoint>> QueryService::GetCoverageHistory(
    const std::string& by_in, const std::string& since_in) {
  std::string by = by_in.empty() ? "overall" : by_in;
  if (by != "overall" && !CoverageDimensions().count(by)) {
    return BadParam("by", absl::StrCat("must be one of overall, team, env, infra, language, "
                                       "tier, lifecycle, got '",
                                       AbslView(by), "'"));
  }
  int64_t since = clock_.NowUnixNanos() - int64_t{30} * 24 * 3600 * 1'000'000'000;
  if (!since_in.empty()) {
    auto parsed = ParseRfc3339(since_in);
    if (!parsed.ok()) return BadParam("since", "must be an RFC 3339 time");
    since = *parsed;
  }
  APMCOV_ASSIGN_OR_RETURN(auto rows, store_.CoverageHistory(by, since));
  std::vector<CoverageHistoryPoint> points;
  for (const store::CoverageRow& r : rows) {
    if (points.empty() || points.back().taken_at != r.taken_at_ns) {
      points.push_back({r.taken_at_ns, {}});
    }
    points.back().buckets.push_back(
        {r.key, r.total, r.instrumented, CoveragePct(r.instrumented, r.total)});
  }
  return points;
}

absl::StatusOr<TracesPageView> QueryService::ListTraces(const TracesQuery& q) {
  APMCOV_ASSIGN_OR_RETURN(
      size_t size,
      ParseSize("page_size", q.page_size, options_.default_page_size, options_.max_page_size));
  APMCOV_RETURN_IF_ERROR(NoNul("service", q.service));
  APMCOV_RETURN_IF_ERROR(NoNul("missing", q.missing));
  APMCOV_RETURN_IF_ERROR(NoNul("env", q.env));
  store::TraceFilter f;
  f.service = q.service;
  f.missing = q.missing;
  f.env = q.env;
  f.kind = q.kind;
  if (!q.kind.empty() && !IsGapKind(q.kind)) {
    return BadParam("kind",
                    "must be one of uninstrumented_hop, uninstrumented_callee, "
                    "propagation_break, missing_root, orphan_span");
  }
  if (!q.since.empty()) {
    auto parsed = ParseRfc3339(q.since);
    if (!parsed.ok()) return BadParam("since", "must be an RFC 3339 time");
    f.since_ns = *parsed;
  }
  std::optional<store::TraceCursor> after;
  if (!q.page_token.empty()) {
    APMCOV_ASSIGN_OR_RETURN(auto parts, DecodeToken(q.page_token, 3));
    int64_t started = 0;
    uint64_t id = 0;
    if (parts[0] != "t1" || !absl::SimpleAtoi(AbslView(parts[1]), &started) ||
        !ValidDecimalId(parts[2]) || !absl::SimpleAtoi(AbslView(parts[2]), &id)) {
      return BadParam("page_token", "not a traces page token");
    }
    after = store::TraceCursor{started, id};
  }
  APMCOV_ASSIGN_OR_RETURN(store::TracePage page, store_.ListTraces(f, after, size + 1));
  TracesPageView out;
  out.total = page.total;
  bool more = page.traces.size() > size;
  if (more) page.traces.resize(size);
  out.traces = std::move(page.traces);
  if (more && !out.traces.empty()) {
    const BrokenTraceRecord& last = out.traces.back();
    out.next_page_token =
        EncodeToken({"t1", std::to_string(last.started_at_ns), std::to_string(last.trace_id)});
  }
  return out;
}

absl::StatusOr<BrokenTraceRecord> QueryService::GetTrace(const std::string& trace_id) {
  uint64_t id = 0;
  if (!ValidDecimalId(trace_id) || !absl::SimpleAtoi(AbslView(trace_id), &id)) {
    return BadParam("trace_id", "must be a decimal unsigned 64-bit integer");
  }
  APMCOV_ASSIGN_OR_RETURN(auto t, store_.GetTrace(id));
  if (!t) return absl::NotFoundError(absl::StrCat("trace ", trace_id, " not found"));
  return *std::move(t);
}

absl::StatusOr<DependenciesPageView> QueryService::ListDependencies(const DependenciesQuery& q) {
  APMCOV_RETURN_IF_ERROR(NoNul("service", q.service));
  APMCOV_ASSIGN_OR_RETURN(
      size_t size, ParseSize("page_size", q.page_size, options_.default_dependencies_page_size,
                             options_.max_dependencies_page_size));
  std::optional<store::DependencyCursor> after;
  if (!q.page_token.empty()) {
    // The key of the last row of the previous page; a row deleted since is simply passed.
    absl::StatusOr<std::vector<std::string>> parts = DecodeToken(q.page_token, 4);
    if (!parts.ok() || (*parts)[0] != "d1") {
      return BadParam("page_token", "not a dependencies page token");
    }
    after = store::DependencyCursor{(*parts)[1], (*parts)[2], (*parts)[3]};
  }
  APMCOV_ASSIGN_OR_RETURN(store::DependencyPage page,
                          store_.ListDependencies(q.service, after, size + 1));
  DependenciesPageView out;
  out.total = page.total;
  const bool more = page.dependencies.size() > size;
  if (more) page.dependencies.resize(size);
  out.dependencies = std::move(page.dependencies);
  if (more && !out.dependencies.empty()) {
    const DependencyRow& last = out.dependencies.back();
    out.next_page_token = EncodeToken({"d1", last.from_service, last.to_name, last.kind});
  }
  return out;
}

absl::StatusOr<std::vector<DependencyRow>> QueryService::AllDependencies(
    const std::string& service) {
  std::vector<DependencyRow> out;
  std::optional<store::DependencyCursor> after;
  const size_t page_size = std::max<size_t>(1, options_.max_dependencies_page_size);
  while (true) {
    APMCOV_ASSIGN_OR_RETURN(store::DependencyPage page,
                            store_.ListDependencies(service, after, page_size));
    out.insert(out.end(), page.dependencies.begin(), page.dependencies.end());
    if (page.dependencies.size() < page_size) return out;
    const DependencyRow& last = page.dependencies.back();
    after = store::DependencyCursor{last.from_service, last.to_name, last.kind};
  }
}

absl::StatusOr<std::vector<ShadowServiceView>> QueryService::ListShadowServices() {
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  return view->shadows;
}

absl::StatusOr<std::vector<SyncJobRecord>> QueryService::ListSyncJobs(const std::string& limit) {
  APMCOV_ASSIGN_OR_RETURN(size_t n, ParseSize("limit", limit, 50, 500));
  return store_.ListSyncJobs(n);
}

absl::StatusOr<SyncJobRecord> QueryService::GetSyncJob(const std::string& id) {
  if (id.empty() || id.size() > 200) return BadParam("id", "must be 1 to 200 characters");
  APMCOV_RETURN_IF_ERROR(NoNul("id", id));
  APMCOV_ASSIGN_OR_RETURN(auto job, store_.GetSyncJob(id));
  std::lock_guard lock(pending_mu_);
  auto it = pending_.find(id);
  if (job) {
    if (it != pending_.end()) pending_.erase(it);  // recorded: the stored row answers from now on
    return *job;
  }
  const int64_t ttl_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.pending_sync_ttl).count();
  if (it != pending_.end() && clock_.NowUnixNanos() - it->second < ttl_ns) {
    SyncJobRecord queued;
    queued.id = id;
    queued.trigger = "manual";
    queued.state = "queued";
    queued.updated_at_ns = it->second;
    return queued;
  }
  if (it != pending_.end()) {
    return absl::NotFoundError(absl::StrCat("sync job '", AbslView(id),
                                            "' not found: accepted by this gateway ",
                                            (clock_.NowUnixNanos() - it->second) / 1'000'000'000,
                                            " s ago but never recorded by the collector"));
  }
  return absl::NotFoundError(absl::StrCat("sync job '", AbslView(id), "' not found"));
}

namespace {
absl::Status CheckFilter(std::string_view param, const std::string& v) {
  APMCOV_RETURN_IF_ERROR(NoNul(param, v));
  if (v.size() > 512) return BadParam(param, "longer than 512 bytes");
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<RecommendationsView> QueryService::ListRecommendations(
    const RecommendationsQuery& q) {
  APMCOV_RETURN_IF_ERROR(CheckFilter("team", q.team));
  APMCOV_RETURN_IF_ERROR(CheckFilter("env", q.env));
  APMCOV_ASSIGN_OR_RETURN(
      size_t limit,
      ParseSize("limit", q.limit, options_.default_recommendations, options_.max_recommendations));
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  const int64_t lookback =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.apm_lookback).count();
  store::RecommendationQuery sq;
  std::map<std::string, const ServiceView*> by_name;
  for (const ServiceView& s : view->services) {
    if (s.deprecated || s.instrumented) continue;
    if (!q.team.empty() && KeyOr(s.team) != q.team) continue;
    sq.candidates.push_back(s.name);
    by_name[s.name] = &s;
    if (!q.env.empty() && (s.envs.empty() ? q.env == kUnknown : Has(s.envs, q.env))) {
      sq.env_members.push_back(s.name);
    }
  }
  sq.since_ns = clock_.NowUnixNanos() - lookback;
  sq.env = q.env;
  sq.limit = limit;
  RecommendationsView out;
  out.sampled_share = view->sample.sampled_share;
  out.lookback_hours =
      std::chrono::duration_cast<std::chrono::hours>(options_.apm_lookback).count();
  if (sq.candidates.empty()) return out;
  APMCOV_ASSIGN_OR_RETURN(store::RecommendationPage page, store_.RankRecommendations(sq));
  out.total = page.total;
  const double hours = static_cast<double>(lookback) / 3600e9;
  for (store::RecommendationRow& r : page.rows) {
    RecommendationView v;
    v.name = r.name;
    v.team = r.team;
    v.customer_facing = r.customer_facing;
    if (auto it = by_name.find(r.name); it != by_name.end()) v.usm_only = it->second->usm_only;
    v.broken_traces = r.broken_traces;
    // The same estimate as the overview's (design §7.1): the sample scaled by the share of span
    // time read, per hour of the lookback.
    if (out.sampled_share && *out.sampled_share > 0 && hours > 0) {
      v.broken_traces_per_hour = static_cast<double>(r.broken_traces) / *out.sampled_share / hours;
    }
    v.callers = std::move(r.callers);
    v.teams_affected = std::move(r.teams_affected);
    v.example_trace_ids = std::move(r.example_trace_ids);
    out.recommendations.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<ServiceMapView> QueryService::GetServiceMap(const ServiceMapQuery& q) {
  APMCOV_RETURN_IF_ERROR(CheckFilter("team", q.team));
  APMCOV_RETURN_IF_ERROR(CheckFilter("env", q.env));
  if (!q.externals.empty() && q.externals != "collapse" && q.externals != "expand") {
    return BadParam("externals",
                    absl::StrCat("must be collapse or expand, got '", AbslView(q.externals), "'"));
  }
  const bool expand = q.externals == "expand";
  APMCOV_ASSIGN_OR_RETURN(auto view, Catalog());
  const int64_t lookback =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.apm_lookback).count();
  APMCOV_ASSIGN_OR_RETURN(
      store::ServiceMapRows rows,
      store_.LoadServiceMap(clock_.NowUnixNanos() - lookback, q.env, options_.max_map_edges));
  std::map<std::string, const ServiceView*> catalog;
  for (const ServiceView& s : view->services) catalog[s.name] = &s;
  std::map<std::string, const ShadowServiceView*> shadows;
  for (const ShadowServiceView& s : view->shadows) shadows[s.name] = &s;
  auto service_node = [&](const std::string& name) {
    ServiceMapNode n;
    n.id = n.label = name;
    if (auto it = catalog.find(name); it != catalog.end()) {
      const ServiceView& s = *it->second;
      n.kind = s.instrumented ? "instrumented" : s.usm_only ? "usm_only" : "uninstrumented";
      n.team = s.team;
      n.customer_facing = s.customer_facing;
    } else {
      n.kind = "shadow";
    }
    return n;
  };
  auto in_env = [&](const std::string& name) {
    if (auto it = catalog.find(name); it != catalog.end()) {
      const auto& envs = it->second->envs;
      return envs.empty() ? q.env == kUnknown : Has(envs, q.env);
    }
    if (auto it = shadows.find(name); it != shadows.end()) return Has(it->second->envs, q.env);
    return false;
  };
  auto of_team = [&](const std::string& name) {
    auto it = catalog.find(name);
    return KeyOr(it == catalog.end() ? "" : it->second->team) == q.team;
  };
  std::map<std::string, ServiceMapNode> nodes;
  std::map<std::tuple<std::string, std::string, std::string>, ServiceMapEdge> edges;
  for (const store::ServiceMapEdgeRow& r : rows.edges) {
    const bool to_service = r.to_kind == "service";
    if (!q.env.empty() && r.broken_traces == 0 && !in_env(r.from_service)) continue;
    if (!q.team.empty() && !of_team(r.from_service) && !(to_service && of_team(r.to_name))) {
      continue;
    }
    ServiceMapNode to;
    if (to_service) {
      to = service_node(r.to_name);
    } else if (r.to_kind == "external" && !expand) {
      to.id = "external:" + r.from_service;
      to.kind = "external";
    } else {
      to.id = r.to_kind + ":" + r.to_name;
      to.label = r.to_name;
      to.kind = r.to_kind == "datastore" || r.to_kind == "queue" ? r.to_kind : "external";
    }
    ServiceMapNode& to_node = nodes.try_emplace(to.id, to).first->second;
    if (to.kind == "external" && !expand) {
      if (!Has(to_node.names, r.to_name)) to_node.names.push_back(r.to_name);
    }
    nodes.try_emplace(r.from_service, service_node(r.from_service));
    const std::string kind = r.kind == "db" ? "db" : r.kind == "messaging" ? "queue" : "call";
    ServiceMapEdge& e = edges[{r.from_service, to.id, kind}];
    e.from = r.from_service;
    e.to = to.id;
    e.kind = kind;
    e.traces += r.traces;
    e.broken_traces += r.broken_traces;
    for (const std::string& k : r.gap_kinds) {
      if (!Has(e.gap_kinds, k)) e.gap_kinds.push_back(k);
    }
  }
  ServiceMapView out;
  out.truncated = rows.truncated;
  out.lookback_hours =
      std::chrono::duration_cast<std::chrono::hours>(options_.apm_lookback).count();
  for (auto& [id, n] : nodes) {
    std::sort(n.names.begin(), n.names.end());
    if (n.kind == "external" && !expand) {
      n.label = n.names.size() == 1 ? n.names[0] : absl::StrCat(n.names.size(), " external hosts");
    }
    out.nodes.push_back(std::move(n));
  }
  for (auto& [key, e] : edges) {
    std::sort(e.gap_kinds.begin(), e.gap_kinds.end());
    out.edges.push_back(std::move(e));
  }
  return out;
}

void QueryService::NoteAcceptedSyncJob(const std::string& id) {
  std::lock_guard lock(pending_mu_);
  const int64_t now = clock_.NowUnixNanos();
  pending_[id] = now;
  pending_order_.emplace_back(now, id);
  // Every remembered id has its entry in pending_order_, so bounding the deque bounds both;
  // an entry whose id was since recorded (erased) or re-noted (newer time) is simply dropped.
  while (pending_order_.size() > std::max<size_t>(options_.pending_sync_jobs, 1)) {
    const auto& [at, oldest] = pending_order_.front();
    if (auto it = pending_.find(oldest); it != pending_.end() && it->second == at) {
      pending_.erase(it);
    }
    pending_order_.pop_front();
  }
}

}  // namespace apmcov::gateway
