// A straightforward, single-threaded implementation of design §3 (watermark finalisation) and
// §6 (gap detection), written the obvious way: std::string fields, a hash map of traces,
// std::map indexes per trace. It is the bench's reference, and a cross-check: it must find
// the same gaps as apmcov::coverage on the same input.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "apmcov/coverage/span.h"

namespace apmcov::bench {

struct ReferenceSpan {
  uint64_t trace_id = 0;
  uint64_t span_id = 0;
  uint64_t parent_id = 0;
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
  std::string service, env, resource, type, kind, retained_by, target, db_system, messaging_system;
};

class ReferenceDetector {
 public:
  ReferenceDetector(std::unordered_set<std::string> catalog,
                    std::unordered_set<std::string> instrumented, int64_t grace_ns)
      : catalog_(std::move(catalog)), instrumented_(std::move(instrumented)), grace_ns_(grace_ns) {}

  void Add(const coverage::SpanFields& f);
  void OnWatermark(int64_t watermark_ns);

  // Gaps found per kind, indexed like coverage::GapKind; traces judged, broken, skipped.
  std::array<uint64_t, 5> gaps{};
  uint64_t judged = 0;
  uint64_t broken = 0;
  uint64_t skipped = 0;
  size_t in_flight() const { return traces_.size(); }

 private:
  struct Trace {
    std::vector<ReferenceSpan> spans;
    int64_t last_end = 0;
  };
  void Judge(const Trace& trace);
  std::string Resolve(const std::string& target) const;

  std::unordered_set<std::string> catalog_;
  std::unordered_set<std::string> instrumented_;
  int64_t grace_ns_;
  std::unordered_map<uint64_t, Trace> traces_;
};

}  // namespace apmcov::bench
