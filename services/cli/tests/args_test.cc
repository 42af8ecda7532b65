#include "args.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace apmcov::cli {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kNow = int64_t{1'800'000'000} * kSec;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args,
                                 std::map<std::string, std::string> env = {}) {
  return ParseArgs(
      args,
      [&](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      },
      kNow);
}

TEST(ArgsTest, CheckWithEveryCondition) {
  auto inv = Parse({"check", "--team", "payments", "--env=prod", "--min-coverage", "80",
                    "--max-broken-rate=2.5%", "--no-regression-since", "7d", "--format", "markdown",
                    "--gateway", "gw:9090"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "check");
  EXPECT_EQ(inv->check.team, "payments");
  EXPECT_EQ(inv->check.env, "prod");
  EXPECT_DOUBLE_EQ(*inv->check.min_coverage_pct, 80);
  EXPECT_DOUBLE_EQ(*inv->check.max_broken_rate_pct, 2.5);
  EXPECT_EQ(*inv->check.no_regression_since_ns, kNow - 7 * 86400 * kSec);
  EXPECT_EQ(inv->format, Format::kMarkdown);
  EXPECT_EQ(inv->gateway, "gw:9090");
}

TEST(ArgsTest, GatewayAndTokenFromTheEnvironment) {
  auto inv = Parse({"sync", "--wait"},
                   {{"APMCOV_GATEWAY", "gateway.apm:9090"}, {"GATEWAY_API_TOKEN", "s3cret"}});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->gateway, "gateway.apm:9090");
  EXPECT_EQ(inv->token, "s3cret");
  EXPECT_TRUE(inv->wait);
  inv = Parse({"report"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->gateway, "127.0.0.1:9090");
  // The flag wins over the environment.
  inv = Parse({"--gateway", "a:1", "report"}, {{"APMCOV_GATEWAY", "b:2"}});
  EXPECT_EQ(inv->gateway, "a:1");
}

TEST(ArgsTest, ServicesApmFilter) {
  auto inv = Parse({"services", "--apm=false", "--team", "ads"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->apm, "false");
  EXPECT_EQ(inv->check.team, "ads");
}

TEST(ArgsTest, BadCommandLinesNameTheProblem) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "no command given"},
      {{"deploy"}, "unknown command 'deploy'"},
      {{"check"}, "check needs at least one of"},
      {{"check", "--min-coverage", "101"}, "--min-coverage: must be a percentage from 0 to 100"},
      {{"check", "--min-coverage", "lots"}, "--min-coverage: must be a percentage"},
      {{"check", "--min-coverage"}, "--min-coverage: needs a value"},
      {{"check", "--max-broken-rate", "-1"}, "--max-broken-rate"},
      {{"check", "--no-regression-since", "7y"}, "unknown unit 'y'"},
      {{"check", "--no-regression-since", "0d"}, "longer than zero"},
      {{"check", "--no-regression-since", "2999-01-01"}, "future"},
      {{"check", "--min-coverage", "5", "--bogus"}, "unknown flag '--bogus'"},
      {{"report", "--min-coverage", "5"}, "belong to check"},
      {{"report", "--apm=false"}, "--apm belongs to services"},
      {{"services", "--apm=maybe"}, "--apm=true or --apm=false"},
      {{"check", "--min-coverage", "5", "--wait"}, "belong to sync"},
      {{"sync", "--team", "a"}, "do not apply"},
      {{"sync", "--token", "x"}, "set GATEWAY_API_TOKEN"},
      {{"report", "--format", "xml"}, "--format: must be text, json or markdown"},
      {{"report", "--gateway", "nohostport"}, "--gateway: must be host:port"},
      {{"report", "--timeout", "0"}, "--timeout"},
      {{"report", "extra", "words"}, "unexpected argument 'extra'"},
  };
  for (const auto& [args, says] : cases) {
    auto inv = Parse(args);
    ASSERT_FALSE(inv.ok()) << says;
    EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(inv.status().message()), HasSubstr(says));
  }
  auto twice = Parse({"report", "services"});
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("unexpected argument 'services'"));
}

TEST(ArgsTest, HelpWins) {
  auto inv = Parse({"check", "--help"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, "help");
  EXPECT_THAT(Usage(), HasSubstr("--no-regression-since"));
}

TEST(ArgsTest, SinceAcceptsDurationsDatesAndTimes) {
  EXPECT_EQ(*ParseSince("36h", kNow), kNow - 36 * 3600 * kSec);
  EXPECT_EQ(*ParseSince("1w2d", kNow), kNow - 9 * 86400 * kSec);
  EXPECT_EQ(*ParseSince("90m", kNow), kNow - 90 * 60 * kSec);
  EXPECT_EQ(*ParseSince("45s", kNow), kNow - 45 * kSec);
  EXPECT_EQ(*ParseSince("2027-01-01", kNow), int64_t{1'798'761'600} * kSec);
  EXPECT_EQ(*ParseSince("2027-01-01T12:00:00Z", kNow), int64_t{1'798'804'800} * kSec);
  for (const char* bad : {"", "d", "7", "7d3", "h7", "2027-13-45", "yesterday"}) {
    EXPECT_FALSE(ParseSince(bad, kNow).ok()) << bad;
  }
}

}  // namespace
}  // namespace apmcov::cli
