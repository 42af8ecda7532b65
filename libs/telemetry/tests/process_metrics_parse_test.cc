#include "apmcov/telemetry/process_metrics.h"
#include "gtest/gtest.h"

namespace apmcov::telemetry {
namespace {

TEST(ProcessMetricsParseTest, StatmResidentPages) {
  absl::StatusOr<uint64_t> bytes = ParseStatmResidentBytes("10240 2500 300 20 0 900 0\n", 4096);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, 2500u * 4096u);
}

TEST(ProcessMetricsParseTest, StatmRejectsGarbage) {
  EXPECT_FALSE(ParseStatmResidentBytes("", 4096).ok());
  EXPECT_FALSE(ParseStatmResidentBytes("10240\n", 4096).ok());
  EXPECT_FALSE(ParseStatmResidentBytes("10240 abc 1\n", 4096).ok());
}

TEST(ProcessMetricsParseTest, StartTimeFromStatAndBtime) {
  // The command name holds a space and a ')' to check fields are counted from the last ')'.
  const std::string pid_stat =
      "4242 (my) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 12345 "
      "1000000 250 18446744073709551615\n";
  const std::string proc_stat = "cpu  1 2 3 4\nintr 1 2\nctxt 99\nbtime 1700000000\nprocesses 10\n";
  absl::StatusOr<double> start = ParseProcessStartTime(pid_stat, proc_stat, 100);
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_DOUBLE_EQ(*start, 1700000000.0 + 123.45);
}

TEST(ProcessMetricsParseTest, StartTimeRejectsMissingParts) {
  EXPECT_FALSE(ParseProcessStartTime("4242 prog S 1", "btime 1\n", 100).ok());
  EXPECT_FALSE(ParseProcessStartTime("4242 (p) S 1 2 3\n", "btime 1\n", 100).ok());
  const std::string pid_stat = "1 (p) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 1 1 1\n";
  EXPECT_FALSE(ParseProcessStartTime(pid_stat, "cpu 1 2\n", 100).ok());
  EXPECT_FALSE(ParseProcessStartTime(pid_stat, "btime 10\n", 0).ok());
  absl::StatusOr<double> ok = ParseProcessStartTime(pid_stat, "btime 10\n", 100);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_DOUBLE_EQ(*ok, 15.0);
}

}  // namespace
}  // namespace apmcov::telemetry
