// A span search query (Datadog query syntax, the subset ddsim honours): `key:value` terms
// on reserved attributes (service, env, trace_id, resource_name, retained_by, ...) and
// @attributes (@span.kind, @peer.service, @db.system, ...), `*` wildcards, value groups
// `key:(a OR b)`, ranges `[a TO b]`, comparisons `>N`, `-`/NOT, AND (also implicit), OR and
// parentheses. Immutable after Parse(); Matches() is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "ddsim/traffic/span_fields.h"

namespace apmcov::ddsim {

class SpanQuery {
 public:
  // InvalidArgument naming the problem (unbalanced parenthesis, empty group...).
  static absl::StatusOr<SpanQuery> Parse(std::string_view text);

  bool Matches(const World& world, const Span& span) const;
  // For spans that are not generated (the Agent intake's): `lookup(field, scratch, &out)`
  // gives a field's value as SpanFieldValue() does for generated ones.
  using FieldLookup = absl::FunctionRef<bool(SpanField, std::string&, std::string_view*)>;
  bool MatchesFields(FieldLookup lookup) const;
  // Trace ids the query is restricted to (a top-level AND of `trace_id:N` terms), if any.
  const std::optional<uint64_t>& trace_id() const { return trace_id_; }
  bool match_all() const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::optional<uint64_t> trace_id_;
};

}  // namespace apmcov::ddsim
