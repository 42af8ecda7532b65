// FakeSource (testing/fake_source.h) against the source contract, and the fake's own knobs.
#include "apmcov/datadog/testing/fake_source.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "source_contract.h"

namespace apmcov::datadog {
namespace contract {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1'800'000'000 * kSec;

// A small organisation: 23 definitions, 12 entities, 5 APM services, 1,200 spans of 4
// services over three seconds.
struct FakeBackend {
  static constexpr const char* kName = "Fake";
  FakeBackend() {
    for (int i = 0; i < 23; ++i) {
      v1::CatalogService s;
      s.set_name(absl::StrCat("svc-", i));
      fake.services.push_back(s);
      if (i % 2 == 0) fake.entities.push_back(s);
    }
    for (int i = 0; i < 5; ++i) {
      v1::ApmObservation o;
      o.set_service(absl::StrCat("svc-", i));
      o.set_env("*");
      o.set_source("service_list");
      o.set_traced(true);
      fake.apm.push_back(o);
    }
    for (int i = 0; i < 1200; ++i) {
      v1::Span s;
      s.set_trace_id(1000 + i / 4);
      s.set_span_id(i + 1);
      s.set_service(absl::StrCat("svc-", i % 4));
      s.set_env(i % 3 == 0 ? "prod" : "staging");
      s.set_start_unix_nano(kT0 + i * (3 * kSec / 1200));
      fake.spans.push_back(s);
    }
  }
  DatadogSource& source() { return fake; }
  int64_t window_from() const { return kT0; }
  int64_t window_to() const { return kT0 + 3 * kSec; }
  int64_t empty_from() const { return kT0 - 60 * kSec; }
  int64_t empty_to() const { return kT0 - 50 * kSec; }
  testing::FakeSource fake;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Fake, SourceContractTest, FakeBackend);

}  // namespace contract

namespace {

using testing::FakeSource;

TEST(FakeSourceTest, BeforeCallAnswersWithAnErrorAndCountsCalls) {
  contract::FakeBackend b;
  b.fake.before_call = [](const FakeSource::Call& c) {
    return c.method == FakeSource::Method::kServiceDefinitions && c.page == 1
               ? absl::UnavailableError("HTTP 503 after 5 attempts")
               : absl::OkStatus();
  };
  EXPECT_TRUE(b.fake.ListServiceDefinitions(0, 10).ok());
  auto failed = b.fake.ListServiceDefinitions(1, 10);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b.fake.calls(FakeSource::Method::kServiceDefinitions), 2);
  EXPECT_EQ(b.fake.calls(FakeSource::Method::kSpans), 0);
}

// ScanSpans holds the spans back until FinishParse, which answers what finish_spans says.
TEST(FakeSourceTest, ScannedSpansWaitForTheFinishWhichCanFail) {
  contract::FakeBackend b;
  b.fake.finish_spans = [](int number) {
    return number == 1 ? absl::InvalidArgumentError("malformed Datadog span page: data[3]")
                       : absl::OkStatus();
  };
  SpanQuery q{.from_unix_nano = b.window_from(), .to_unix_nano = b.window_to(), .limit = 10};
  SpanPage page;
  ASSERT_TRUE(b.fake.ScanSpans(q, &page).ok());
  EXPECT_EQ(page.spans.size(), 0);
  EXPECT_EQ(page.items, 10u);
  ASSERT_TRUE(page.FinishParse().ok());
  EXPECT_EQ(page.spans.size(), 10);
  q.cursor = page.next_cursor;
  ASSERT_TRUE(b.fake.ScanSpans(q, &page).ok());
  EXPECT_EQ(page.FinishParse().message(), "malformed Datadog span page: data[3]");
}

TEST(FakeSourceTest, AggregateGroupsNestWithMissingAndLimitAndScale) {
  contract::FakeBackend b;
  b.fake.spans[0].set_env("");  // counted under `missing`
  b.fake.count_scale = 0.5;
  AggregateQuery q;
  q.from_unix_nano = b.window_from();
  q.to_unix_nano = b.window_to();
  q.group_by = {"service", "env", "kube_cluster_name"};
  q.group_limit = 3;
  q.missing = "N/A";
  auto buckets = b.fake.AggregateSpanCounts(q);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  double total = 0;
  std::set<std::string> services;
  bool missing_env = false;
  for (const AggregateBucket& bk : buckets->buckets) {
    services.insert(bk.by.at("service"));
    EXPECT_EQ(bk.by.at("kube_cluster_name"), "N/A");  // a facet the fake does not know
    if (bk.by.at("env") == "N/A") missing_env = true;
    total += bk.count;
  }
  EXPECT_EQ(services.size(), 3u);  // 4 services, the 3 largest kept
  EXPECT_TRUE(missing_env);
  EXPECT_EQ(total, 0.5 * 900);  // svc-0..2 of 1,200 spans, halved
}

}  // namespace
}  // namespace apmcov::datadog
