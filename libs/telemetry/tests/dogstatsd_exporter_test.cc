// The Prometheus -> DogStatsD translation: exact lines for each metric type, counter deltas
// across flushes, resets, and the options read from the environment.
#include "apmcov/telemetry/dogstatsd_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apmcov/base/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::telemetry {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Lines(const std::vector<DogStatsdPoint>& points,
                               std::string_view constant_tags = "") {
  std::vector<std::string> lines;
  for (const DogStatsdPoint& p : points) {
    DogStatsdTags tags;
    for (const auto& [k, v] : p.tags) tags.push_back({k, v});
    absl::StatusOr<std::string> line =
        FormatDogStatsdLine(p.name, p.value, p.type, tags, constant_tags);
    lines.push_back(line.ok() ? *line : std::string(line.status().message()));
  }
  return lines;
}

struct Fixture {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& calls =
      prometheus::BuildCounter().Name("apmcov_api_calls_total").Help("calls").Register(registry);
  prometheus::Gauge& lag = prometheus::BuildGauge()
                               .Name("apmcov_lag")
                               .Help("lag")
                               .Register(registry)
                               .Add({{"partition", "3"}});
  prometheus::Histogram& latency =
      prometheus::BuildHistogram()
          .Name("apmcov_latency_seconds")
          .Help("latency")
          .Register(registry)
          .Add({{"endpoint", "spans"}}, prometheus::Histogram::BucketBoundaries{0.1, 1});
};

TEST(DogStatsdTranslatorTest, FirstFlushSendsFullValuesWithLabelsAsTags) {
  Fixture f;
  f.calls.Add({{"endpoint", "spans"}, {"status", "200"}}).Increment(5);
  f.lag.Set(1500);
  f.latency.Observe(0.25);
  f.latency.Observe(0.5);

  DogStatsdTranslator translator;
  EXPECT_THAT(
      Lines(translator.Translate(f.registry.Collect()), "service:svc"),
      UnorderedElementsAre("apmcov_api_calls_total:5|c|#endpoint:spans,status:200,service:svc",
                           "apmcov_lag:1500|g|#partition:3,service:svc",
                           "apmcov_latency_seconds.count:2|c|#endpoint:spans,service:svc",
                           "apmcov_latency_seconds.sum:0.75|c|#endpoint:spans,service:svc"));
}

TEST(DogStatsdTranslatorTest, LaterFlushesSendIncreasesAndSkipStillSeries) {
  Fixture f;
  auto& ok = f.calls.Add({{"status", "200"}});
  auto& failed = f.calls.Add({{"status", "500"}});
  ok.Increment(5);
  failed.Increment(1);
  f.lag.Set(7);
  f.latency.Observe(0.25);

  DogStatsdTranslator translator;
  (void)translator.Translate(f.registry.Collect());
  ok.Increment(3);
  f.lag.Set(2);
  f.latency.Observe(2);
  EXPECT_THAT(
      Lines(translator.Translate(f.registry.Collect())),
      UnorderedElementsAre("apmcov_api_calls_total:3|c|#status:200", "apmcov_lag:2|g|#partition:3",
                           "apmcov_latency_seconds.count:1|c|#endpoint:spans",
                           "apmcov_latency_seconds.sum:2|c|#endpoint:spans"));
  // Nothing moved: only the gauge is repeated.
  EXPECT_THAT(Lines(translator.Translate(f.registry.Collect())),
              ElementsAre("apmcov_lag:2|g|#partition:3"));
}

TEST(DogStatsdTranslatorTest, EmptyLabelValuesAreLeftOut) {
  prometheus::Registry registry;
  prometheus::BuildGauge()
      .Name("info")
      .Help("h")
      .Register(registry)
      .Add({{"service", "svc"}, {"version", ""}})
      .Set(1);
  DogStatsdTranslator translator;
  EXPECT_THAT(Lines(translator.Translate(registry.Collect())),
              ElementsAre("info:1|g|#service:svc"));
}

