// TracingConfig from the environment: off by default, where the Agent is, the sample rate,
// and bad values named by their variable.
#include "apmcov/tracing/config.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>

#include "apmcov/base/config.h"

namespace apmcov::tracing {
namespace {

ConfigReader::EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TracingConfig Read(std::map<std::string, std::string> vars, absl::Status* status = nullptr) {
  const char* argv[] = {"test"};
  ConfigReader reader(1, argv, Env(std::move(vars)));
  TracingConfig c = TracingConfig::Read(reader, "apmcov-analyzer");
  absl::Status s = reader.Finish();
  if (status != nullptr) *status = s;
  return c;
}

TEST(TracingConfigTest, OffByDefaultWithTheAgentOnLocalhost) {
  absl::Status s;
  const TracingConfig c = Read({}, &s);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(c.enabled);
  EXPECT_EQ(c.agent_url, "http://localhost:8126");
  EXPECT_EQ(c.service, "apmcov-analyzer");
  EXPECT_FALSE(c.sample_rate_set);
  EXPECT_EQ(c.ToTracerOptions().sampler.Decide({0, 1}).priority, kAutoKeep);
}

TEST(TracingConfigTest, TheAgentUrlWinsOverHostAndPort) {
  EXPECT_EQ(Read({{"DD_AGENT_HOST", "datadog-agent"}, {"DD_TRACE_AGENT_PORT", "9126"}}).agent_url,
            "http://datadog-agent:9126");
  EXPECT_EQ(Read({{"DD_AGENT_HOST", "::1"}}).agent_url, "http://[::1]:8126");
  EXPECT_EQ(Read({{"DD_AGENT_HOST", "a"}, {"DD_TRACE_AGENT_URL", "http://b:1"}}).agent_url,
            "http://b:1");
}

TEST(TracingConfigTest, ServiceTagsAndSampleRate) {
  const TracingConfig c = Read({{"DD_TRACE_ENABLED", "true"},
                                {"DD_SERVICE", "custom"},
                                {"DD_ENV", "prod"},
                                {"DD_VERSION", "2.0"},
                                {"DD_TRACE_SAMPLE_RATE", "0.25"}});
  EXPECT_TRUE(c.enabled);
  const TracerOptions o = c.ToTracerOptions();
  EXPECT_EQ(o.service, "custom");
  EXPECT_EQ(o.env, "prod");
  EXPECT_EQ(o.version, "2.0");
  EXPECT_TRUE(o.sampler.rule());
  EXPECT_EQ(o.sampler.rate(), 0.25);
  EXPECT_EQ(o.partial_flush_min_spans, 500u);  // the default
  EXPECT_EQ(
      Read({{"DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "0"}}).ToTracerOptions().partial_flush_min_spans,
      0u);
}

TEST(TracingConfigTest, BadValuesNameTheirVariable) {
  absl::Status s;
  Read({{"DD_TRACE_ENABLED", "true"}, {"DD_TRACE_AGENT_URL", "agent:8126"}}, &s);
  EXPECT_NE(s.message().find("DD_TRACE_AGENT_URL"), absl::string_view::npos) << s;
  Read({{"DD_TRACE_SAMPLE_RATE", "1.5"}}, &s);
  EXPECT_NE(s.message().find("DD_TRACE_SAMPLE_RATE"), absl::string_view::npos) << s;
  // Above half the exporter's queue a trace's partial chunks could not be queued together.
  Read({{"DD_TRACE_PARTIAL_FLUSH_MIN_SPANS", "6000"}}, &s);
  EXPECT_NE(s.message().find("DD_TRACE_PARTIAL_FLUSH_MIN_SPANS"), absl::string_view::npos) << s;
  Read({{"DD_TRACE_ENABLED", "maybe"}}, &s);
  EXPECT_NE(s.message().find("DD_TRACE_ENABLED"), absl::string_view::npos) << s;
  // A bad URL does not matter while tracing is off.
  Read({{"DD_TRACE_AGENT_URL", "agent:8126"}}, &s);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(TracingConfigTest, SetupIsANoOpTracerWhenOff) {
  prometheus::Registry registry;
  RealClock clock;
  TracingSetup setup(Read({}), registry, clock);
  EXPECT_FALSE(setup.tracer().enabled());
  EXPECT_EQ(setup.exporter(), nullptr);
  EXPECT_TRUE(setup.Shutdown(std::chrono::milliseconds(10)).ok());
}

}  // namespace
}  // namespace apmcov::tracing
