#include "apmcov/bus/dead_letter.h"

#include <string>

#include "google/protobuf/util/time_util.h"

namespace apmcov::bus {

v1::DeadLetter MakeDeadLetter(const IncomingMessage& m, std::string_view error,
                              std::string_view consumer, int64_t failed_at_ns) {
  v1::DeadLetter dl;
  dl.set_topic(m.topic);
  dl.set_partition(m.partition);
  dl.set_offset(m.offset);
  dl.set_error(std::string(error));
  dl.set_original_key(m.key);
  dl.set_original_value(m.value);
  dl.set_consumer(std::string(consumer));
  *dl.mutable_failed_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(failed_at_ns);
  return dl;
}

}  // namespace apmcov::bus
