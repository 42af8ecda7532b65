#include "apmcov/base/status.h"

#include <gtest/gtest.h>

namespace apmcov {
namespace {

absl::StatusOr<int> Half(int v) {
  if (v % 2) return absl::InvalidArgumentError("odd");
  return v / 2;
}

absl::StatusOr<int> Quarter(int v) {
  APMCOV_ASSIGN_OR_RETURN(int h, Half(v));
  APMCOV_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StatusTest, AnnotateKeepsCode) {
  absl::Status s = Annotate(absl::UnavailableError("refused"), "connecting to kafka");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "connecting to kafka: refused");
  EXPECT_EQ(StatusCodeName(s.code()), "unavailable");
}

}  // namespace
}  // namespace apmcov
