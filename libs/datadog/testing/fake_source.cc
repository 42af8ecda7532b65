#include "apmcov/datadog/testing/fake_source.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace apmcov::datadog::testing {
namespace {

// The span's value of `facet`; nullopt for a facet the fake does not know.
std::optional<std::string> FacetValue(const v1::Span& s, const std::string& facet) {
  if (facet == "service") return s.service();
  if (facet == "env") return s.env();
  if (facet == "@language" || facet == "language") return s.language();
  if (facet == "resource_name") return s.resource();
  if (facet == "operation_name") return s.operation();
  if (facet == "@span.kind") return s.kind();
  if (facet == "host") return s.host();
  return std::nullopt;
}

// An aggregate interval ("30s", "1m", "1h") in nanoseconds, by Abseil's duration syntax.
absl::StatusOr<int64_t> IntervalNanos(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("bad interval \"", text, "\""));
  }
  return absl::ToInt64Nanoseconds(d);
}

}  // namespace

int FakeSource::calls(Method m) const { return calls_[static_cast<size_t>(m)].load(); }

absl::Status FakeSource::Before(Call call) {
  call.number = calls_[static_cast<size_t>(call.method)]++;
  return before_call ? before_call(call) : absl::OkStatus();
}

absl::Status FakeSource::Validate() { return Before({.method = Method::kValidate}); }

absl::StatusOr<ServiceDefinitionPage> FakeSource::ListServiceDefinitions(int32_t page_number,
                                                                         int32_t page_size) {
  if (page_number < 0 || page_size < 1 || page_size > 100) {
    return absl::InvalidArgumentError("page[number] >= 0 and page[size] in 1..100");
  }
  if (absl::Status s = Before({.method = Method::kServiceDefinitions, .page = page_number});
      !s.ok()) {
    return s;
  }
  ServiceDefinitionPage out;
  const size_t begin = static_cast<size_t>(page_number) * static_cast<size_t>(page_size);
  for (size_t i = begin; i < services.size() && i < begin + static_cast<size_t>(page_size); ++i) {
    out.services.push_back(services[i]);
  }
  out.raw_items = out.services.size();
  out.has_more = out.raw_items == static_cast<size_t>(page_size);
  return out;
}

absl::StatusOr<CatalogEntityPage> FakeSource::ListCatalogEntities(int64_t offset, int32_t limit) {
  if (offset < 0 || limit < 1 || limit > 1000) {
    return absl::InvalidArgumentError("page[offset] >= 0 and page[limit] in 1..1000");
  }
  if (absl::Status s = Before({.method = Method::kCatalogEntities, .page = offset}); !s.ok()) {
    return s;
  }
  CatalogEntityPage out;
  const auto begin = static_cast<size_t>(offset);
  for (size_t i = begin; i < entities.size() && i < begin + static_cast<size_t>(limit); ++i) {
    out.services.push_back(entities[i]);
  }
  out.raw_items = out.services.size();
  if (begin + static_cast<size_t>(limit) < entities.size()) out.next_offset = offset + limit;
  return out;
}

absl::StatusOr<std::vector<v1::ApmObservation>> FakeSource::ListApmServices() {
  if (absl::Status s = Before({.method = Method::kApmServices}); !s.ok()) return s;
  return apm;
}

