// Where a consumer's batch span belongs (design §12): a batch of Kafka records may come from
// one producing span or from many (several syncs, several collectors). Pure logic, no I/O.
//
//  - No record carried a valid context: the batch span starts its own trace, without links.
//  - Every context names the same trace: the batch span is a child of the first record's
//    producing span (that trace stays whole: gateway → collector → analyzer), and the other
//    distinct producing spans of that trace are links.
//  - Contexts of several traces ("several senders"): the batch span starts its own trace and
//    links every distinct producing span, in order of first appearance, at most `max_links`
//    (the rest are counted in `links_dropped`). Parenting it under one of them would make the
//    others look as if they never reached the analyzer.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "apmcov/tracing/propagation.h"

namespace apmcov::tracing {

struct BatchParent {
  std::optional<SpanContext> parent;  // nullopt: a new trace
  std::vector<SpanContext> links;
  size_t links_dropped = 0;
};

inline constexpr size_t kMaxBatchLinks = 32;

// `senders`: the context of each record, in consumption order (nullopt: it carried none).
BatchParent ChooseBatchParent(const std::vector<std::optional<SpanContext>>& senders,
                              size_t max_links = kMaxBatchLinks);

}  // namespace apmcov::tracing
