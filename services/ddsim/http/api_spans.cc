// The spans family: list (GET, query string) and search (POST, JSON body) share one cursor
// paging over generated and received spans; aggregate counts them grouped by facets.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "ddsim/http/api.h"
#include "ddsim/http/json_writer.h"
#include "ddsim/http/params.h"
#include "ddsim/http/responses.h"
#include "ddsim/intake/received_render.h"
#include "ddsim/traffic/query.h"
#include "ddsim/traffic/span_fields.h"
#include "ddsim/world/cat.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using nlohmann::json;

HttpResponse DdsimApi::SpansEndpoint(Endpoint endpoint, const HttpRequest& r) {
  switch (endpoint) {
    case Endpoint::kSpansList:
      return SpansList(r);
    case Endpoint::kSpansSearch:
      return SpansSearch(r);
    case Endpoint::kSpansAggregate:
      return SpansAggregate(r);
    default:
      return Legacy(404, "Not Found");
  }
}

HttpResponse DdsimApi::SpansList(const HttpRequest& r) {
  const int64_t now = clock_.NowUnixNanos();
  SpanPageRequest p;
  if (const std::string* q = r.Query("filter[query]")) {
    p.query_text = *q;
    p.query_given = true;
  } else {
    p.query_text = "*";
  }
  const std::string* from = r.Query("filter[from]");
  const std::string* to = r.Query("filter[to]");
  auto f = ParseDatadogTime(from ? *from : "now-15m", now);
  if (!f.ok()) return JsonApiError(400, std::string(f.status().message()), "filter[from]");
  auto t = ParseDatadogTime(to ? *to : "now", now);
  if (!t.ok()) return JsonApiError(400, std::string(t.status().message()), "filter[to]");
  p.from_ns = *f / 1'000'000 * 1'000'000;
  p.to_ns = *t / 1'000'000 * 1'000'000;
  if (const std::string* s = r.Query("sort")) {
    if (*s != "timestamp" && *s != "-timestamp") {
      return JsonApiError(400, "sort must be timestamp or -timestamp", "sort");
    }
    p.ascending = *s == "timestamp";
    p.sort_given = true;
  }
  auto limit = ParseInt("page[limit]", r.Query("page[limit]"), 10);
  if (!limit.ok()) return JsonApiError(400, std::string(limit.status().message()), "page[limit]");
  p.limit = *limit;
  if (const std::string* c = r.Query("page[cursor]")) p.cursor = *c;
  const std::string* host = r.Header("host");
  p.host = host ? *host : "127.0.0.1";
  return SpanPage(p);
}

HttpResponse DdsimApi::SpansSearch(const HttpRequest& r) {
  const int64_t now = clock_.NowUnixNanos();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return JsonApiError(400, "request body is not valid JSON");
  SpanPageRequest p;
  p.post = true;
  p.query_given = true;
  p.query_text = "*";
  std::string from = "now-15m", to = "now";
  try {
    const json& attrs = body.at("data").at("attributes");
    if (attrs.contains("filter")) {
      const json& f = attrs["filter"];
      if (f.contains("query")) p.query_text = f["query"].get<std::string>();
      if (f.contains("from")) from = f["from"].get<std::string>();
      if (f.contains("to")) to = f["to"].get<std::string>();
    }
    if (attrs.contains("sort")) {
      const std::string s = attrs["sort"].get<std::string>();
      if (s != "timestamp" && s != "-timestamp")
        return JsonApiError(400, "sort must be timestamp or -timestamp");
      p.ascending = s == "timestamp";
      p.sort_given = true;
    }
    if (attrs.contains("page")) {
      const json& pg = attrs["page"];
      if (pg.contains("limit")) p.limit = pg["limit"].get<int64_t>();
      if (pg.contains("cursor")) p.cursor = pg["cursor"].get<std::string>();
    }
  } catch (const json::exception& e) {
    return JsonApiError(400, Cat("invalid search request: ", e.what()));
  }
  auto f = ParseDatadogTime(from, now);
  if (!f.ok()) return JsonApiError(400, std::string(f.status().message()));
  auto t = ParseDatadogTime(to, now);
  if (!t.ok()) return JsonApiError(400, std::string(t.status().message()));
  p.from_ns = *f / 1'000'000 * 1'000'000;
  p.to_ns = *t / 1'000'000 * 1'000'000;
  const std::string* host = r.Header("host");
  p.host = host ? *host : "127.0.0.1";
  return SpanPage(p);
}

