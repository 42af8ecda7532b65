-- The traces each dependency edge was seen in, so `dependencies.count` (distinct traces) stays
-- exact when a batch is replayed after a crash or rebalance: a (edge, trace) pair already
-- recorded adds nothing. Rows older than the span retention are pruned by the analyzer.
CREATE TABLE dependency_traces (
  from_service text NOT NULL,
  to_name      text NOT NULL,
  kind         text NOT NULL,
  trace_id     numeric(20,0) NOT NULL,
  seen_at      timestamptz NOT NULL,
  PRIMARY KEY (from_service, to_name, kind, trace_id)
);
CREATE INDEX dependency_traces_seen_idx ON dependency_traces (seen_at);
