#include "apmcov/base/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace apmcov {
namespace {

using ::testing::HasSubstr;

ConfigReader::EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ConfigReaderTest, ReadsEnvAndFlagsWithFlagsWinning) {
  const char* argv[] = {"prog", "--http-port=9000", "--kafka_brokers", "a:1,b:2", "migrate"};
  ConfigReader r(5, argv, FakeEnv({{"HTTP_PORT", "8000"}, {"DD_SITE", "datadoghq.eu"}}));
  EXPECT_EQ(r.Int("HTTP_PORT", 8080, 0, 65535), 9000);
  EXPECT_EQ(r.List("KAFKA_BROKERS", ""), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(r.String("DD_SITE", "datadoghq.com"), "datadoghq.eu");
  EXPECT_EQ(r.String("DD_ENV", "none"), "none");
  EXPECT_EQ(r.positional(), std::vector<std::string>{"migrate"});
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ConfigReaderTest, BadValuesAreReportedByVariableName) {
  ConfigReader r(1, nullptr,
                 FakeEnv({{"HTTP_PORT", "eighty"},
                          {"SPAN_PAGE_BUDGET", "0"},
                          {"LOG_FORMAT", "xml"},
                          {"DEBUG", "maybe"}}));
  r.Int("HTTP_PORT", 8080, 0, 65535);
  r.Int("SPAN_PAGE_BUDGET", 60, 1, 10000);
  r.Enum("LOG_FORMAT", "json", {"json", "text"});
  r.Bool("DEBUG", false);
  absl::Status s = r.Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("HTTP_PORT: \"eighty\" is not an integer"));
  EXPECT_THAT(s.message(), HasSubstr("SPAN_PAGE_BUDGET: 0 is out of range [1, 10000]"));
  EXPECT_THAT(s.message(), HasSubstr("LOG_FORMAT"));
  EXPECT_THAT(s.message(), HasSubstr("DEBUG"));
}

TEST(ConfigReaderTest, UnknownFlagIsAnError) {
  const char* argv[] = {"prog", "--htpp-port=1"};
  ConfigReader r(2, argv, FakeEnv({}));
  r.Int("HTTP_PORT", 8080, 0, 65535);
  EXPECT_THAT(r.Finish().message(), HasSubstr("--htpp-port: unknown flag"));
}

TEST(ConfigReaderTest, SecretsAreRedactedInEffectiveConfig) {
  ConfigReader r(1, nullptr, FakeEnv({{"DD_API_KEY", "abcdef0123456789"}}));
  EXPECT_EQ(r.String("DD_API_KEY", "", Secret::kYes), "abcdef0123456789");
  r.String("DD_APP_KEY", "", Secret::kYes);
  EXPECT_EQ(r.Redacted().at("DD_API_KEY"), "<redacted>");
  EXPECT_EQ(r.Redacted().at("DD_APP_KEY"), "");
  for (const auto& [k, v] : r.Redacted()) EXPECT_THAT(v, ::testing::Not(HasSubstr("abcdef")));
}

TEST(ConfigReaderTest, BareFlagIsTrue) {
  const char* argv[] = {"prog", "--once"};
  ConfigReader r(2, argv, FakeEnv({}));
  EXPECT_TRUE(r.Bool("ONCE", false));
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ConfigReaderTest, HelpListsEveryVariableReadWithDefaultAndConstraint) {
  const char* argv[] = {"prog", "--help"};
  ConfigReader r(2, argv, FakeEnv({{"DD_API_KEY", "abcdef123"}}));
  EXPECT_TRUE(r.HelpRequested());
  r.Int("HTTP_PORT", 8080, 0, 65535);
  r.String("DD_API_KEY", "", Secret::kYes);
  r.Enum("LOG_FORMAT", "json", {"json", "text"});
  r.Bool("ONCE", false);
  r.Int("HTTP_PORT", 8080, 0, 65535);  // read twice, listed once
  const std::string usage = r.Usage("apmcov-x", "Does x.");
  EXPECT_THAT(usage, HasSubstr("Usage: apmcov-x"));
  EXPECT_THAT(usage, HasSubstr("Does x."));
  EXPECT_THAT(usage,
              HasSubstr("--http-port  (HTTP_PORT)\n      integer in [0, 65535]; default 8080"));
  EXPECT_THAT(usage, HasSubstr("--dd-api-key  (DD_API_KEY)\n      secret, from the environment or "
                               "DD_API_KEY_FILE only (never a flag, never logged); no default"));
  EXPECT_THAT(usage, HasSubstr("one of json, text; default json"));
  EXPECT_THAT(usage, HasSubstr("boolean; default false"));
  EXPECT_THAT(usage, ::testing::Not(HasSubstr("abcdef123")));  // values are never shown
  EXPECT_EQ(usage.find("HTTP_PORT"), usage.rfind("HTTP_PORT"));
  EXPECT_TRUE(r.Finish().ok()) << "--help is not an unknown flag";

  const char* short_argv[] = {"prog", "-h"};
  EXPECT_TRUE(ConfigReader(2, short_argv, FakeEnv({})).HelpRequested());
  const char* none[] = {"prog"};
  EXPECT_FALSE(ConfigReader(1, none, FakeEnv({})).HelpRequested());
}

