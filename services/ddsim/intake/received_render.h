// Renders received spans (the Agent intake's) as the Datadog APIs show spans, in the same
// shapes as SpanRenderer does for generated ones: Spans API events (decimal-string ids,
// `custom` holding meta and metrics nested on dots, nanosecond custom.duration, millisecond
// timestamps, retained_by flat_sampled) and trace-API spans (numeric ids, flat meta).
// Stateless; thread-safe.
#pragma once

#include <string>

#include "ddsim/intake/received.h"

namespace apmcov::ddsim {

// One element of a spans list/search `data` array.
void AppendReceivedSpanEvent(std::string& out, const ReceivedSpan& span);
// One element of the trace API's `spans` array.
void AppendReceivedTraceSpan(std::string& out, const ReceivedSpan& span);

}  // namespace apmcov::ddsim
