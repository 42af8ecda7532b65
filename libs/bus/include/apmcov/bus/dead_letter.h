// The dead-letter record (design §3, topic `dlq`), one builder for every consumer that sets a
// message aside: where the message came from, why, its key and value as received, who set it
// aside and when. Target apmcov::bus_messages (links the generated protos).
#pragma once

#include <cstdint>
#include <string_view>

#include "apmcov/bus/bus.h"
#include "apmcov/v1/events.pb.h"

namespace apmcov::bus {

// `m` as received, `error` why it was set aside, `consumer` the group that did (e.g.
// "apmcov-analyzer"), `failed_at_ns` when (Unix nanoseconds).
v1::DeadLetter MakeDeadLetter(const IncomingMessage& m, std::string_view error,
                              std::string_view consumer, int64_t failed_at_ns);

}  // namespace apmcov::bus
