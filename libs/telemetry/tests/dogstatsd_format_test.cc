#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "apmcov/base/config.h"
#include "apmcov/telemetry/dogstatsd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::telemetry {
namespace {

using ::testing::HasSubstr;

std::string Line(std::string_view name, double value, DogStatsdType type,
                 const DogStatsdTags& tags = {}, std::string_view constant = {}) {
  absl::StatusOr<std::string> line = FormatDogStatsdLine(name, value, type, tags, constant);
  EXPECT_TRUE(line.ok()) << line.status();
  return line.ok() ? *line : "";
}

TEST(DogStatsdLineTest, CountWithTags) {
  EXPECT_EQ(Line("apmcov.collector.api_calls", 1, DogStatsdType::kCount,
                 {{"endpoint", "spans"}, {"status", "200"}}),
            "apmcov.collector.api_calls:1|c|#endpoint:spans,status:200");
}

TEST(DogStatsdLineTest, GaugeAndDistributionTypeCodes) {
  EXPECT_EQ(Line("lag", 42, DogStatsdType::kGauge), "lag:42|g");
  EXPECT_EQ(Line("latency", 0.25, DogStatsdType::kDistribution, {{"route", "/api/stats"}}),
            "latency:0.25|d|#route:/api/stats");
}

TEST(DogStatsdLineTest, ValuesUseShortestExactForm) {
  EXPECT_EQ(Line("g", -3.5, DogStatsdType::kGauge), "g:-3.5|g");
  EXPECT_EQ(Line("g", 0.1, DogStatsdType::kGauge), "g:0.1|g");
  EXPECT_EQ(Line("g", 1234567, DogStatsdType::kGauge), "g:1234567|g");
  EXPECT_EQ(Line("g", 0, DogStatsdType::kGauge), "g:0|g");
}

TEST(DogStatsdLineTest, ConstantTagsFollowCallTags) {
  EXPECT_EQ(Line("c", 2, DogStatsdType::kCount, {{"k", "v"}}, "service:apmcov-gateway,env:prod"),
            "c:2|c|#k:v,service:apmcov-gateway,env:prod");
  EXPECT_EQ(Line("c", 2, DogStatsdType::kCount, {}, "env:prod"), "c:2|c|#env:prod");
}

TEST(DogStatsdLineTest, SanitisesCharactersThatBreakTheFormat) {
  EXPECT_EQ(Line("bad name|x:y", 1, DogStatsdType::kCount), "bad_name_x_y:1|c");
  EXPECT_EQ(Line("m", 1, DogStatsdType::kCount, {{"a:b", "x|y,z#w\nq"}}), "m:1|c|#a_b:x_y_z_w_q");
  // A colon in a tag value is legal (k:v splits on the first colon).
  EXPECT_EQ(Line("m", 1, DogStatsdType::kCount, {{"url", "http://x:80"}}),
            "m:1|c|#url:http://x:80");
}

TEST(DogStatsdLineTest, TagWithoutValueAndEmptyKeySkipped) {
  EXPECT_EQ(Line("m", 1, DogStatsdType::kCount, {{"canary", ""}, {"", "dropped"}}),
            "m:1|c|#canary");
}

TEST(DogStatsdLineTest, RejectsEmptyNameAndNonFiniteValues) {
  EXPECT_EQ(FormatDogStatsdLine("", 1, DogStatsdType::kCount, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatDogStatsdLine("m", std::nan(""), DogStatsdType::kGauge, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      FormatDogStatsdLine("m", std::numeric_limits<double>::infinity(), DogStatsdType::kGauge, {})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(DogStatsdUrlTest, ParsesHostAndPort) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(ParseDogStatsdUrl("udp://agent.local:8125", &host, &port).ok());
  EXPECT_EQ(host, "agent.local");
  EXPECT_EQ(port, 8125);
  ASSERT_TRUE(ParseDogStatsdUrl("udp://[::1]:9125", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 9125);
}

TEST(DogStatsdUrlTest, RejectsBadUrls) {
  std::string host;
  uint16_t port = 0;
  for (const char* bad :
       {"unix:///var/run/datadog/dsd.socket", "udp://agent", "udp://:8125", "udp://agent:0",
        "udp://agent:70000", "udp://agent:12x", "udp://::1:8125", "udp://[::1", "agent:8125"}) {
    absl::Status s = ParseDogStatsdUrl(bad, &host, &port);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

ConfigReader ReaderWith(std::map<std::string, std::string> env) {
  const char* argv[] = {"test"};
  return ConfigReader(1, argv, [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

TEST(DogStatsdConfigTest, OffByDefault) {
  ConfigReader reader = ReaderWith({});
  DogStatsdConfig cfg = DogStatsdConfig::Read(reader);
  EXPECT_TRUE(reader.Finish().ok());
  EXPECT_FALSE(cfg.enabled);
  EXPECT_TRUE(cfg.Validate().ok());
}

TEST(DogStatsdConfigTest, AgentHostWithDefaultAndExplicitPort) {
  {
    ConfigReader reader = ReaderWith({{"DD_AGENT_HOST", "datadog-agent"}});
    DogStatsdConfig cfg = DogStatsdConfig::Read(reader);
    ASSERT_TRUE(reader.Finish().ok());
    EXPECT_TRUE(cfg.enabled);
    EXPECT_EQ(cfg.host, "datadog-agent");
    EXPECT_EQ(cfg.port, 8125);
  }
  {
    ConfigReader reader =
        ReaderWith({{"DD_AGENT_HOST", "datadog-agent"}, {"DD_DOGSTATSD_PORT", "18125"}});
    DogStatsdConfig cfg = DogStatsdConfig::Read(reader);
    ASSERT_TRUE(reader.Finish().ok());
    EXPECT_EQ(cfg.port, 18125);
  }
}

TEST(DogStatsdConfigTest, UrlWinsOverAgentHost) {
  ConfigReader reader =
      ReaderWith({{"DD_AGENT_HOST", "ignored"}, {"DD_DOGSTATSD_URL", "udp://10.0.0.7:9999"}});
  DogStatsdConfig cfg = DogStatsdConfig::Read(reader);
  ASSERT_TRUE(reader.Finish().ok());
  EXPECT_TRUE(cfg.enabled);
  EXPECT_EQ(cfg.host, "10.0.0.7");
  EXPECT_EQ(cfg.port, 9999);
}

TEST(DogStatsdConfigTest, BadValuesAreReportedByName) {
  {
    ConfigReader reader = ReaderWith({{"DD_DOGSTATSD_URL", "tcp://agent:8125"}});
    DogStatsdConfig cfg = DogStatsdConfig::Read(reader);
    absl::Status s = reader.Finish();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("DD_DOGSTATSD_URL"));
    EXPECT_FALSE(cfg.enabled);
  }
  {
    ConfigReader reader = ReaderWith({{"DD_AGENT_HOST", "a"}, {"DD_DOGSTATSD_PORT", "0"}});
    DogStatsdConfig::Read(reader);
    absl::Status s = reader.Finish();
    EXPECT_THAT(std::string(s.message()), HasSubstr("DD_DOGSTATSD_PORT"));
  }
}

TEST(DogStatsdConfigTest, ValidateRejectsEnabledWithoutHostOrPort) {
  DogStatsdConfig cfg;
  cfg.enabled = true;
  EXPECT_THAT(std::string(cfg.Validate().message()), HasSubstr("DD_AGENT_HOST"));
  cfg.host = "agent";
  cfg.port = 0;
  EXPECT_THAT(std::string(cfg.Validate().message()), HasSubstr("DD_DOGSTATSD_PORT"));
  cfg.port = 8125;
  EXPECT_TRUE(cfg.Validate().ok());
  cfg.constant_tags = {{"", "x"}};
  EXPECT_EQ(cfg.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DogStatsdSinkTest, DisabledSinkDropsEverythingQuietly) {
  absl::StatusOr<std::unique_ptr<DogStatsdSink>> sink = DogStatsdSink::Create(DogStatsdConfig{});
  ASSERT_TRUE(sink.ok());
  EXPECT_FALSE((*sink)->enabled());
  (*sink)->Count("m", 1);
  EXPECT_EQ((*sink)->sent(), 0u);
  EXPECT_EQ((*sink)->send_errors(), 0u);
}

TEST(DogStatsdSinkTest, CreateRejectsInvalidConfig) {
  DogStatsdConfig cfg;
  cfg.enabled = true;
  EXPECT_EQ(DogStatsdSink::Create(cfg).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace apmcov::telemetry
