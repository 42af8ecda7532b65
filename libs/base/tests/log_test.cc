#include "apmcov/base/log.h"

#include <gtest/gtest.h>

#include <thread>

namespace apmcov {
namespace {

constexpr int64_t kTs = 1'700'000'000'123'000'000;

TEST(LogFormatTest, JsonLineHasIdentityAndFields) {
  LogOptions o;
  o.identity = {"apmcov-collector", "prod", "1.2.3"};
  std::string line = FormatLogLine(o, kTs, LogLevel::kWarn, "collector.sync", "rate \"limited\"",
                                   {{"bucket", "spans_list"}, {"wait_ms", 1500}, {"retry", true}});
  EXPECT_EQ(line,
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"warn\",\"logger\":\"collector.sync\","
            "\"msg\":\"rate \\\"limited\\\"\",\"service\":\"apmcov-collector\",\"env\":\"prod\","
            "\"version\":\"1.2.3\",\"bucket\":\"spans_list\",\"wait_ms\":1500,\"retry\":true}");
}

TEST(LogFormatTest, ControlCharactersAreEscaped) {
  std::string out;
  AppendJsonEscaped(out, std::string("a\nb\x01", 4));
  EXPECT_EQ(out, "a\\nb\\u0001");
}

TEST(LogFormatTest, TextLine) {
  LogOptions o;
  o.format = LogFormat::kText;
  std::string line = FormatLogLine(o, kTs, LogLevel::kInfo, "gw", "started", {{"port", 8080}});
  EXPECT_EQ(line, "2023-11-14T22:13:20.123Z INFO [gw] started port=8080");
}

TEST(LogFormatTest, SpanIdsGoInJsonAndTextLines) {
  LogOptions o;
  o.identity = {"apmcov-gateway", "", ""};
  const LogSpanIds ids{12345678901234567890ULL, 42};
  EXPECT_EQ(
      FormatLogLine(o, kTs, LogLevel::kInfo, "gw", "hi", {{"k", 1}}, &ids),
      "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"logger\":\"gw\","
      "\"msg\":\"hi\",\"service\":\"apmcov-gateway\",\"dd.trace_id\":\"12345678901234567890\","
      "\"dd.span_id\":\"42\",\"k\":1}");
  o.format = LogFormat::kText;
  EXPECT_EQ(FormatLogLine(o, kTs, LogLevel::kInfo, "gw", "hi", {}, &ids),
            "2023-11-14T22:13:20.123Z INFO [gw] hi dd.trace_id=12345678901234567890 dd.span_id=42");
}

TEST(LogFormatTest, NoSpanNoIds) {
  LogOptions o;
  const LogSpanIds none{};
  EXPECT_EQ(FormatLogLine(o, kTs, LogLevel::kInfo, "gw", "hi", {}, &none).find("dd."),
            std::string::npos);
}

TEST(LogSpanTest, ThreadLocalNestsAndStaysOnItsThread) {
  EXPECT_EQ(ThreadLogSpan(), nullptr);
  const LogSpanIds outer{1, 2}, inner{1, 3};
  const LogSpanIds* prev = SetThreadLogSpan(&outer);
  EXPECT_EQ(prev, nullptr);
  const LogSpanIds* prev2 = SetThreadLogSpan(&inner);
  EXPECT_EQ(prev2, &outer);
  EXPECT_EQ(ThreadLogSpan(), &inner);
  std::thread([] { EXPECT_EQ(ThreadLogSpan(), nullptr); }).join();
  SetThreadLogSpan(prev2);
  EXPECT_EQ(ThreadLogSpan(), &outer);
  SetThreadLogSpan(prev);
  EXPECT_EQ(ThreadLogSpan(), nullptr);
}

TEST(LogLevelTest, Parse) {
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("WARNING", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
}

TEST(LoggerTest, LevelIsCheckedBeforeFormatting) {
  LogOptions o;
  o.level = LogLevel::kError;
  ConfigureLogging(o);
  Logger log("t");
  EXPECT_FALSE(log.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.Enabled(LogLevel::kError));
  ConfigureLogging(LogOptions{});
}

}  // namespace
}  // namespace apmcov