TEST(ConfigReaderTest, ASecretGivenAsAFlagIsRefusedNamingTheVariable) {
  const char* argv[] = {"prog", "--dd-api-key=0123456789abcdef0123456789abcdef",
                        "--gateway-api-token", "tok-123"};
  ConfigReader r(4, argv, FakeEnv({}));
  EXPECT_EQ(r.String("DD_API_KEY", "", Secret::kYes), "") << "the flag's value is not used";
  EXPECT_EQ(r.String("GATEWAY_API_TOKEN", "", Secret::kYes), "");
  absl::Status s = r.Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(),
              HasSubstr("DD_API_KEY: is a secret and cannot be given as --dd-api-key"));
  EXPECT_THAT(s.message(), HasSubstr("environment variable DD_API_KEY, or DD_API_KEY_FILE"));
  EXPECT_THAT(s.message(), HasSubstr("GATEWAY_API_TOKEN: is a secret"));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("unknown flag")));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("0123456789abcdef")));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("tok-123")));
}

TEST(ConfigReaderTest, ASimulatedSecretMayBeAFlagButIsNotLogged) {
  const char* argv[] = {"prog", "--api-key=dev-api"};
  ConfigReader r(2, argv, FakeEnv({}));
  EXPECT_EQ(r.String("API_KEY", "", Secret::kSimulated), "dev-api");
  EXPECT_TRUE(r.Finish().ok());
  EXPECT_EQ(r.Redacted().at("API_KEY"), "<redacted>");
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("apmcov-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& content) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(SecretFileTest, ASecretIsReadFromTheFileNamedByItsFileVariable) {
  const std::string api = Write("api", "0123456789abcdef0123456789abcdef\n");
  const std::string app = Write("app", "app-key\r\n");
  const std::string token = Write("token", "tok\n\n");  // only one newline is trimmed
  ConfigReader r(
      1, nullptr,
      FakeEnv(
          {{"DD_API_KEY_FILE", api}, {"DD_APP_KEY_FILE", app}, {"GATEWAY_API_TOKEN_FILE", token}}));
  EXPECT_EQ(r.String("DD_API_KEY", "", Secret::kYes), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.String("DD_APP_KEY", "", Secret::kYes), "app-key");
  EXPECT_EQ(r.String("GATEWAY_API_TOKEN", "", Secret::kYes), "tok\n");
  EXPECT_TRUE(r.IsSet("DD_API_KEY"));
  EXPECT_TRUE(r.Finish().ok()) << r.Finish();
  EXPECT_EQ(r.Redacted().at("DD_API_KEY"), "<redacted>");
}

TEST_F(SecretFileTest, AnUnreadableFileOrBothSourcesAreErrorsNamingTheVariable) {
  const std::string missing = (dir_ / "missing").string();
  const std::string api = Write("api", "from-file");
  ConfigReader r(
      1, nullptr,
      FakeEnv(
          {{"DD_API_KEY_FILE", missing}, {"DD_APP_KEY", "from-env"}, {"DD_APP_KEY_FILE", api}}));
  EXPECT_EQ(r.String("DD_API_KEY", "", Secret::kYes), "");
  EXPECT_EQ(r.String("DD_APP_KEY", "", Secret::kYes), "from-env");
  absl::Status s = r.Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("DD_API_KEY_FILE: cannot read \"" + missing + "\""));
  EXPECT_THAT(s.message(),
              HasSubstr("DD_APP_KEY: is set both directly and through DD_APP_KEY_FILE"));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("from-file")));  // neither secret's value
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("from-env")));
}

TEST(ConfigReaderTest, UrlUserInfoIsMaskedInTheEffectiveConfig) {
  ConfigReader r(1, nullptr,
                 FakeEnv({{"DD_API_BASE_URL", "https://user:pa55@api.example.com:8443/x?y=1"}}));
  EXPECT_EQ(r.String("DD_API_BASE_URL", ""), "https://user:pa55@api.example.com:8443/x?y=1");
  EXPECT_EQ(r.Redacted().at("DD_API_BASE_URL"), "https://***@api.example.com:8443/x?y=1");
}

TEST(RedactUrlUserInfoTest, MasksOnlyTheUserInfo) {
  EXPECT_EQ(RedactUrlUserInfo("https://user:pass@host"), "https://***@host");
  EXPECT_EQ(RedactUrlUserInfo("http://token@host/a@b"), "http://***@host/a@b");
  EXPECT_EQ(RedactUrlUserInfo("https://api.datadoghq.com"), "https://api.datadoghq.com");
  EXPECT_EQ(RedactUrlUserInfo("http://host/path?q=a@b"), "http://host/path?q=a@b");
  EXPECT_EQ(RedactUrlUserInfo("postgresql://u:p@db:5432/x"), "postgresql://***@db:5432/x");
  EXPECT_EQ(RedactUrlUserInfo("user@example.com"), "user@example.com");
  EXPECT_EQ(RedactUrlUserInfo(""), "");
}

}  // namespace
}  // namespace apmcov