HttpResponse DdsimApi::SpanPage(const SpanPageRequest& p) {
  const auto t0 = std::chrono::steady_clock::now();
  if (p.limit > 1000)
    return JsonApiError(400, "page[limit] must be less than or equal to 1000", "page[limit]");
  if (p.limit < 1) return JsonApiError(400, "page[limit] must be at least 1", "page[limit]");
  if (p.from_ns > p.to_ns) {
    return JsonApiError(
        422,
        "invalid_argument(Field 'filter.from,to' is invalid: 'from' should be anterior to 'to')");
  }
  auto query = SpanQuery::Parse(p.query_text);
  if (!query.ok()) return JsonApiError(400, std::string(query.status().message()), "filter[query]");

  const int64_t now = clock_.NowUnixNanos();
  const int64_t lo = std::max(p.from_ns, traffic_.traffic_start_ns);
  const int64_t hi = std::min(p.to_ns, now + 1);  // spans that started by now
  const int64_t range_lo = lo / kBucketNanos, range_hi = (hi - 1) / kBucketNanos;
  // Seconds to read: of generated spans [g_lo, g_hi], of received spans [r_lo, r_hi].
  int64_t g_lo = range_lo, g_hi = range_hi;
  const bool with_received = !received_.empty();
  int64_t r_lo = range_lo, r_hi = with_received ? range_hi : range_lo - 1;
  if (query->trace_id()) {
    auto d = DecodeTraceId(traffic_.seed, *query->trace_id());
    if (!d) {
      g_hi = g_lo - 1;
    } else {
      g_lo = std::max(g_lo, d->bucket);
      g_hi = std::min(g_hi, d->bucket + 1);
    }
    r_hi = r_lo - 1;
    if (with_received) {
      const std::vector<int64_t> secs = received_.SecondsOfTrace(*query->trace_id());
      if (!secs.empty()) {
        r_lo = std::max(range_lo, secs.front());
        r_hi = std::min(range_hi, secs.back());
      }
    }
  }
  int64_t s_lo = g_lo, s_hi = g_hi;
  if (r_lo <= r_hi) {
    s_lo = g_lo <= g_hi ? std::min(g_lo, r_lo) : r_lo;
    s_hi = g_lo <= g_hi ? std::max(g_hi, r_hi) : r_hi;
  }
  // Cursor: base64 JSON {"after":"<slice>:<pos>:<a|d>","values":[...]} (opaque to clients).
  int64_t slice = p.ascending ? s_lo : s_hi;
  int64_t pos = 0;
  if (!p.cursor.empty()) {
    std::string raw;
    json c;
    if (Base64Decode(p.cursor, &raw)) c = json::parse(raw, nullptr, false);
    bool ok = c.is_object() && c.contains("after") && c["after"].is_string();
    if (ok) {
      const std::string after = c["after"].get<std::string>();
      long long a = 0, b = 0;
      char dir = 0;
      ok = std::sscanf(after.c_str(), "%lld:%lld:%c", &a, &b, &dir) == 3 && b >= 0 &&
           (dir == 'a') == p.ascending;
      slice = a;
      pos = b;
    }
    if (!ok) return JsonApiError(400, "invalid page[cursor]", "page[cursor]");
  }

  std::string out;
  out.reserve(static_cast<size_t>(p.limit) * 1400 + 512);
  out.append("{\"data\":[");
  int64_t n = 0;
  int64_t last_start = 0;
  bool full = false;
  // A second's spans in one order, generated and received: by (start, span id).
  struct Entry {
    const Span* generated;
    const ReceivedSpan* received;
  };
  std::vector<Entry> merged;
  while (!full && (p.ascending ? slice <= s_hi : slice >= s_lo)) {
    std::shared_ptr<const Slice> sl;
    if (slice >= g_lo && slice <= g_hi) sl = GetSlice(slice);
    ReceivedStore::SecondSpans rs;
    if (slice >= r_lo && slice <= r_hi) rs = received_.Second(slice);
    merged.clear();
    if (rs != nullptr) {
      const size_t gn = sl != nullptr ? sl->spans.size() : 0;
      size_t gi = 0, ri = 0;
      while (gi < gn || ri < rs->size()) {
        const bool take_generated =
            ri == rs->size() || (gi < gn && (sl->spans[gi]->start_ns != (*rs)[ri].start_ns
                                                 ? sl->spans[gi]->start_ns < (*rs)[ri].start_ns
                                                 : sl->spans[gi]->span_id <= (*rs)[ri].span_id));
        merged.push_back(take_generated ? Entry{sl->spans[gi++], nullptr}
                                        : Entry{nullptr, &(*rs)[ri++]});
      }
    }
    const int64_t size = rs != nullptr   ? static_cast<int64_t>(merged.size())
                         : sl != nullptr ? static_cast<int64_t>(sl->spans.size())
                                         : 0;
    for (; pos < size; ++pos) {
      const int64_t at = p.ascending ? pos : size - 1 - pos;
      const Span* sp = rs == nullptr ? sl->spans[at] : merged[at].generated;
      if (sp != nullptr) {
        if (sp->start_ns < lo || sp->start_ns >= hi) continue;
        if (!query->Matches(world_, *sp)) continue;
        if (n > 0) out.push_back(',');
        renderer_.AppendSpanEvent(out, *sp);
        last_start = sp->start_ns;
      } else {
        const ReceivedSpan& rsp = *merged[at].received;
        if (rsp.start_ns < lo || rsp.start_ns >= hi) continue;
        if (!query->MatchesFields([&rsp](SpanField f, std::string& sc, std::string_view* v) {
              return ReceivedFieldValue(rsp, f, sc, v);
            })) {
          continue;
        }
        if (n > 0) out.push_back(',');
        AppendReceivedSpanEvent(out, rsp);
        last_start = rsp.start_ns;
      }
      if (++n == p.limit) {
        ++pos;
        full = true;
        break;
      }
    }
    if (!full) {
      slice += p.ascending ? 1 : -1;
      pos = 0;
    }
  }
  HttpResponse resp;
  if (n == 0) {
    if (p.post) resp.content_type = std::string(kJsonApi);
    resp.body = "{\"data\":[]}";
    return resp;
  }
  spans_served_ += n;
  std::string cursor_json =
      Cat("{\"after\":\"", slice, ":", pos, ":", p.ascending ? "a" : "d", "\",\"values\":[");
  AppendIsoMillis(cursor_json, last_start);
  Append(cursor_json, ",", n, "]}");
  const std::string cursor = Base64Encode(cursor_json);
  const int64_t elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  out.append("],\"meta\":{\"elapsed\":");
  AppendI64(out, elapsed);
  out.append(",\"request_id\":\"");
  out.append(RequestId(request_seq_.load()));
  out.append("\",\"status\":\"done\",\"page\":{\"after\":\"");
  out.append(cursor);
  out.append("\"}},\"links\":{\"next\":");
  std::string q;
  AppendQueryParam(q, "filter[from]", std::to_string(p.from_ns / 1'000'000));
  if (p.query_given) AppendQueryParam(q, "filter[query]", p.query_text);
  AppendQueryParam(q, "filter[to]", std::to_string(p.to_ns / 1'000'000));
  AppendQueryParam(q, "page[cursor]", cursor);
  AppendQueryParam(q, "page[limit]", std::to_string(p.limit));
  if (p.sort_given) AppendQueryParam(q, "sort", p.ascending ? "timestamp" : "-timestamp");
  AppendJsonString(out, Cat("http://", p.host, "/api/v2/spans/events?", q));
  out.append("}}");
  resp.content_type = std::string(kJsonApi);
  resp.body = std::move(out);
  return resp;
}