absl::StatusOr<AggregateResult> FakeSource::AggregateSpanCounts(const AggregateQuery& q) {
  aggregate_queries.push_back(q);
  if (absl::Status s = Before({.method = Method::kAggregate, .aggregate = &q}); !s.ok()) return s;
  int64_t interval = 0;
  if (!q.interval.empty()) {
    auto iv = IntervalNanos(q.interval);
    if (!iv.ok()) return iv.status();
    interval = *iv;
  }
  // Group key → (count, per-interval counts).
  std::map<std::vector<std::string>, std::pair<double, std::map<int64_t, double>>> groups;
  for (const v1::Span& s : spans) {
    if (s.start_unix_nano() < q.from_unix_nano || s.start_unix_nano() >= q.to_unix_nano) continue;
    std::vector<std::string> key;
    bool counted = true;
    for (size_t f = 0; f < q.group_by.size() && counted; ++f) {
      std::optional<std::string> v = FacetValue(s, q.group_by[f]);
      if (v.has_value() && !v->empty()) {
        key.push_back(*v);
      } else if (f > 0 && !q.missing.empty()) {
        key.push_back(q.missing);
      } else {
        counted = false;
      }
    }
    if (!counted) continue;
    auto& g = groups[key];
    g.first += 1;
    if (interval > 0) g.second[s.start_unix_nano() / interval * interval] += 1;
  }
  // group_limit per level: within each prefix, the values with the largest counts.
  std::set<std::vector<std::string>> kept;
  for (const auto& [key, g] : groups) kept.insert(key);
  for (size_t level = 0; level < q.group_by.size(); ++level) {
    std::map<std::vector<std::string>, std::map<std::string, double>> by_prefix;
    for (const auto& key : kept) {
      std::vector<std::string> prefix(key.begin(), key.begin() + static_cast<long>(level));
      by_prefix[prefix][key[level]] += groups[key].first;
    }
    std::set<std::vector<std::string>> allowed;  // prefix + value within the limit
    for (auto& [prefix, values] : by_prefix) {
      std::vector<std::pair<std::string, double>> v(values.begin(), values.end());
      std::stable_sort(v.begin(), v.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      for (size_t i = 0; i < v.size() && static_cast<int64_t>(i) < q.group_limit; ++i) {
        std::vector<std::string> p = prefix;
        p.push_back(v[i].first);
        allowed.insert(p);
      }
    }
    std::set<std::vector<std::string>> next;
    for (const auto& key : kept) {
      std::vector<std::string> p(key.begin(), key.begin() + static_cast<long>(level) + 1);
      if (allowed.count(p) != 0) next.insert(key);
    }
    kept = std::move(next);
  }
  AggregateResult result{.partial = aggregates_partial};
  std::vector<AggregateBucket>& out = result.buckets;
  if (q.group_by.empty() && groups.empty()) groups[{}];  // one bucket, even when empty
  for (const auto& [key, g] : groups) {
    if (!q.group_by.empty() && kept.count(key) == 0) continue;
    AggregateBucket b;
    for (size_t f = 0; f < key.size(); ++f) b.by[q.group_by[f]] = key[f];
    if (interval > 0) {
      for (int64_t t = q.from_unix_nano / interval * interval; t < q.to_unix_nano; t += interval) {
        auto it = g.second.find(t);
        const double v = it == g.second.end() ? 0 : it->second * count_scale;
        b.points.push_back({t, v});
        b.count += v;
      }
    } else {
      b.count = g.first * count_scale;
    }
    out.push_back(std::move(b));
  }
  return result;
}

absl::Status FakeSource::ListSpans(const SpanQuery& q, SpanPage* out) {
  span_queries.push_back(q);
  if (q.limit < 1 || q.limit > 1000) return absl::InvalidArgumentError("limit must be 1..1000");
  if (absl::Status s = Before({.method = Method::kSpans, .spans = &q}); !s.ok()) return s;
  // The cursor is the index in `spans` to continue after.
  size_t next = 0;
  if (!q.cursor.empty()) {
    auto r = std::from_chars(q.cursor.data(), q.cursor.data() + q.cursor.size(), next);
    if (r.ec != std::errc() || r.ptr != q.cursor.data() + q.cursor.size()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid cursor \"", q.cursor, "\""));
    }
  }
  out->Clear();
  SpanPage& page = *out;
  for (; next < spans.size() && page.spans.size() < q.limit; ++next) {
    const v1::Span& s = spans[next];
    if (s.start_unix_nano() >= q.from_unix_nano && s.start_unix_nano() < q.to_unix_nano) {
      *page.spans.Add() = s;
    }
  }
  page.items = static_cast<size_t>(page.spans.size());
  // Like Datadog and ddsim: a cursor after every non-empty page, so an empty page ends.
  if (page.spans.size() > 0) page.next_cursor = std::to_string(next);
  return absl::OkStatus();
}

namespace {

// A fake page's second step: the spans, held back since the scan, or the error `finish`
// answers for the page's call.
class HeldSpans final : public SpanPageScan {
 public:
  void Hold(SpanPage* page, int number, std::function<absl::Status(int)> finish) {
    held_.Clear();
    held_.Swap(&page->spans);
    number_ = number;
    finish_ = std::move(finish);
    pending_ = true;
  }
  absl::Status Finish(SpanPage* page) override {
    if (!pending_) return absl::OkStatus();
    pending_ = false;
    if (finish_) {
      if (absl::Status s = finish_(number_); !s.ok()) return s;
    }
    page->spans.Swap(&held_);
    return absl::OkStatus();
  }

 private:
  google::protobuf::RepeatedPtrField<v1::Span> held_;
  int number_ = 0;
  std::function<absl::Status(int)> finish_;
};

}  // namespace

absl::Status FakeSource::ScanSpans(const SpanQuery& q, SpanPage* out) {
  if (absl::Status s = ListSpans(q, out); !s.ok()) return s;
  const int number = calls(Method::kSpans) - 1;
  auto* held = dynamic_cast<HeldSpans*>(out->scan.get());
  if (held == nullptr) {
    auto fresh = std::make_unique<HeldSpans>();
    held = fresh.get();
    out->scan = std::move(fresh);
  }
  held->Hold(out, number, finish_spans);
  return absl::OkStatus();
}

}  // namespace apmcov::datadog::testing
