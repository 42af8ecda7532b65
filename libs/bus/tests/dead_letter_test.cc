#include "apmcov/bus/dead_letter.h"

#include <gtest/gtest.h>

namespace apmcov::bus {
namespace {

TEST(MakeDeadLetterTest, KeepsTheMessageAsReceivedWithWhyWhoAndWhen) {
  IncomingMessage m;
  m.topic = "apmcov.commands";
  m.partition = 4;
  m.offset = 1234567890123;
  m.key = std::string("k\0ey", 4);
  m.value = std::string("\xff\x00value", 7);
  const int64_t at = 1'700'000'000'123'456'789;
  const v1::DeadLetter dl =
      MakeDeadLetter(m, "cannot parse: bad wire type", "apmcov-collector", at);
  EXPECT_EQ(dl.topic(), "apmcov.commands");
  EXPECT_EQ(dl.partition(), 4);
  EXPECT_EQ(dl.offset(), 1234567890123);
  EXPECT_EQ(dl.error(), "cannot parse: bad wire type");
  EXPECT_EQ(dl.original_key(), m.key);
  EXPECT_EQ(dl.original_value(), m.value);
  EXPECT_EQ(dl.consumer(), "apmcov-collector");
  EXPECT_EQ(dl.failed_at().seconds(), 1'700'000'000);
  EXPECT_EQ(dl.failed_at().nanos(), 123'456'789);
}

}  // namespace
}  // namespace apmcov::bus
