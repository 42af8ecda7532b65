#include "apmcov/datadog/key_guard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace apmcov::datadog {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRealApi[] = "0123456789abcdef0123456789ABCDEF";
constexpr char kRealApp[] = "0123456789abcdef0123456789abcdef01234567";

TEST(KeyGuardTest, RecognisesKeysShapedLikeDatadogs) {
  EXPECT_TRUE(LooksLikeRealApiKey(kRealApi));
  EXPECT_FALSE(LooksLikeRealApiKey("ddsim-demo-api-key"));
  EXPECT_FALSE(LooksLikeRealApiKey("0123456789abcdef0123456789abcdeg"));
  EXPECT_FALSE(LooksLikeRealApiKey(kRealApp));
  EXPECT_TRUE(LooksLikeRealAppKey(kRealApp));
  EXPECT_FALSE(LooksLikeRealAppKey(kRealApi));
}

TEST(KeyGuardTest, LoopbackHosts) {
  EXPECT_TRUE(IsLoopbackUrl("http://127.0.0.1:8081"));
  EXPECT_TRUE(IsLoopbackUrl("http://127.1.2.3/x"));
  EXPECT_TRUE(IsLoopbackUrl("http://localhost:9000"));
  EXPECT_TRUE(IsLoopbackUrl("http://[::1]:9000/api"));
  EXPECT_TRUE(IsLoopbackUrl("http://user:pw@127.0.0.1"));
  EXPECT_FALSE(IsLoopbackUrl("http://ddsim:8081"));
  EXPECT_FALSE(IsLoopbackUrl("http://127.0.0.1.evil.example"));
  EXPECT_FALSE(IsLoopbackUrl("http://localhost@evil.example"));
  EXPECT_FALSE(IsLoopbackUrl("http://10.0.0.1"));
}

TEST(KeyGuardTest, RealKeysOverPlainHttpToAnotherHostAreRefused) {
  absl::Status s = CheckKeyTransport(kRealApi, "made-up", "http://ddsim:8081", false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("DD_API_KEY looks like a real Datadog API key"));
  EXPECT_THAT(s.message(), HasSubstr("DD_API_ALLOW_INSECURE=true"));
  EXPECT_THAT(s.message(), Not(HasSubstr(kRealApi)));

  s = CheckKeyTransport("made-up", kRealApp, "HTTP://user:secret@proxy.internal:80", false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("DD_APP_KEY"));
  EXPECT_THAT(s.message(), Not(HasSubstr("secret")));
  EXPECT_THAT(s.message(), Not(HasSubstr(kRealApp)));
}

TEST(KeyGuardTest, WhatIsAllowed) {
  EXPECT_TRUE(CheckKeyTransport(kRealApi, kRealApp, "https://api.datadoghq.eu", false).ok());
  EXPECT_TRUE(CheckKeyTransport(kRealApi, kRealApp, "http://127.0.0.1:8090", false).ok());
  EXPECT_TRUE(
      CheckKeyTransport("ddsim-demo-api-key", "ddsim-demo-app-key", "http://ddsim:8081", false)
          .ok());
  EXPECT_TRUE(CheckKeyTransport(kRealApi, kRealApp, "http://ddsim:8081", true).ok())
      << "DD_API_ALLOW_INSECURE=true";
}

}  // namespace
}  // namespace apmcov::datadog