TEST(DogStatsdTranslatorTest, FirstSightOfAZeroCounterIsSent) {
  prometheus::Registry registry;
  prometheus::BuildCounter().Name("c_total").Help("h").Register(registry).Add({});
  DogStatsdTranslator translator;
  EXPECT_THAT(Lines(translator.Translate(registry.Collect())), ElementsAre("c_total:0|c"));
  EXPECT_THAT(Lines(translator.Translate(registry.Collect())), IsEmpty());
}

TEST(DogStatsdTranslatorTest, ACounterThatWentDownWasResetAndNeverSendsNegative) {
  prometheus::MetricFamily family;
  family.name = "resets_total";
  family.type = prometheus::MetricType::Counter;
  family.metric.resize(1);
  family.metric[0].counter.value = 10;
  DogStatsdTranslator translator;
  EXPECT_THAT(Lines(translator.Translate({family})), ElementsAre("resets_total:10|c"));
  family.metric[0].counter.value = 4;  // the process behind it restarted
  EXPECT_THAT(Lines(translator.Translate({family})), ElementsAre("resets_total:4|c"));
  family.metric[0].counter.value = 6;
  EXPECT_THAT(Lines(translator.Translate({family})), ElementsAre("resets_total:2|c"));
}

TEST(DogStatsdTranslatorTest, SummaryGivesCountSumAndQuantileGauges) {
  prometheus::Registry registry;
  auto& summary = prometheus::BuildSummary().Name("s").Help("h").Register(registry).Add(
      {{"k", "v"}}, prometheus::Summary::Quantiles{{0.5, 0.05}});
  summary.Observe(3);
  DogStatsdTranslator translator;
  EXPECT_THAT(Lines(translator.Translate(registry.Collect())),
              UnorderedElementsAre("s.count:1|c|#k:v", "s.sum:3|c|#k:v",
                                   "s.quantile:3|g|#k:v,quantile:0.5"));
}

TEST(DogStatsdExporterOptionsTest, ReadsTheAgentIntervalAndIdentityTags) {
  std::map<std::string, std::string> env = {
      {"DD_DOGSTATSD_URL", "udp://127.0.0.1:9125"}, {"DD_ENV", "prod"}, {"DD_VERSION", "1.2.3"}};
  const char* argv[] = {"prog", "--dogstatsd-flush-seconds=2.5"};
  ConfigReader reader(2, argv, [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
  DogStatsdExporterOptions options = DogStatsdExporterOptions::Read(reader, "apmcov-test");
  ASSERT_TRUE(reader.Finish().ok()) << reader.Finish();
  EXPECT_TRUE(options.sink.enabled);
  EXPECT_EQ(options.sink.host, "127.0.0.1");
  EXPECT_EQ(options.sink.port, 9125);
  EXPECT_EQ(options.interval, std::chrono::milliseconds(2500));
  EXPECT_THAT(options.sink.constant_tags,
              ElementsAre(std::pair<std::string, std::string>{"service", "apmcov-test"},
                          std::pair<std::string, std::string>{"env", "prod"},
                          std::pair<std::string, std::string>{"version", "1.2.3"}));
}

TEST(DogStatsdExporterOptionsTest, OffByDefaultAndABadIntervalIsNamed) {
  const char* argv[] = {"prog", "--dogstatsd-flush-seconds=0"};
  ConfigReader reader(2, argv, [](const std::string&) { return std::nullopt; });
  DogStatsdExporterOptions options = DogStatsdExporterOptions::Read(reader, "svc");
  EXPECT_FALSE(options.sink.enabled);
  absl::Status s = reader.Finish();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("DOGSTATSD_FLUSH_SECONDS"), std::string::npos) << s;
  EXPECT_EQ(MaybeStartDogStatsd(options, std::make_shared<prometheus::Registry>()), nullptr);
}

}  // namespace
}  // namespace apmcov::telemetry