HttpResponse DdsimApi::SpansAggregate(const HttpRequest& r) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t now = clock_.NowUnixNanos();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return Legacy(400, "request body is not valid JSON");
  std::string query_text = "*", from = "now-15m", to = "now";
  struct Compute {
    bool timeseries = false;
    int64_t interval_ns = 0;
  };
  std::vector<Compute> computes;
  struct GroupBy {
    SpanField field;
    std::string facet;
    int64_t limit = 10;
    bool desc = true;
    bool alphabetical = false;
    std::optional<std::string> missing;
  };
  std::vector<GroupBy> groups;
  try {
    const json& attrs = body.at("data").at("attributes");
    if (attrs.contains("filter")) {
      const json& f = attrs["filter"];
      if (f.contains("query")) query_text = f["query"].get<std::string>();
      if (f.contains("from")) from = f["from"].get<std::string>();
      if (f.contains("to")) to = f["to"].get<std::string>();
    }
    if (attrs.contains("compute")) {
      for (const json& c : attrs["compute"]) {
        const std::string agg = c.value("aggregation", "count");
        if (agg != "count")
          return Legacy(400, "ddsim supports only the count aggregation, got " + agg);
        Compute cp;
        if (c.value("type", "total") == "timeseries") {
          cp.timeseries = true;
          auto iv = ParseInterval(c.value("interval", "5m"));
          if (!iv.ok()) return Legacy(400, std::string(iv.status().message()));
          cp.interval_ns = *iv;
        }
        computes.push_back(cp);
      }
    }
    if (attrs.contains("group_by")) {
      for (const json& g : attrs["group_by"]) {
        GroupBy gb;
        gb.facet = g.at("facet").get<std::string>();
        gb.field = ParseSpanField(gb.facet);
        if (gb.field == SpanField::kUnknown)
          return Legacy(400, "unknown group_by facet " + gb.facet);
        gb.limit = g.value("limit", int64_t{10});
        if (gb.limit < 1 || gb.limit > 1000000)
          return Legacy(400, "group_by limit must be between 1 and 1000000");
        if (g.contains("missing"))
          gb.missing =
              g["missing"].is_string() ? g["missing"].get<std::string>() : g["missing"].dump();
        if (g.contains("sort")) {
          gb.desc = g["sort"].value("order", "desc") != "asc";
          gb.alphabetical = g["sort"].value("type", "measure") == "alphabetical";
        }
        groups.push_back(gb);
      }
    }
  } catch (const json::exception& e) {
    return Legacy(400, Cat("invalid aggregate request: ", e.what()));
  }
  if (computes.empty()) computes.push_back({});
  auto f = ParseDatadogTime(from, now);
  if (!f.ok()) return Legacy(400, std::string(f.status().message()));
  auto t = ParseDatadogTime(to, now);
  if (!t.ok()) return Legacy(400, std::string(t.status().message()));
  if (*f > *t) return Legacy(400, "'from' should be anterior to 'to'");
  auto query = SpanQuery::Parse(query_text);
  if (!query.ok()) return Legacy(400, std::string(query.status().message()));

  const int64_t lo = std::max(*f, traffic_.traffic_start_ns), hi = std::min(*t, now + 1);
  struct Counts {
    int64_t total = 0;
    std::map<int64_t, int64_t> by_time[4];
  };
  absl::flat_hash_map<std::vector<std::string>, Counts> counts;
  bool timeout = false;
  std::string scratch;
  std::vector<std::string> key(groups.size());
  // The group key of one matching span into `key`; false when the span is left out.
  auto group_key = [&](const auto& value) {
    for (size_t g = 0; g < groups.size(); ++g) {
      std::string_view v;
      if (value(groups[g].field, scratch, &v)) {
        key[g].assign(v);
      } else if (groups[g].missing) {
        key[g] = *groups[g].missing;
      } else {
        return false;
      }
    }
    return true;
  };
  // Adds `n` spans starting at `start_ns` to `ct`.
  auto add = [&](Counts& ct, int64_t start_ns, int64_t n) {
    ct.total += n;
    for (size_t ci = 0; ci < computes.size() && ci < 4; ++ci) {
      if (computes[ci].timeseries) {
        ct.by_time[ci][start_ns / computes[ci].interval_ns * computes[ci].interval_ns] += n;
      }
    }
  };
  // Counts one matching span; `value(field, scratch, &out)` reads its fields.
  auto tally = [&](int64_t start_ns, const auto& value) {
    if (group_key(value)) add(counts[key], start_ns, 1);
  };
  // A second wholly inside [lo, hi) falls in one timeseries point when every interval is a
  // whole number of seconds: its counts come from the memo (aggregate_memo.h).
  const bool memoisable = std::all_of(computes.begin(), computes.end(), [](const Compute& c) {
    return !c.timeseries || c.interval_ns % kBucketNanos == 0;
  });
  std::string shape = query_text;
  for (const GroupBy& gb : groups) {
    Append(shape, "\x1f", gb.facet, "\x1e", gb.missing ? "=" + *gb.missing : "");
  }
  absl::flat_hash_map<const std::vector<std::string>*, Counts> memo_counts;
  // The field reader of a generated span, for group_key and tally.
  auto fields_of = [this](const Span& sp) {
    return [this, &sp](SpanField f, std::string& sc, std::string_view* v) {
      return SpanFieldValue(world_, sp, f, sc, v);
    };
  };
  // Each bucket once: a trace's spans start in its own bucket or the next one.
  for (int64_t s = lo / kBucketNanos - 1; s <= (hi - 1) / kBucketNanos && lo < hi; ++s) {
    if (std::chrono::steady_clock::now() - t0 >
        std::chrono::milliseconds(options_.aggregate_budget_ms)) {
      timeout = true;
      break;
    }
    const bool whole[2] = {
        memoisable && s * kBucketNanos >= lo && (s + 1) * kBucketNanos <= hi,
        memoisable && (s + 1) * kBucketNanos >= lo && (s + 2) * kBucketNanos <= hi};
    // Long aggregates must not evict the buckets span paging is working through.
    std::shared_ptr<const Bucket> c;
    auto bucket = [&] {
      if (c == nullptr) c = PeekBucket(s);
      if (c == nullptr) c = GenerateBucket(world_, traffic_, s);
      return c;
    };
    if (whole[0] || whole[1]) {
      std::shared_ptr<const AggregateMemo::Piece> piece = aggregate_memo_.Find(shape, s);
      if (piece == nullptr) {
        AggregateMemo::Tallies tallies;
        for (const Span& sp : bucket()->spans) {
          const int64_t h = sp.start_ns / kBucketNanos - s;
          if (h < 0 || h > 1 || !query->Matches(world_, sp)) continue;
          if (group_key(fields_of(sp))) ++tallies[key][h];
        }
        piece = aggregate_memo_.Store(shape, s, tallies);
      }
      for (int h = 0; h < 2; ++h) {
        if (!whole[h]) continue;
        for (const auto& [k, n] : piece->by_second[h]) {
          add(memo_counts[k.get()], (s + h) * kBucketNanos, n);
        }
      }
      if (whole[0] && whole[1]) continue;
    }
    for (const Span& sp : bucket()->spans) {
      if (sp.start_ns < lo || sp.start_ns >= hi) continue;
      if (whole[sp.start_ns / kBucketNanos - s == 1 ? 1 : 0]) continue;
      if (!query->Matches(world_, sp)) continue;
      tally(sp.start_ns, fields_of(sp));
    }
  }
  for (auto& [k, memo] : memo_counts) {
    Counts& ct = counts[*k];
    ct.total += memo.total;
    for (size_t ci = 0; ci < 4; ++ci) {
      for (const auto& [time, n] : memo.by_time[ci]) ct.by_time[ci][time] += n;
    }
  }
  // Spans the Agent intake received count like generated ones.
  if (!received_.empty() && lo < hi) {
    for (const auto& [second, spans] :
         received_.Range(lo / kBucketNanos, (hi - 1) / kBucketNanos)) {
      for (const ReceivedSpan& rsp : *spans) {
        if (rsp.start_ns < lo || rsp.start_ns >= hi) continue;
        auto value = [&rsp](SpanField f, std::string& sc, std::string_view* v) {
          return ReceivedFieldValue(rsp, f, sc, v);
        };
        if (!query->MatchesFields(value)) continue;
        tally(rsp.start_ns, value);
      }
    }
  }
  // Per-level top-N: keep a group when each prefix is within its level's limit.
  std::vector<std::pair<std::vector<std::string>, const Counts*>> rows;
  rows.reserve(counts.size());
  for (const auto& [k, v] : counts) rows.emplace_back(k, &v);
  std::vector<std::pair<std::vector<std::string>, const Counts*>> kept;
  std::function<void(size_t, const std::vector<size_t>&)> select =
      [&](size_t level, const std::vector<size_t>& idx) {
        if (level == groups.size()) {
          for (size_t i : idx) kept.push_back(rows[i]);
          return;
        }
        std::map<std::string, std::pair<int64_t, std::vector<size_t>>> by_value;
        for (size_t i : idx) {
          auto& e = by_value[rows[i].first[level]];
          e.first += rows[i].second->total;
          e.second.push_back(i);
        }
        std::vector<std::pair<std::string, std::pair<int64_t, std::vector<size_t>>>> vals(
            by_value.begin(), by_value.end());
        const GroupBy& gb = groups[level];
        std::stable_sort(vals.begin(), vals.end(), [&](const auto& a, const auto& b) {
          if (gb.alphabetical) return gb.desc ? a.first > b.first : a.first < b.first;
          return gb.desc ? a.second.first > b.second.first : a.second.first < b.second.first;
        });
        for (size_t v = 0; v < vals.size() && static_cast<int64_t>(v) < gb.limit; ++v)
          select(level + 1, vals[v].second.second);
      };
  std::vector<size_t> all(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) all[i] = i;
  if (groups.empty() && rows.empty()) {
    static const Counts kEmpty;
    rows.emplace_back(std::vector<std::string>{}, &kEmpty);
    all = {0};
  }
  select(0, all);

  std::string out = "{\"data\":[";
  for (size_t i = 0; i < kept.size(); ++i) {
    const auto& [k, c] = kept[i];
    if (i > 0) out.push_back(',');
    std::string id_src = Cat(world_.options.seed);
    for (const auto& part : k) Append(id_src, "|", part);
    const uint64_t h1 = MixSeed(std::hash<std::string>{}(id_src), 1), h2 = MixSeed(h1, 2);
    const std::string hex = absl::StrFormat("%016x%016x", h1, h2);
    out.append("{\"type\":\"bucket\",\"id\":\"");
    out.append(EntityUuid(hex));
    out.append("\",\"attributes\":{\"compute\":{");
    for (size_t ci = 0; ci < computes.size(); ++ci) {
      if (ci > 0) out.push_back(',');
      Append(out, "\"c", ci, "\":");
      if (!computes[ci].timeseries || ci >= 4) {
        AppendI64(out, c->total);
        continue;
      }
      out.push_back('[');
      const int64_t iv = computes[ci].interval_ns;
      bool first = true;
      for (int64_t ts = *f / iv * iv; ts < *t; ts += iv) {
        auto it = c->by_time[ci].find(ts);
        if (!first) out.push_back(',');
        first = false;
        out.append("{\"time\":");
        AppendIsoMillis(out, ts);
        out.append(",\"value\":");
        AppendI64(out, it == c->by_time[ci].end() ? 0 : it->second);
        out.push_back('}');
      }
      out.push_back(']');
    }
    out.append("},\"by\":{");
    for (size_t g = 0; g < groups.size(); ++g) {
      if (g > 0) out.push_back(',');
      AppendJsonString(out, groups[g].facet);
      out.push_back(':');
      AppendJsonString(out, k[g]);
    }
    out.append("}}}");
  }
  const int64_t elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  Append(out, "],\"meta\":{\"elapsed\":", elapsed, ",\"request_id\":\"",
         RequestId(request_seq_.load()), "\",\"status\":\"", timeout ? "timeout" : "done", "\"}}");
  HttpResponse resp;
  resp.body = std::move(out);
  return resp;
}

}  // namespace apmcov::ddsim
