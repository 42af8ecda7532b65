// What a Datadog API client span records of the URL: no user-info, no query.
#include <gtest/gtest.h>

#include "apmcov/datadog/http_client.h"

namespace apmcov::datadog {
namespace {

TEST(SpanUrlTest, DropsUserInfoAndQuery) {
  EXPECT_EQ(UrlForSpan("https://api.datadoghq.eu", "/api/v2/spans/events"),
            "https://api.datadoghq.eu/api/v2/spans/events");
  EXPECT_EQ(UrlForSpan("http://user:secret@127.0.0.1:8081", "/api/v2/spans/events?page=x"),
            "http://127.0.0.1:8081/api/v2/spans/events");
  EXPECT_EQ(UrlForSpan("https://proxy.corp/dd?api_key=abc", "/api/v1/services"),
            "https://proxy.corp/dd/api/v1/services");
  EXPECT_EQ(UrlForSpan("https://a@b@proxy.corp/base", "/x#frag"), "https://proxy.corp/base/x");
}

TEST(SpanUrlTest, HostOfBaseUrl) {
  EXPECT_EQ(HostOf("https://api.datadoghq.com"), "api.datadoghq.com");
  EXPECT_EQ(HostOf("http://u:p@127.0.0.1:8081/base"), "127.0.0.1");
  EXPECT_EQ(HostOf("http://[::1]:8081"), "[::1]");
  EXPECT_EQ(HostOf(""), "");
}

}  // namespace
}  // namespace apmcov::datadog
